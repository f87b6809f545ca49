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

import { type ClientEventSink, Connection } from "./connection.js";
import { Dispatcher } from "./dispatch.js";
import { Emitter } from "./emitter.js";
import { errorFromCode, RunnelError } from "./errors.js";
import { type Accept, request, serverUrls } from "./http.js";
import type * as wire from "./protocol.js";
import { Requests } from "./requests.js";
import { Resumer } from "./resume.js";
import { Run, type RunHost } from "./run.js";
import { Session, type SessionHost } from "./session.js";
import { Streams } from "./streams.js";
import type {
  ClientEvents,
  ClientOptions,
  ConnectionState,
  CreateSessionOptions,
  ExecuteOptions,
  LanguageInfo,
  LatencyStats,
  ReconnectOptions,
  SessionExecuteOptions,
  Stats,
  WebSocketConstructor,
} from "./types.js";
import { executeFrame, randomId } from "./wire.js";

/** Every option's default, in one place. */
export const DEFAULTS = {
  pingIntervalMs: 1000,
  pongTimeoutMs: 5000,
  connectTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  reconnect: { maxRetries: 10, minDelayMs: 100, maxDelayMs: 5000, factor: 2, jitter: 0.3 } satisfies ReconnectOptions,
} as const;

export class RunnelClient extends Emitter<ClientEvents> implements RunHost, SessionHost {
  /** The WebSocket URL. */
  readonly url: string;
  /** The HTTP base URL (for the HTTP API). */
  readonly httpUrl: string;

  readonly #apiKey: string;
  readonly #fetch: typeof fetch | undefined;
  readonly #connection: Connection;
  readonly #requests: Requests;
  readonly #streams: Streams;
  readonly #resumer: Resumer;
  readonly #dispatcher: Dispatcher;

