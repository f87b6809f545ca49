/**
 * `RunnelClient`: one WebSocket to a Runnel server that reconnects by itself and loses nothing.
 *
 * The design follows partysocket / reconnecting-websocket: an injectable `WebSocket`
 * constructor, options over one `DEFAULTS` table, a send queue while offline, and
 * exponential backoff with jitter. On top of that it keeps, for every run and session, the
 * last `seq` it delivered and the stdin writes the server has not confirmed, so that after a
 * reconnect it resumes each of them and the caller sees one continuous stream:
 *
 * 1. a new socket authenticates (`auth`, then a `ping` whose `pong` proves the key was taken);
 * 2. before anything else, `resume` goes out for every session and every one-shot run in
 *    flight, with the last `seq` delivered; replays at or below it are dropped on arrival;
 * 3. each `resumed` reply says which stdin writes were applied (`stdin_seq`): the rest are
 *    sent again, in order;
 * 4. then unanswered requests and whatever was queued while offline go out, in call order.
 *
 * A socket is dead when a `pong` is later than `pongTimeoutMs` (pings go every
 * `pingIntervalMs`), when it errors, or when it closes.
 *
 * The client owns one of each part, and wires them here:
 * - `connection.ts`: the socket, authentication, the heartbeat, reconnection with backoff;
 * - `requests.ts`: requests waiting for their reply, and the send queue while offline;
 * - `streams.ts`: runs and sessions in flight, their executes, stdin writes and signals;
 * - `resume.ts`: resuming sessions and runs on a new socket, and what follows the replay;
 * - `dispatch.ts`: incoming frames, each to the run, session or request it is about.
 */
import { Emitter } from "./emitter.js";
import { type Accept } from "./http.js";
import { Run, type RunHost } from "./run.js";
import { Session, type SessionHost } from "./session.js";
import type { ClientEvents, ClientOptions, ConnectionState, CreateSessionOptions, ExecuteOptions, LanguageInfo, LatencyStats, SessionExecuteOptions, Stats } from "./types.js";
/** Every option's default, in one place. */
export declare const DEFAULTS: {
    readonly pingIntervalMs: 1000;
    readonly pongTimeoutMs: 5000;
    readonly connectTimeoutMs: 10000;
    readonly requestTimeoutMs: 30000;
    readonly reconnect: {
        maxRetries: number;
        minDelayMs: number;
        maxDelayMs: number;
        factor: number;
        jitter: number;
    };
};
export declare class RunnelClient extends Emitter<ClientEvents> implements RunHost, SessionHost {
    #private;
    /** The WebSocket URL. */
    readonly url: string;
    /** The HTTP base URL (for the HTTP API). */
    readonly httpUrl: string;
    constructor(options: ClientOptions);
    /** `connecting`, `open`, `reconnecting` or `closed`. */
    get state(): ConnectionState;
    /** Round-trip figures of the pings so far. */
    get latency(): LatencyStats;
    /** Connect and authenticate; resolves when open. Retries with backoff; rejects on giving up. */
    connect(): Promise<void>;
    /** Close for good: runs in flight fail with `ConnectionClosedError`. `connect()` starts again. */
    close(): void;
    /** One round trip to the server, ms (queued while offline). */
    ping(): Promise<number>;
    /** Run a program, streamed. The returned `Run` gives events, `result`, stdin and signals. */
    execute(options: ExecuteOptions): Run;
    /** Create a session (a sandbox that keeps state across executes). */
    createSession(options: CreateSessionOptions): Promise<Session>;
    /** Attach to a session this key already has (made elsewhere, or before a restart of the app). */
    attachSession(id: string): Promise<Session>;
    /** The installed languages (`GET /api/v1/languages`). */
    languages(): Promise<LanguageInfo[]>;
    /** Server figures (`GET /api/v1/stats`; operator keys only, others get `forbidden`). */
    stats(): Promise<Stats>;
    /** @internal one call of the HTTP API. */
    http<T>(method: string, path: string, body?: unknown, accept?: Accept): Promise<T>;
    /** @internal */
    writeStdin(run: Run, data: string, eof: boolean): void;
    /** @internal */
    sendSignal(run: Run, signal: string): void;
    /** @internal */
    sessionExecute(session: Session, options: SessionExecuteOptions): Run;
    /** @internal */
    sessionRequest(session: Session, action: "restart_session" | "close_session"): Promise<void>;
}
//# sourceMappingURL=client.d.ts.map