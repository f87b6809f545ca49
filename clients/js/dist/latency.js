/** The latency monitor: round trips of `ping`/`pong`, and the rate of incoming frames. */
/** How many round trips `history` keeps. */
const HISTORY = 10;
export class LatencyMonitor {
    #count = 0;
    #sum = 0;
    #min = null;
    #max = null;
    #current = null;
    #history = [];
    #windowStart = now();
    #windowCount = 0;
    #rate = 0;
    /** Record one round trip, ms. */
    record(rtt) {
        this.#count += 1;
        this.#sum += rtt;
        this.#current = rtt;
        this.#min = this.#min === null ? rtt : Math.min(this.#min, rtt);
        this.#max = this.#max === null ? rtt : Math.max(this.#max, rtt);
        this.#history.push(rtt);
        if (this.#history.length > HISTORY)
            this.#history.shift();
    }
    /** Count one incoming frame. */
    frame() {
        this.#windowCount += 1;
        this.#roll();
    }
    get stats() {
        this.#roll();
        return {
            current: this.#current,
            average: this.#count === 0 ? null : this.#sum / this.#count,
            min: this.#min,
            max: this.#max,
            count: this.#count,
            history: [...this.#history],
            messagesPerSecond: this.#rate,
        };
    }
    #roll() {
        const elapsed = now() - this.#windowStart;
        if (elapsed >= 1000) {
            // A window with no frames at all (idle for seconds) counts as zero.
            this.#rate = elapsed >= 2000 ? 0 : (this.#windowCount * 1000) / elapsed;
            this.#windowStart = now();
            this.#windowCount = 0;
        }
    }
}
/** Milliseconds from a monotonic clock. */
export function now() {
    return globalThis.performance?.now() ?? Date.now();
}
//# sourceMappingURL=latency.js.map