/** The latency monitor: round trips of `ping`/`pong`, and the rate of incoming frames. */
import type { LatencyStats } from "./types.js";
export declare class LatencyMonitor {
    #private;
    /** Record one round trip, ms. */
    record(rtt: number): void;
    /** Count one incoming frame. */
    frame(): void;
    get stats(): LatencyStats;
}
/** Milliseconds from a monotonic clock. */
export declare function now(): number;
//# sourceMappingURL=latency.d.ts.map