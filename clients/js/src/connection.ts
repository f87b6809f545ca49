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

import { backoffDelay } from "./backoff.js";
import { ConnectionClosedError, RunnelError } from "./errors.js";
import { LatencyMonitor, now } from "./latency.js";
import type * as wire from "./protocol.js";
import type {
  ClientEvents,
  ConnectionState,
  LatencyStats,
  ReconnectOptions,
  WebSocketConstructor,
  WebSocketLike,
} from "./types.js";
import { frameText, type ServerFrame, type ServerFrameOf } from "./wire.js";

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

interface PingEntry {
  sentAt: number;
  epoch: number;
  handshake: boolean;
  waiter?: { resolve: (rtt: number) => void; reject: (error: RunnelError) => void };
}

export class Connection implements Link {
  readonly #settings: ConnectionSettings;
  readonly #events: ClientEventSink;
  readonly #hooks: ConnectionHooks;

  #state: ConnectionState = "closed";
  #socket: WebSocketLike | null = null;
  #epoch = 0;
  #authenticated = false;
  #everOpened = false;
  /** Failed attempts in a row. */
  #attempt = 0;
  #closedError: RunnelError | undefined;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #lastPingAt = 0;
  #pingCounter = 0;
  readonly #pings = new Map<number, PingEntry>();
  readonly #latency = new LatencyMonitor();
  #connectWaiters: { resolve: () => void; reject: (error: RunnelError) => void }[] = [];

  constructor(settings: ConnectionSettings, events: ClientEventSink, hooks: ConnectionHooks) {
    this.#settings = settings;
    this.#events = events;
    this.#hooks = hooks;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  get latency(): LatencyStats {
    return this.#latency.stats;
  }

  get epoch(): number {
    return this.#epoch;
  }

  get authenticated(): boolean {
    return this.#authenticated;
  }

  get closedError(): RunnelError | undefined {
    return this.#closedError;
  }

