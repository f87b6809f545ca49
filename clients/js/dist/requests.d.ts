/**
 * Requests and the send queue. A request (`create_session`, `restart_session`,
 * `close_session`, a session's `resume`) waits for one `session` reply, or an error, or
 * `requestTimeoutMs`. While the socket is not authenticated, requests and the executes of new
 * runs wait here in call order, and go out in that order once it is.
 */
import type { Link } from "./connection.js";
import { type RunnelError } from "./errors.js";
import type * as wire from "./protocol.js";
import type { Run } from "./run.js";
import type { Session } from "./session.js";
import type { ServerFrameOf } from "./wire.js";
/** The frames that wait for a reply. */
type RequestFrame = wire.ClientCreateSession | wire.ClientRestartSession | wire.ClientCloseSession | wire.ClientResume;
/** Every reply to a request is a `session` frame (`created`, `restarted`, `closed`, `resumed`, ...). */
export type SessionFrame = ServerFrameOf<"session">;
/** A request answered by one reply: session actions and resumes. */
export interface Op {
    action: RequestFrame["action"];
    frame: RequestFrame;
    /** The session it is about: the server's id-less errors are matched to these in order. */
    session?: Session;
    /** The correlation id the reply echoes (`create_session`). */
    correlation?: string;
    /** The socket generation it went out on (-1: not yet). */
    sentEpoch: number;
    /** Dies with its socket (a `resume` is made again for the next one). */
    perSocket: boolean;
    resolve: (frame: SessionFrame) => void;
    reject: (error: RunnelError) => void;
    timer?: ReturnType<typeof setTimeout>;
}
/** What waits for a socket: a request, or the execute of a run. */
export type Outgoing = {
    op: Op;
} | {
    run: Run;
};
/** Where queued runs go when the queue is flushed. */
export interface RunSender {
    sendRun(run: Run): void;
}
export declare class Requests {
    #private;
    constructor(link: Link, timeoutMs: number);
    /** Send a request (or queue it behind what waits); resolves with its reply. */
    request(spec: Omit<Op, "sentEpoch" | "resolve" | "reject">): Promise<SessionFrame>;
    /** Whether something new may go out at once: the socket is ready and nothing waits ahead. */
    get ready(): boolean;
    /** Wait for a socket, behind what already waits. */
    enqueue(item: Outgoing): void;
    /** Wait for a socket, ahead of everything (it failed to go out on this one). */
    requeue(item: Outgoing): void;
    /** Send what waits, in order, while the socket is authenticated. */
    flush(runs: RunSender): void;
    /** Send `op` on the current socket (again, after a reconnect) and wait for its reply. */
    send(op: Op): void;
    /** The first request in flight that `match` picks, no longer waiting (the caller settles it). */
    take(match: (op: Op) => boolean): Op | undefined;
    /** A new socket: requests sent on an earlier one go out again. */
    resendUnanswered(): void;
    /** The socket dropped: timers stop until the requests are sent again; per-socket ones end. */
    dropped(): void;
    /** The session is gone: its resume is moot. */
    forgetResumes(session: Session): void;
    /** Closed for good: every request, sent or waiting, fails with `error`. */
    rejectAll(error: RunnelError): void;
}
export {};
//# sourceMappingURL=requests.d.ts.map