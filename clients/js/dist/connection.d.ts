/**
 * The connection: one socket at a time, authenticated (`auth`, then a `ping` whose `pong`
 * proves the key was taken), kept alive by a heartbeat, and opened again with exponential
 * backoff when it dies. A socket is dead when a `pong` is later than `pongTimeoutMs` (pings go
 * every `pingIntervalMs`), when it errors, or when it closes.
 *
 * What rides on the socket (requests, runs, resumes) is not kept here: the client hears of
 * each authenticated, dropped or closed-for-good socket through `ConnectionHooks`, and its
 * parts send through the narrow `Link`.
 */
import { RunnelError } from "./errors.js";
import type * as wire from "./protocol.js";
import type { ClientEvents, ConnectionState, LatencyStats, ReconnectOptions, WebSocketConstructor } from "./types.js";
import { type ServerFrame } from "./wire.js";
/** What the client's parts need of the connection. */
export interface Link {
    /** Generation of the current socket: bumped for every new one. */
    readonly epoch: number;
    /** Whether the current socket is authenticated (frames may go out). */
    readonly authenticated: boolean;
    /** Why the client is closed, when it is (new work fails with it). */
    readonly closedError: RunnelError | undefined;
    /** Connect if closed (and not closed for good by `close()` or a refusal). */
    start(): void;
    /** Send one frame on the current socket. False (and the socket is dropped) if it failed. */
    send(frame: wire.ClientMessage): boolean;
}
/** The client's events as its parts raise them (`emit` is protected on the client). */
export interface ClientEventSink {
    emit<K extends keyof ClientEvents>(event: K, ...args: Parameters<ClientEvents[K]>): void;
    listenerCount(event: keyof ClientEvents): number;
}
/** What the connection tells its owner, in the order things happen to a socket. */
export interface ConnectionHooks {
    /** A frame from the server (every one but `pong`, which the heartbeat takes). */
    frame(frame: ServerFrame): void;
    /** A new socket is authenticated: resume, re-send and flush now, before `open`. */
    authenticated(): void;
    /** The socket is gone: what was tied to it is void. */
    dropped(): void;
    /** Closed for good with `error`: every run and request fails with it. */
    closed(error: RunnelError): void;
}
/** The connection's options, defaults applied. */
export interface ConnectionSettings {
    url: string;
    apiKey: string;
    WebSocket: WebSocketConstructor | undefined;
    pingIntervalMs: number;
    pongTimeoutMs: number;
    connectTimeoutMs: number;
    reconnect: ReconnectOptions | false;
}
export declare class Connection implements Link {
    #private;
    constructor(settings: ConnectionSettings, events: ClientEventSink, hooks: ConnectionHooks);
    get state(): ConnectionState;
    get latency(): LatencyStats;
    get epoch(): number;
    get authenticated(): boolean;
    get closedError(): RunnelError | undefined;
    /** Connect and authenticate; resolves when open. Retries with backoff; rejects on giving up. */
    connect(): Promise<void>;
    /** Close for good: runs in flight fail with `ConnectionClosedError`. `connect()` starts again. */
    close(): void;
    /** One round trip to the server, ms (queued while offline). */
    ping(): Promise<number>;
    start(): void;
    send(frame: wire.ClientMessage): boolean;
    /** Close for good with `error`: every run, request and waiter fails with it. */
    shutdown(error: RunnelError, giveup?: boolean): void;
}
//# sourceMappingURL=connection.d.ts.map