/** Exponential backoff with jitter for reconnection. */
import type { ReconnectOptions } from "./types.js";
/** The delay before reconnection attempt `attempt` (1, 2, 3, ...), ms. */
export declare function backoffDelay(options: ReconnectOptions, attempt: number, random?: () => number): number;
//# sourceMappingURL=backoff.d.ts.map