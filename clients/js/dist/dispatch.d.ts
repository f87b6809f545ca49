/**
 * Incoming frames, each to what it is about: run events to their run (replays, at or below
 * the last `seq` delivered, dropped), `session` frames to the request they answer and to their
 * session, `resumed` and errors to the run or request they name.
 */
import type { ClientEventSink } from "./connection.js";
import { type RunnelError } from "./errors.js";
import type { Requests } from "./requests.js";
import type { Resumer } from "./resume.js";
import type { Streams } from "./streams.js";
import { type ServerFrame } from "./wire.js";
/** What dispatching needs of the connection: the socket generation, and closing for good. */
export interface DispatchLink {
    readonly epoch: number;
    shutdown(error: RunnelError, giveup?: boolean): void;
}
export declare class Dispatcher {
    #private;
    constructor(link: DispatchLink, requests: Requests, streams: Streams, resumer: Resumer, events: ClientEventSink);
    /** One frame from the server (`pong` is the connection's own). */
    frame(frame: ServerFrame): void;
}
//# sourceMappingURL=dispatch.d.ts.map