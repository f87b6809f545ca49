/**
 * `Run`: one execution as the caller sees it. Events arrive once each and in order (the client
 * drops replays by `seq`), through callbacks (`run.on("stdout", ...)`), through async iteration
 * (`for await (const event of run)`), and as one awaitable `run.result`.
 */
import { Emitter } from "./emitter.js";
import type { RunnelError } from "./errors.js";
import type { ClientExecute } from "./protocol.js";
import type { RunEvent, RunEvents, RunResult } from "./types.js";
/** What a run needs from its client (kept narrow so that `Run` has no socket logic). */
export interface RunHost {
    writeStdin(run: Run, data: string, eof: boolean): void;
    sendSignal(run: Run, signal: string): void;
}
/** Where a run stands with the server, for the client's bookkeeping. */
export type RunPhase = "queued" | "sent" | "done";
export declare class Run extends Emitter<RunEvents> implements AsyncIterable<RunEvent> {
    #private;
    /** The run id (client-chosen, unique). */
    readonly id: string;
    /** The session the run belongs to, if any. */
    readonly sessionId: string | undefined;
    /** Resolves with the whole outcome at `exit`; rejects if the run is lost. */
    readonly result: Promise<RunResult>;
    /** @internal the frame that starts the run. */
    readonly frame: ClientExecute;
    /** @internal */
    phase: RunPhase;
    /** @internal the socket generation the execute was sent on, or that resumed the run. */
    readyEpoch: number;
    /** @internal the socket generation the execute went out on. */
    sentEpoch: number;
    /** @internal the highest `seq` delivered (events at or below it are replays and dropped). */
    lastSeq: number;
    /** @internal a `resume` is on its way and not answered yet. */
    resumePending: boolean;
    /** @internal whether `started` was delivered. */
    started: boolean;
    /** @internal the execute was sent again after a reconnect (a `conflict` answer is fine). */
    resent: boolean;
    /** @internal signals asked for while the run could not take them yet. */
    pendingSignals: string[];
    /** @internal one-shot runs number their own stdin writes; session runs use the session's. */
    readonly stdin: StdinLog | undefined;
    /** @internal use `client.execute` or `session.execute`. */
    constructor(host: RunHost, id: string, frame: ClientExecute, sessionId?: string);
    /** Whether the run has ended (exit delivered, or lost). */
    get done(): boolean;
    /** Write text to the program's stdin (queued while offline; each write applied once). */
    write(data: string): void;
    /** Close the program's stdin (end of file). */
    closeStdin(): void;
    /** Interrupt the program (SIGINT; in a session, the cell stops and the state lives on). */
    interrupt(): void;
    /** Send a signal: `SIGINT`, `SIGTERM`, `SIGKILL`, `SIGHUP`, `SIGQUIT`, `SIGUSR1`, `SIGUSR2`. */
    signal(signal: string): void;
    /** Every event from the first, in order; ends after `exit`, throws if the run is lost. */
    [Symbol.asyncIterator](): AsyncIterator<RunEvent>;
    /** @internal deliver one event (already deduplicated by the client). */
    deliver(event: RunEvent): void;
    /** @internal the run is lost (connection closed for good, session gone, server error). */
    fail(error: RunnelError): void;
}
/** One numbered stdin write. */
export interface StdinWrite {
    seq: number;
    run: Run;
    data: string;
    eof: boolean;
}
/**
 * The stdin writes of one run (one-shot) or one session, numbered 1, 2, 3, ... (`stdin_seq`).
 * A write stays here until a `resumed` reply says the server applied it, or its run ended, so
 * that a reconnect re-sends exactly the writes the server has not applied.
 */
export declare class StdinLog {
    #private;
    /** Unacknowledged writes, in order. */
    writes: StdinWrite[];
    /** The highest number sent on the current socket (or known applied). */
    sentUpTo: number;
    /** The highest number sent on any earlier socket. */
    sentBefore: number;
    /** The highest number the server said it applied. */
    acked: number;
    add(run: Run, data: string, eof: boolean): StdinWrite;
    /** The socket dropped: nothing past `acked` is known to have arrived. */
    disconnected(): void;
    /**
     * A `resumed` reply: the server applied every write up to `seq`; forget those, and send the
     * rest again. Without `seq` the server does not number stdin (it predates exactly-once
     * stdin): what was sent is taken as applied, and only what was never sent goes out.
     */
    acknowledge(seq: number | undefined): void;
    /** A run ended: its writes are moot. */
    forget(run: Run): void;
}
//# sourceMappingURL=run.d.ts.map