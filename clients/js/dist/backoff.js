/** Exponential backoff with jitter for reconnection. */
/** The delay before reconnection attempt `attempt` (1, 2, 3, ...), ms. */
export function backoffDelay(options, attempt, random = Math.random) {
    const base = Math.min(options.maxDelayMs, options.minDelayMs * options.factor ** Math.max(0, attempt - 1));
    const spread = 1 + options.jitter * (2 * random() - 1);
    return Math.max(0, Math.min(options.maxDelayMs, Math.round(base * spread)));
}
//# sourceMappingURL=backoff.js.map