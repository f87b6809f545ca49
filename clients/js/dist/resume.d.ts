/**
 * Resume after a reconnect, so that the caller sees one continuous stream:
 *
 * 1. before anything else, `resume` goes out for every session and every one-shot run in
 *    flight, with the last `seq` delivered (replays at or below it are dropped on arrival);
 * 2. each `resumed` reply says which stdin writes were applied (`stdin_seq`): the rest are
 *    sent again, in order, and so are the signals that waited;
 * 3. an execute that may never have reached the server is sent again once the replay shows
 *    it is not there (a one-shot run's resume answers `not_found`; a session's replay is in
 *    and the run has not started).
 */
import type { ClientEventSink, Link } from "./connection.js";
import { type RunnelError } from "./errors.js";
import type { Requests } from "./requests.js";
import type { Run } from "./run.js";
import type { Session } from "./session.js";
import type { Streams } from "./streams.js";
import type { ServerFrameOf } from "./wire.js";
export declare class Resumer {
    #private;
    constructor(link: Link, requests: Requests, streams: Streams, events: ClientEventSink);
    /** A new socket is authenticated: resume every session and every one-shot run sent before. */
    resumeAll(): void;
    resumeSession(session: Session): void;
    /**
     * Once a resumed session's replay is delivered (its `seq` reached the one `resumed` named),
     * a session execute that went out just before the link dropped and has not started is sent
     * again: it may never have reached the server. If it did (it is queued or running), the
     * server refuses the repeat with `conflict`, which is ignored, so it runs once.
     */
    afterReplay(session: Session): void;
    /** A one-shot run's `resumed`: it takes stdin and signals here again. */
    runResumed(frame: ServerFrameOf<"resumed">): void;
    /** A one-shot run's `resume` was refused with `error`. */
    runResumeFailed(run: Run, error: RunnelError): void;
}
//# sourceMappingURL=resume.d.ts.map