  /** Connect and authenticate; resolves when open. Retries with backoff; rejects on giving up. */
  connect(): Promise<void> {
    if (this.#state === "open") return Promise.resolve();
    const opened = new Promise<void>((resolve, reject) => this.#connectWaiters.push({ resolve, reject }));
    if (this.#state === "closed") {
      this.#closedError = undefined;
      this.#attempt = 0;
      this.#setState("connecting");
      this.#open();
    }
    return opened;
  }

  /** Close for good: runs in flight fail with `ConnectionClosedError`. `connect()` starts again. */
  close(): void {
    if (this.#state === "closed" && !this.#socket) return;
    this.shutdown(new ConnectionClosedError("connection_closed", "the client was closed: call connect() to use it again"));
  }

  /** One round trip to the server, ms (queued while offline). */
  ping(): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      if (this.#closedError) return reject(this.#closedError);
      this.start();
      const t = ++this.#pingCounter;
      this.#pings.set(t, { sentAt: 0, epoch: -1, handshake: false, waiter: { resolve, reject } });
      if (this.#authenticated) this.#sendPing(t);
    });
  }

  start(): void {
    if (this.#state === "closed" && !this.#closedError) void this.connect().catch(() => {});
  }

  send(frame: wire.ClientMessage): boolean {
    const socket = this.#socket;
    if (!socket) return false;
    try {
      socket.send(JSON.stringify(frame));
      return true;
    } catch (error) {
      this.#lost(asError(error));
      return false;
    }
  }

  /** Close for good with `error`: every run, request and waiter fails with it. */
  shutdown(error: RunnelError, giveup = false): void {
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#dropSocket();
    this.#closedError = error;
    this.#setState("closed");
    if (giveup) this.#events.emit("giveup", { attempts: this.#attempt, error });
    this.#hooks.closed(error);
    for (const [t, entry] of this.#pings) {
      entry.waiter?.reject(error);
      this.#pings.delete(t);
    }
    const waiters = this.#connectWaiters;
    this.#connectWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  #setState(state: ConnectionState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#events.emit("state", state);
  }

  #open(): void {
    const Constructor = this.#settings.WebSocket;
    if (!Constructor) {
      this.shutdown(
        new RunnelError(
          "bad_request",
          "no WebSocket in this environment: pass one as the `WebSocket` option (in Node 20, import from `@runnel/client` or `@runnel/client/node`, which use the `ws` package)",
        ),
        true,
      );
      return;
    }
    this.#epoch += 1;
    let socket: WebSocketLike;
    try {
      socket = new Constructor(this.#settings.url);
    } catch (error) {
      this.#lost(asError(error));
      return;
    }
    this.#socket = socket;
    this.#authenticated = false;
    const connectTimeoutMs = this.#settings.connectTimeoutMs;
    this.#connectTimer = setTimeout(() => {
      if (this.#socket === socket) this.#lost(new Error(`no authenticated connection within ${connectTimeoutMs} ms`));
    }, connectTimeoutMs);
    socket.onopen = () => {
      if (this.#socket !== socket) return;
      // The key goes in the first frame (browsers cannot set headers); the pong that follows
      // proves it was accepted, since the server answers frames in order.
      this.send({ action: "auth", api_key: this.#settings.apiKey });
      const t = ++this.#pingCounter;
      this.#pings.set(t, { sentAt: now(), epoch: this.#epoch, handshake: true });
      this.send({ action: "ping", t });
    };
    socket.onmessage = (event) => {
      if (this.#socket !== socket) return;
      this.#latency.frame();
      const text = frameText(event.data);
      if (text === undefined) return;
      let frame: ServerFrame;
      try {
        frame = JSON.parse(text) as ServerFrame;
      } catch {
        return;
      }
      if (frame.type === "pong") this.#onPong(frame);
      else this.#hooks.frame(frame);
    };
    socket.onerror = (event) => {
      if (this.#socket !== socket) return;
      const detail = (event as { message?: string; error?: Error })?.message ?? (event as { error?: Error })?.error?.message;
      this.#lost(new Error(`websocket error${detail ? `: ${detail}` : ""}`));
    };
    socket.onclose = (event) => {
      if (this.#socket !== socket) return;
      this.#lost(new Error(`connection closed (code ${event?.code ?? "?"}${event?.reason ? `, ${event.reason}` : ""})`));
    };
  }

  #onPong(frame: ServerFrameOf<"pong">): void {
    const t = typeof frame.t === "number" ? frame.t : Number.NaN;
    const entry = this.#pings.get(t);
    if (!entry || entry.epoch !== this.#epoch) return;
    this.#pings.delete(t);
    const rtt = now() - entry.sentAt;
    this.#latency.record(rtt);
    if (entry.handshake) this.#onAuthenticated();
    entry.waiter?.resolve(rtt);
    this.#events.emit("latency", this.#latency.stats);
  }

  #onAuthenticated(): void {
    clearTimeout(this.#connectTimer);
    this.#authenticated = true;
    const reconnected = this.#everOpened;
    const attempts = this.#attempt;
    this.#attempt = 0;
    this.#everOpened = true;
    this.#lastPingAt = now();
    const { pingIntervalMs, pongTimeoutMs } = this.#settings;
    this.#heartbeat = setInterval(() => this.#beat(), Math.max(10, Math.min(pingIntervalMs, pongTimeoutMs / 4)));
    this.#hooks.authenticated();
    for (const [t, entry] of this.#pings) if (entry.waiter && entry.epoch !== this.#epoch) this.#sendPing(t);
    this.#setState("open");
    if (reconnected) this.#events.emit("reconnected", { attempt: attempts });
    this.#events.emit("open");
    const waiters = this.#connectWaiters;
    this.#connectWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  /** The socket is gone (closed, errored, or silent): clean up, and reconnect unless closed. */
  #lost(error: Error): void {
    this.#dropSocket();
    if (this.#state === "closed") return;
    const reconnect = this.#settings.reconnect;
    if (reconnect === false) {
      this.shutdown(new ConnectionClosedError("connection_closed", `connection lost (${error.message}) and reconnect is off`));
      return;
    }
    this.#attempt += 1;
    if (this.#attempt > reconnect.maxRetries) {
      const attempts = this.#attempt - 1;
      this.#events.emit("giveup", { attempts, error });
      this.shutdown(
        new ConnectionClosedError(
          "connection_closed",
          `gave up reconnecting to ${this.#settings.url} after ${attempts} attempts (last error: ${error.message}); raise reconnect.maxRetries or check the server`,
        ),
      );
      return;
    }
    const delayMs = backoffDelay(reconnect, this.#attempt);
    if (this.#everOpened) this.#setState("reconnecting");
    this.#events.emit("reconnecting", { attempt: this.#attempt, delayMs, error });
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (this.#state !== "closed") this.#open();
    }, delayMs);
  }

  #dropSocket(): void {
    const socket = this.#socket;
    this.#socket = null;
    this.#authenticated = false;
    clearTimeout(this.#connectTimer);
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    if (socket) {
      socket.onopen = null;
      socket.onmessage = null;
      socket.onclose = null;
      // `ws` throws on an error event nobody listens to.
      socket.onerror = () => {};
      try {
        const terminate = (socket as { terminate?: () => void }).terminate;
        if (typeof terminate === "function") terminate.call(socket);
        else socket.close();
      } catch {
        // Closing a socket that never opened may throw; it is gone either way.
      }
    }
    for (const [t, entry] of this.#pings) {
      if (entry.waiter) entry.epoch = -1;
      else this.#pings.delete(t);
    }
    this.#hooks.dropped();
  }

  /** Heartbeat: ping every `pingIntervalMs`; a pong later than `pongTimeoutMs` kills the socket. */
  #beat(): void {
    if (!this.#authenticated) return;
    const { pingIntervalMs, pongTimeoutMs } = this.#settings;
    const at = now();
    for (const entry of this.#pings.values()) {
      if (entry.epoch === this.#epoch && at - entry.sentAt > pongTimeoutMs) {
        this.#lost(new Error(`no pong within ${pongTimeoutMs} ms: the connection is dead`));
        return;
      }
    }
    if (at - this.#lastPingAt >= pingIntervalMs) {
      this.#lastPingAt = at;
      const t = ++this.#pingCounter;
      this.#pings.set(t, { sentAt: at, epoch: this.#epoch, handshake: false });
      this.send({ action: "ping", t });
    }
  }

  #sendPing(t: number): void {
    const entry = this.#pings.get(t);
    if (!entry) return;
    entry.sentAt = now();
    entry.epoch = this.#epoch;
    this.send({ action: "ping", t });
  }
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
