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
 */

import { backoffDelay } from "./backoff.js";
import { Emitter } from "./emitter.js";
import { AuthenticationError, ConnectionClosedError, errorFromCode, RunnelError, TimeoutError } from "./errors.js";
import { type Accept, request, serverUrls } from "./http.js";
import { LatencyMonitor, now } from "./latency.js";
import type * as wire from "./protocol.js";
import { Run, type RunHost, type StdinLog } from "./run.js";
import { Session, type SessionHost } from "./session.js";
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
  WebSocketLike,
} from "./types.js";
import {
  executeFrame,
  frameText,
  randomId,
  runEvent,
  type RunFrame,
  type ServerFrame,
  type ServerFrameOf,
} from "./wire.js";

/** Every option's default, in one place. */
export const DEFAULTS = {
  pingIntervalMs: 1000,
  pongTimeoutMs: 5000,
  connectTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  reconnect: { maxRetries: 10, minDelayMs: 100, maxDelayMs: 5000, factor: 2, jitter: 0.3 } satisfies ReconnectOptions,
} as const;

/** The frames that wait for a reply. */
type RequestFrame = wire.ClientCreateSession | wire.ClientRestartSession | wire.ClientCloseSession | wire.ClientResume;

/** A request answered by one reply: session actions and resumes. */
interface Op {
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
  /** Every reply is a `session` frame (`created`, `restarted`, `closed`, `resumed`, ...). */
  resolve: (frame: SessionFrame) => void;
  reject: (error: RunnelError) => void;
  timer?: ReturnType<typeof setTimeout>;
}

interface PingEntry {
  sentAt: number;
  epoch: number;
  handshake: boolean;
  waiter?: { resolve: (rtt: number) => void; reject: (error: RunnelError) => void };
}

type Outgoing = { op: Op } | { run: Run };

type SessionFrame = ServerFrameOf<"session">;

/** Events that end a session on the server. */
const SESSION_ENDS = new Set(["closed", "expired", "shutdown", "cpu_limit", "lost"]);

export class RunnelClient extends Emitter<ClientEvents> implements RunHost, SessionHost {
  /** The WebSocket URL. */
  readonly url: string;
  /** The HTTP base URL (for the HTTP API). */
  readonly httpUrl: string;

  readonly #apiKey: string;
  readonly #WebSocket: WebSocketConstructor | undefined;
  readonly #fetch: typeof fetch | undefined;
  readonly #pingIntervalMs: number;
  readonly #pongTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #requestTimeoutMs: number;
  readonly #reconnect: ReconnectOptions | false;