  constructor(options: ClientOptions) {
    super();
    if (!options || typeof options.url !== "string") throw new RunnelError("bad_request", "missing option `url` (ws://HOST:PORT/ws)");
    if (typeof options.apiKey !== "string" || options.apiKey === "") {
      throw new RunnelError("bad_request", "missing option `apiKey`: create one with `runnel keys create`");
    }
    const urls = serverUrls(options.url);
    this.url = urls.ws;
    this.httpUrl = urls.http;
    this.#apiKey = options.apiKey;
    this.#fetch = options.fetch ?? globalThis.fetch?.bind(globalThis);
    const events: ClientEventSink = {
      emit: <K extends keyof ClientEvents>(event: K, ...args: Parameters<ClientEvents[K]>) => this.emit(event, ...args),
      listenerCount: (event) => this.listenerCount(event),
    };
    this.#connection = new Connection(
      {
        url: this.url,
        apiKey: options.apiKey,
        WebSocket: (options.WebSocket ?? (globalThis as { WebSocket?: unknown }).WebSocket) as WebSocketConstructor | undefined,
        pingIntervalMs: options.pingIntervalMs ?? DEFAULTS.pingIntervalMs,
        pongTimeoutMs: options.pongTimeoutMs ?? DEFAULTS.pongTimeoutMs,
        connectTimeoutMs: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
        reconnect: options.reconnect === false ? false : { ...DEFAULTS.reconnect, ...options.reconnect },
      },
      events,
      {
        frame: (frame) => this.#dispatcher.frame(frame),
        authenticated: () => {
          // Resumes go before anything else: the runs and sessions were there first.
          this.#resumer.resumeAll();
          this.#requests.resendUnanswered();
          this.#requests.flush(this.#streams);
        },
        dropped: () => {
          this.#requests.dropped();
          this.#streams.dropped();
        },
        closed: (error) => {
          this.#streams.failAll(error);
          this.#requests.rejectAll(error);
        },
      },
    );
    this.#requests = new Requests(this.#connection, options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs);
    this.#streams = new Streams(this.#connection, this.#requests);
    this.#resumer = new Resumer(this.#connection, this.#requests, this.#streams, events);
    this.#dispatcher = new Dispatcher(this.#connection, this.#requests, this.#streams, this.#resumer, events);
  }

  /** `connecting`, `open`, `reconnecting` or `closed`. */
  get state(): ConnectionState {
    return this.#connection.state;
  }

  /** Round-trip figures of the pings so far. */
  get latency(): LatencyStats {
    return this.#connection.latency;
  }

  /** Connect and authenticate; resolves when open. Retries with backoff; rejects on giving up. */
  connect(): Promise<void> {
    return this.#connection.connect();
  }

  /** Close for good: runs in flight fail with `ConnectionClosedError`. `connect()` starts again. */
  close(): void {
    this.#connection.close();
  }

  /** One round trip to the server, ms (queued while offline). */
  ping(): Promise<number> {
    return this.#connection.ping();
  }

  /** Run a program, streamed. The returned `Run` gives events, `result`, stdin and signals. */
  execute(options: ExecuteOptions): Run {
    const id = options.id ?? randomId();
    const run = new Run(this, id, executeFrame(id, options));
    this.#streams.start(run);
    return run;
  }

  /** Create a session (a sandbox that keeps state across executes). */
  async createSession(options: CreateSessionOptions): Promise<Session> {
    const correlation = randomId();
    const frame: wire.ClientCreateSession = { action: "create_session", id: correlation, language: options.language };
    if (options.limits !== undefined) frame.limits = options.limits;
    if (options.idleTimeout !== undefined) frame.idle_timeout = options.idleTimeout;
    const reply = await this.#requests.request({ action: "create_session", frame, correlation, perSocket: false });
    const id = String(reply.session);
    const services = Array.isArray(reply.services) ? reply.services.map(String) : [];
    const session = new Session(this, id, String(reply.language ?? options.language), services, Number(reply.seq ?? 0));
    this.#streams.sessions.set(id, session);
    return session;
  }

  /** Attach to a session this key already has (made elsewhere, or before a restart of the app). */
  async attachSession(id: string): Promise<Session> {
    const known = this.#streams.sessions.get(id);
    if (known) return known;
    const info = await this.http<wire.SessionInfo>("GET", `/api/v1/sessions/${encodeURIComponent(id)}`);
    const session = new Session(this, info.id, info.language, info.services ?? [], Number(info.seq ?? 0));
    this.#streams.sessions.set(id, session);
    if (this.#connection.authenticated) this.#resumer.resumeSession(session);
    return session;
  }

  /** The installed languages (`GET /api/v1/languages`). */
  async languages(): Promise<LanguageInfo[]> {
    const reply = await this.http<LanguageInfo[] | { languages: LanguageInfo[] }>("GET", "/api/v1/languages");
    return Array.isArray(reply) ? reply : reply.languages;
  }

  /** Server figures (`GET /api/v1/stats`; operator keys only, others get `forbidden`). */
  stats(): Promise<Stats> {
    return this.http<Stats>("GET", "/api/v1/stats");
  }

  /** @internal one call of the HTTP API. */
  http<T>(method: string, path: string, body?: unknown, accept: Accept = "json"): Promise<T> {
    if (!this.#fetch) {
      return Promise.reject(new RunnelError("bad_request", "no fetch: pass the `fetch` option (Node 20 and browsers have one)"));
    }
    return request<T>(this.#fetch, this.httpUrl, this.#apiKey, method, path, body, accept);
  }

  // ----- RunHost and SessionHost -----------------------------------------------------------

  /** @internal */
  writeStdin(run: Run, data: string, eof: boolean): void {
    this.#streams.writeStdin(run, data, eof);
  }

  /** @internal */
  sendSignal(run: Run, signal: string): void {
    this.#streams.sendSignal(run, signal);
  }

  /** @internal */
  sessionExecute(session: Session, options: SessionExecuteOptions): Run {
    const id = options.id ?? randomId();
    const run = new Run(this, id, executeFrame(id, options, session.id), session.id);
    if (session.closed) {
      run.fail(errorFromCode("not_found", `session ${session.id} is closed: create a new one`, { id }));
      return run;
    }
    session.runs.add(run);
    this.#streams.start(run);
    return run;
  }

  /** @internal */
  async sessionRequest(session: Session, action: "restart_session" | "close_session"): Promise<void> {
    if (session.closed) {
      if (action === "close_session") return;
      throw errorFromCode("not_found", `session ${session.id} is closed: create a new one`);
    }
    try {
      await this.#requests.request({ action, frame: { action, session: session.id }, session, perSocket: false });
    } catch (error) {
      // Closing what is already gone (expired, or closed by a request that was re-sent) is done.
      if (!(action === "close_session" && error instanceof RunnelError && error.code === "not_found")) throw error;
    }
    if (action === "close_session") this.#streams.sessionGone(session, "closed");
  }
}
