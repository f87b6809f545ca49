/**
 * Runs and sessions in flight, and what goes to them on the current socket: the execute that
 * starts a run, then its stdin writes and signals, each sent once the run can take it here
 * (see `#target`) and in order.
 */
import type { Link } from "./connection.js";
import { type RunnelError } from "./errors.js";
import type { Requests, RunSender } from "./requests.js";
import type { Run, StdinLog } from "./run.js";
import type { Session } from "./session.js";
export declare class Streams implements RunSender {
    #private;
    /** Runs not ended yet, by id. */
    readonly runs: Map<string, Run>;
    /** Sessions not gone yet, by id. */
    readonly sessions: Map<string, Session>;
    constructor(link: Link, requests: Requests);
    /** A new run: its execute goes out now, or queued behind what waits for a socket. */
    start(run: Run): void;
    sendRun(run: Run): void;
    writeStdin(run: Run, data: string, eof: boolean): void;
    sendSignal(run: Run, signal: string): void;
    /** The stdin log a run's writes go in: its own (one-shot), or its session's. */
    logOf(run: Run): StdinLog | undefined;
    /** Send, in order, the writes of `log` the server may not have; stop at one that must wait. */
    flushLog(log: StdinLog): void;
    flushSignals(run: Run): void;
    /** The run ended (or failed): nothing more goes to it. */
    forget(run: Run): void;
    /** The session ended on the server (`event`): its runs fail with it. */
    sessionGone(session: Session, event: string): void;
    /** The socket dropped: nothing past what the server acknowledged is known to have arrived. */
    dropped(): void;
    /** Closed for good: every run fails with `error`. */
    failAll(error: RunnelError): void;
}
//# sourceMappingURL=streams.d.ts.map