  #state: ConnectionState = "closed";
  #socket: WebSocketLike | null = null;
  /** Generation of the current socket: bumped for every new one. */
  #epoch = 0;
  #authenticated = false;
  #everOpened = false;
  /** Failed attempts in a row. */
  #attempt = 0;
  /** Why the client is closed, when it is (new work fails with it). */
  #closedError: RunnelError | undefined;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #lastPingAt = 0;
  #pingCounter = 0;
  readonly #pings = new Map<number, PingEntry>();
  readonly #latency = new LatencyMonitor();
  readonly #runs = new Map<string, Run>();
  readonly #sessions = new Map<string, Session>();
  /** Sent and not answered yet, in sending order. */
  #inflight: Op[] = [];
  /** Not sent yet, in call order. */
  #outbox: Outgoing[] = [];
  #connectWaiters: { resolve: () => void; reject: (error: RunnelError) => void }[] = [];

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
    this.#WebSocket = (options.WebSocket ?? (globalThis as { WebSocket?: unknown }).WebSocket) as WebSocketConstructor | undefined;
    this.#fetch = options.fetch ?? globalThis.fetch?.bind(globalThis);
    this.#pingIntervalMs = options.pingIntervalMs ?? DEFAULTS.pingIntervalMs;
    this.#pongTimeoutMs = options.pongTimeoutMs ?? DEFAULTS.pongTimeoutMs;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs;
    this.#reconnect = options.reconnect === false ? false : { ...DEFAULTS.reconnect, ...options.reconnect };
  }

  /** `connecting`, `open`, `reconnecting` or `closed`. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** Round-trip figures of the pings so far. */
  get latency(): LatencyStats {
    return this.#latency.stats;
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
    this.#shutdown(new ConnectionClosedError("connection_closed", "the client was closed: call connect() to use it again"));
  }

  /** One round trip to the server, ms (queued while offline). */
  ping(): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      if (this.#closedError) return reject(this.#closedError);
      this.#start();
      const t = ++this.#pingCounter;
      this.#pings.set(t, { sentAt: 0, epoch: -1, handshake: false, waiter: { resolve, reject } });
      if (this.#authenticated) this.#sendPing(t);
    });
  }

  /** Run a program, streamed. The returned `Run` gives events, `result`, stdin and signals. */
  execute(options: ExecuteOptions): Run {
    const id = options.id ?? randomId();
    const run = new Run(this, id, executeFrame(id, options));
    this.#startRun(run);
    return run;
  }

  /** Create a session (a sandbox that keeps state across executes). */
  async createSession(options: CreateSessionOptions): Promise<Session> {
    const correlation = randomId();
    const frame: wire.ClientCreateSession = { action: "create_session", id: correlation, language: options.language };
    if (options.limits !== undefined) frame.limits = options.limits;
    if (options.idleTimeout !== undefined) frame.idle_timeout = options.idleTimeout;
    const reply = await this.#request({ action: "create_session", frame, correlation, perSocket: false });
    const id = String(reply.session);
    const services = Array.isArray(reply.services) ? reply.services.map(String) : [];
    const session = new Session(this, id, String(reply.language ?? options.language), services, Number(reply.seq ?? 0));
    this.#sessions.set(id, session);
    return session;
  }

  /** Attach to a session this key already has (made elsewhere, or before a restart of the app). */
  async attachSession(id: string): Promise<Session> {
    const known = this.#sessions.get(id);
    if (known) return known;
    const info = await this.http<wire.SessionInfo>("GET", `/api/v1/sessions/${encodeURIComponent(id)}`);
    const session = new Session(this, info.id, info.language, info.services ?? [], Number(info.seq ?? 0));
    this.#sessions.set(id, session);
    if (this.#authenticated) this.#resumeSession(session);
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
    const log = this.#logOf(run);
    if (!log) return;
    log.add(run, data, eof);
    this.#flushLog(log);
  }

  /** @internal */
  sendSignal(run: Run, signal: string): void {
    run.pendingSignals.push(signal);
    this.#flushSignals(run);
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
    this.#startRun(run);
    return run;
  }

  /** @internal */
  async sessionRequest(session: Session, action: "restart_session" | "close_session"): Promise<void> {
    if (session.closed) {
      if (action === "close_session") return;
      throw errorFromCode("not_found", `session ${session.id} is closed: create a new one`);
    }
    try {
      await this.#request({ action, frame: { action, session: session.id }, session, perSocket: false });
    } catch (error) {
      // Closing what is already gone (expired, or closed by a request that was re-sent) is done.
      if (!(action === "close_session" && error instanceof RunnelError && error.code === "not_found")) throw error;
    }
    if (action === "close_session") this.#sessionGone(session, "closed");
  }

  // ----- connection lifecycle --------------------------------------------------------------

  #start(): void {
    if (this.#state === "closed" && !this.#closedError) void this.connect().catch(() => {});
  }

  #setState(state: ConnectionState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit("state", state);
  }

  #open(): void {
    const Constructor = this.#WebSocket;
    if (!Constructor) {
      this.#shutdown(
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
      socket = new Constructor(this.url);
    } catch (error) {
      this.#lost(asError(error));
      return;
    }
    this.#socket = socket;
    this.#authenticated = false;
    this.#connectTimer = setTimeout(() => {
      if (this.#socket === socket) this.#lost(new Error(`no authenticated connection within ${this.#connectTimeoutMs} ms`));
    }, this.#connectTimeoutMs);
    socket.onopen = () => {
      if (this.#socket !== socket) return;
      // The key goes in the first frame (browsers cannot set headers); the pong that follows
      // proves it was accepted, since the server answers frames in order.
      this.#sendRaw({ action: "auth", api_key: this.#apiKey });
      const t = ++this.#pingCounter;
      this.#pings.set(t, { sentAt: now(), epoch: this.#epoch, handshake: true });
      this.#sendRaw({ action: "ping", t });
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
      this.#onFrame(frame);
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

  #onAuthenticated(): void {
    clearTimeout(this.#connectTimer);
    this.#authenticated = true;
    const reconnected = this.#everOpened;
    const attempts = this.#attempt;
    this.#attempt = 0;
    this.#everOpened = true;
    this.#lastPingAt = now();
    this.#heartbeat = setInterval(() => this.#beat(), Math.max(10, Math.min(this.#pingIntervalMs, this.#pongTimeoutMs / 4)));
    // Resumes go before anything else: the runs and sessions were there first.
    for (const session of this.#sessions.values()) if (!session.closed) this.#resumeSession(session);
    for (const run of this.#runs.values()) {
      if (run.sessionId === undefined && run.phase === "sent" && run.sentEpoch < this.#epoch) {
        run.resumePending = true;
        this.#sendRaw({ action: "resume", id: run.id, last_seq: run.lastSeq });
      }
    }
    for (const op of [...this.#inflight]) if (op.sentEpoch !== this.#epoch) this.#sendOp(op);
    this.#flushOutbox();
    for (const [t, entry] of this.#pings) if (entry.waiter && entry.epoch !== this.#epoch) this.#sendPing(t);
    this.#setState("open");
    if (reconnected) this.emit("reconnected", { attempt: attempts });
    this.emit("open");
    const waiters = this.#connectWaiters;
    this.#connectWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  /** The socket is gone (closed, errored, or silent): clean up, and reconnect unless closed. */
  #lost(error: Error): void {
    this.#dropSocket();
    if (this.#state === "closed") return;
    if (this.#reconnect === false) {
      this.#shutdown(new ConnectionClosedError("connection_closed", `connection lost (${error.message}) and reconnect is off`));
      return;
    }
    this.#attempt += 1;
    if (this.#attempt > this.#reconnect.maxRetries) {
      const attempts = this.#attempt - 1;
      this.emit("giveup", { attempts, error });
      this.#shutdown(
        new ConnectionClosedError(
          "connection_closed",
          `gave up reconnecting to ${this.url} after ${attempts} attempts (last error: ${error.message}); raise reconnect.maxRetries or check the server`,
        ),
      );
      return;
    }
    const delayMs = backoffDelay(this.#reconnect, this.#attempt);
    if (this.#everOpened) this.#setState("reconnecting");
    this.emit("reconnecting", { attempt: this.#attempt, delayMs, error });
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
    for (const op of this.#inflight) clearTimeout(op.timer);
    this.#inflight = this.#inflight.filter((op) => !op.perSocket);
    for (const run of this.#runs.values()) {
      run.resumePending = false;
      run.stdin?.disconnected();
    }
    for (const session of this.#sessions.values()) session.stdin.disconnected();
  }

  /** Close for good with `error`: every run, request and waiter fails with it. */
  #shutdown(error: RunnelError, giveup = false): void {
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#dropSocket();
    this.#closedError = error;
    this.#setState("closed");
    if (giveup) this.emit("giveup", { attempts: this.#attempt, error });
    const runs = [...this.#runs.values()];
    this.#runs.clear();
    for (const run of runs) {
      run.fail(error);
      this.#forgetRun(run);
    }
    const ops = [...this.#inflight, ...this.#outbox.flatMap((item) => ("op" in item ? [item.op] : []))];
    this.#inflight = [];
    this.#outbox = [];
    for (const op of ops) {
      clearTimeout(op.timer);
      op.reject(error);
    }
    for (const [t, entry] of this.#pings) {
      entry.waiter?.reject(error);
      this.#pings.delete(t);
    }
    const waiters = this.#connectWaiters;
    this.#connectWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  /** Heartbeat: ping every `pingIntervalMs`; a pong later than `pongTimeoutMs` kills the socket. */
  #beat(): void {
    if (!this.#authenticated) return;
    const at = now();
    for (const entry of this.#pings.values()) {
      if (entry.epoch === this.#epoch && at - entry.sentAt > this.#pongTimeoutMs) {
        this.#lost(new Error(`no pong within ${this.#pongTimeoutMs} ms: the connection is dead`));
        return;
      }
    }
    if (at - this.#lastPingAt >= this.#pingIntervalMs) {
      this.#lastPingAt = at;
      const t = ++this.#pingCounter;
      this.#pings.set(t, { sentAt: at, epoch: this.#epoch, handshake: false });
      this.#sendRaw({ action: "ping", t });
    }
  }

  #sendPing(t: number): void {
    const entry = this.#pings.get(t);
    if (!entry) return;
    entry.sentAt = now();
    entry.epoch = this.#epoch;
    this.#sendRaw({ action: "ping", t });
  }

  /** Send one frame on the current socket. False (and the socket is dropped) if it failed. */
  #sendRaw(frame: wire.ClientMessage): boolean {
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

  // ----- requests, runs, stdin -------------------------------------------------------------

  #request(spec: Omit<Op, "sentEpoch" | "resolve" | "reject">): Promise<SessionFrame> {
    return new Promise<SessionFrame>((resolve, reject) => {
      if (this.#closedError) return reject(this.#closedError);
      this.#start();
      const op: Op = { ...spec, sentEpoch: -1, resolve, reject };
      if (this.#authenticated && this.#outbox.length === 0) this.#sendOp(op);
      else this.#outbox.push({ op });
    });
  }

  #sendOp(op: Op): void {
    if (!this.#inflight.includes(op)) this.#inflight.push(op);
    op.sentEpoch = this.#epoch;
    clearTimeout(op.timer);
    if (!op.perSocket) {
      op.timer = setTimeout(() => {
        this.#removeOp(op);
        op.reject(new TimeoutError("timeout", `no answer to \`${op.action}\` within ${this.#requestTimeoutMs} ms (requestTimeoutMs)`));
      }, this.#requestTimeoutMs);
    }
    this.#sendRaw(op.frame);
  }

  #removeOp(op: Op): void {
    clearTimeout(op.timer);
    this.#inflight = this.#inflight.filter((other) => other !== op);
  }

  #resumeSession(session: Session): void {
    const op: Op = {
      action: "resume",
      frame: { action: "resume", session: session.id, last_seq: session.lastSeq },
      session,
      perSocket: true,
      sentEpoch: -1,
      resolve: (reply) => {
        session.readyEpoch = this.#epoch;
        session.stdin.acknowledge(typeof reply.stdin_seq === "number" ? reply.stdin_seq : undefined);
        this.#flushLog(session.stdin);
        for (const run of session.runs) this.#flushSignals(run);
        session.replayUntil = Number(reply.seq ?? 0);
        this.#afterReplay(session);
      },
      reject: (error) => this.#sessionResumeFailed(session, error),
    };
    this.#sendOp(op);
  }

  #sessionResumeFailed(session: Session, error: RunnelError): void {
    if (error.code === "not_found") {
      this.#sessionGone(session, "expired");
      return;
    }
    if (error.code === "resume_gap") {
      // Events were lost for good: the runs that needed them fail, the session goes on.
      const failure = errorFromCode("resume_gap", `session ${session.id}: output was lost while offline (${error.message})`);
      for (const run of [...session.runs]) {
        if (run.phase === "sent") {
          run.fail(failure);
          this.#forgetRun(run);
        }
      }
      const oldest = /last_seq >= (\d+)/.exec(error.message);
      if (oldest && this.#authenticated) {
        session.lastSeq = Math.max(session.lastSeq, Number(oldest[1]));
        this.#resumeSession(session);
      }
      return;
    }
    this.emit("error", error);
  }

  /**
   * Once a resumed session's replay is delivered (its `seq` reached the one `resumed` named),
   * a session execute that went out just before the link dropped and has not started is sent
   * again: it may never have reached the server. If it did (it is queued or running), the
   * server refuses the repeat with `conflict`, which is ignored, so it runs once.
   */
  #afterReplay(session: Session): void {
    if (session.replayUntil === undefined || session.lastSeq < session.replayUntil || !this.#authenticated) return;
    session.replayUntil = undefined;
    for (const run of [...session.runs]) {
      if (run.phase === "sent" && !run.started && !run.done && run.sentEpoch < this.#epoch) {
        run.resent = true;
        this.#sendRun(run);
      }
    }
  }

  #startRun(run: Run): void {
    if (this.#closedError) {
      run.fail(this.#closedError);
      return;
    }
    this.#runs.set(run.id, run);
    this.#start();
    if (this.#authenticated && this.#outbox.length === 0) this.#sendRun(run);
    else this.#outbox.push({ run });
  }

  #sendRun(run: Run): void {
    if (run.done) return;
    if (!this.#sendRaw(run.frame)) {
      // The socket died under us: it goes out again with the next one.
      this.#outbox.unshift({ run });
      return;
    }
    run.phase = "sent";
    run.sentEpoch = this.#epoch;
    run.readyEpoch = this.#epoch;
    const log = this.#logOf(run);
    if (log) this.#flushLog(log);
    this.#flushSignals(run);
  }

  #flushOutbox(): void {
    while (this.#authenticated && this.#outbox.length > 0) {
      const item = this.#outbox.shift() as Outgoing;
      if ("op" in item) this.#sendOp(item.op);
      else this.#sendRun(item.run);
    }
  }

  #logOf(run: Run): StdinLog | undefined {
    if (run.stdin) return run.stdin;
    return run.sessionId === undefined ? undefined : this.#sessions.get(run.sessionId)?.stdin;
  }

  /**
   * Where stdin and signals for `run` go on the current socket, or null if not yet: a one-shot
   * run once its execute went out here or it was resumed here; a session run by its own id on
   * the socket that started it, and by the session's id (its running execute) once the
   * session was resumed here and the run has started.
   */
  #target(run: Run): string | null {
    if (!this.#authenticated || run.done) return null;
    if (run.sessionId === undefined) return run.readyEpoch === this.#epoch && !run.resumePending ? run.id : null;
    if (run.sentEpoch === this.#epoch) return run.id;
    const session = this.#sessions.get(run.sessionId);
    return session && session.readyEpoch === this.#epoch && run.started ? session.id : null;
  }

  /** Send, in order, the writes of `log` the server may not have; stop at one that must wait. */
  #flushLog(log: StdinLog): void {
    for (const write of log.writes) {
      if (write.seq <= log.sentUpTo) continue;
      const target = this.#target(write.run);
      if (target === null) return;
      const frame: wire.ClientStdin = { action: "stdin", id: target, data: write.data, stdin_seq: write.seq };
      if (write.eof) frame.eof = true;
      if (!this.#sendRaw(frame)) return;
      log.sentUpTo = write.seq;
    }
  }

  #flushSignals(run: Run): void {
    for (;;) {
      const signal = run.pendingSignals[0];
      if (signal === undefined) return;
      const target = this.#target(run);
      if (target === null) return;
      if (!this.#sendRaw({ action: "signal", id: target, signal })) return;
      run.pendingSignals.shift();
    }
  }

  #forgetRun(run: Run): void {
    this.#runs.delete(run.id);
    if (run.sessionId !== undefined) {
      const session = this.#sessions.get(run.sessionId);
      if (session) {
        session.runs.delete(run);
        session.stdin.forget(run);
        // A write of this run may have been holding back the writes of the next one.
        this.#flushLog(session.stdin);
      }
    }
  }

  #sessionGone(session: Session, event: string): void {
    if (session.closed) return;
    session.closed = true;
    this.#sessions.delete(session.id);
    for (const op of [...this.#inflight]) {
      if (op.session === session && op.action === "resume") this.#removeOp(op);
    }
    for (const run of [...session.runs]) {
      run.fail(errorFromCode("not_found", `session ${session.id} ${event}: run ${run.id} ended with it`, { id: run.id }));
      this.#forgetRun(run);
    }
  }

  // ----- incoming frames -------------------------------------------------------------------

  #onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case "pong":
        return this.#onPong(frame);
      case "started":
      case "stdout":
      case "stderr":
      case "input_request":
      case "exit":
        return this.#onRunFrame(frame);
      case "resumed":
        return this.#onRunResumed(frame);
      case "session":
        return this.#onSessionFrame(frame);
      case "error":
        return this.#onError(frame);
      default:
        return;
    }
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
    this.emit("latency", this.#latency.stats);
  }

  #onRunFrame(frame: RunFrame): void {
    const seq = Number(frame.seq ?? 0);
    if (typeof frame.session === "string") {
      const session = this.#sessions.get(frame.session);
      if (session) {
        // Session-wide seq: a replay of anything already delivered is dropped here.
        if (seq <= session.lastSeq) return;
        session.lastSeq = seq;
        this.#afterReplay(session);
      }
    }
    const run = this.#runs.get(String(frame.id));
    if (!run || run.sessionId !== (typeof frame.session === "string" ? frame.session : undefined)) return;
    if (seq <= run.lastSeq) return;
    const event = runEvent(frame);
    if (!event) return;
    run.deliver(event);
    if (event.type === "exit") this.#forgetRun(run);
    else if (event.type === "started") {
      const log = this.#logOf(run);
      if (log) this.#flushLog(log);
      this.#flushSignals(run);
    }
  }

  #onRunResumed(frame: ServerFrameOf<"resumed">): void {
    const run = this.#runs.get(String(frame.id));
    if (!run || !run.resumePending) return;
    run.resumePending = false;
    run.readyEpoch = this.#epoch;
    run.stdin?.acknowledge(typeof frame.stdin_seq === "number" ? frame.stdin_seq : undefined);
    if (run.stdin) this.#flushLog(run.stdin);
    this.#flushSignals(run);
  }

  #onSessionFrame(frame: SessionFrame): void {
    const event = String(frame.event);
    const sessionId = String(frame.session);
    if (event === "created") {
      const op = this.#inflight.find((candidate) => candidate.correlation !== undefined && candidate.correlation === frame.id);
      if (op) {
        this.#removeOp(op);
        op.resolve(frame);
      }
      return;
    }
    if (event === "resumed") {
      const op = this.#inflight.find((candidate) => candidate.action === "resume" && candidate.session?.id === sessionId);
      if (op) {
        this.#removeOp(op);
        op.resolve(frame);
      }
      return;
    }
    const session = this.#sessions.get(sessionId);
    if (!session) return;
    const seq = Number(frame.seq ?? 0);
    if (!SESSION_ENDS.has(event) && seq > 0) {
      if (seq <= session.lastSeq) return;
      session.lastSeq = seq;
      this.#afterReplay(session);
    }
    const action = event === "restarted" ? "restart_session" : SESSION_ENDS.has(event) ? "close_session" : undefined;
    const op = this.#inflight.find((candidate) => candidate.action === action && candidate.session === session);
    if (op) {
      this.#removeOp(op);
      op.resolve(frame);
    }
    if (SESSION_ENDS.has(event)) this.#sessionGone(session, event);
  }

  #onError(frame: ServerFrameOf<"error">): void {
    const code = String(frame.code ?? "internal_error");
    const id = typeof frame.id === "string" ? frame.id : undefined;
    const error = errorFromCode(code, String(frame.message ?? code), id === undefined ? {} : { id });
    if (code === "unauthorized" || code === "auth_timeout") {
      this.#shutdown(
        new AuthenticationError(code, `the server refused the API key (${error.message}): check the apiKey option`),
        true,
      );
      return;
    }
    if (id !== undefined) {
      const run = this.#runs.get(id);
      if (run) return this.#onRunError(run, error);
      // `create_session` echoes its correlation id; close, restart and resume name the session.
      const op =
        this.#inflight.find((candidate) => candidate.correlation === id) ??
        this.#inflight.find(
          (candidate) => candidate.correlation === undefined && candidate.session?.id === id && candidate.sentEpoch === this.#epoch,
        );
      if (op) {
        this.#removeOp(op);
        op.reject(error);
        return;
      }
    } else if (code !== "unavailable") {
      // Older servers answer session actions with id-less errors, in order.
      const op = this.#inflight.find(
        (candidate) => candidate.session !== undefined && candidate.sentEpoch === this.#epoch && candidate.correlation === undefined,
      );
      if (op) {
        this.#removeOp(op);
        op.reject(error);
        return;
      }
    }
    if (this.listenerCount("error") > 0) this.emit("error", error);
  }

  #onRunError(run: Run, error: RunnelError): void {
    if (run.resumePending) {
      run.resumePending = false;
      if (error.code === "not_found" && !run.started && run.lastSeq === 0) {
        // The execute never reached the server (the link dropped first): send it now.
        this.#sendRun(run);
        return;
      }
      const hint =
        error.code === "bad_request" ? " (this server cannot resume one-shot runs: upgrade it, or run in a session)" : "";
      run.fail(errorFromCode(error.code, `run ${run.id} could not be resumed after a reconnect: ${error.message}${hint}`, { id: run.id }));
      this.#forgetRun(run);
      return;
    }
    if (run.resent && error.code === "conflict") {
      // The execute re-sent after a reconnect had reached the server after all: it runs once.
      return;
    }
    if (!run.started) {
      // The execute was refused (unknown language, a limit, a bad field).
      run.fail(error);
      this.#forgetRun(run);
      return;
    }
    // A stdin or signal that came too late (the program had ended): nothing to do.
    if (this.listenerCount("error") > 0) this.emit("error", error);
  }
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
