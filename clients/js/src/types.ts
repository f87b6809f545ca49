/**
 * Public types of the SDK (protocol v1, see docs/protocol.md). The ones that are wire messages
 * as sent (snake_case) come from the generated `protocol.ts`; the SDK's own are camelCase.
 */

import type { Limits, RunStatus } from "./protocol.js";

/**
 * Wire types used as they are: `RunStatus` (`ok`, `compile_error`, ...), `Limits` (each capped
 * by the key's maximums on the server), `LanguageInfo` (`client.languages()`), `SessionInfo`
 * (`session.info()`), `FileEntry` (`session.listFiles()`) and `Stats` (`client.stats()`).
 */
export type { FileEntryInfo as FileEntry, LanguageInfo, Limits, RunStatus, SessionInfo, Stats } from "./protocol.js";

/** One file of a multi-file program, or of a session upload. */
export interface FileSpec {
  name: string;
  /** Text, or base64/hex when `encoding` says so. A `Uint8Array` is sent as base64. */
  content: string | Uint8Array;
  encoding?: "utf8" | "base64" | "hex";
}

/** What `client.execute` takes. */
export interface ExecuteOptions {
  language: string;
  /** The program; or give `files` (the first is the main file). */
  code?: string;
  files?: FileSpec[];
  /** Text written to stdin up front (more can follow with `run.write`). */
  stdin?: string;
  args?: string[];
  compilerArgs?: string[];
  version?: string;
  limits?: Limits;
  /** Wall-clock limit in seconds (`limits.wall_ms` wins). */
  timeout?: number;
  /** The run id; a random UUID when absent (resume finds runs by it, so keep it unique). */
  id?: string;
}

/** What `session.execute` takes: the session fixes the language. */
export type SessionExecuteOptions = Omit<ExecuteOptions, "language"> & { language?: string };

/** Figures the outcome of a run carries (the `exit` event and the result). */
export interface ExitInfo {
  exitCode: number | null;
  signal: string | null;
  status: RunStatus;
  /** Wall time of the run stage, ms. */
  executionTime: number;
  /** Wall time of the compile stage, ms (0 on a cache hit or without one). */
  compileTime: number;
  cached: boolean;
  /** CPU time, ms. */
  cpuTime: number;
  /** Peak memory, bytes. */
  memory: number;
  truncated: boolean;
  message?: string;
}

export interface StartedEvent {
  type: "started";
  id: string;
  language: string;
  version: string;
  seq: number;
  session?: string;
}

export interface OutputEvent {
  type: "stdout" | "stderr";
  id: string;
  /** The text. Bytes that were not UTF-8 are decoded lossily here and kept intact in `bytes`. */
  data: string;
  /** Present when the server sent the chunk as base64 (it was not valid UTF-8). */
  bytes?: Uint8Array;
  /** `compile` for compiler output. */
  stage?: "compile";
  seq: number;
  session?: string;
}

export interface InputRequestEvent {
  type: "input_request";
  id: string;
  prompt: string;
  password: boolean;
  seq: number;
  session?: string;
}

export interface ExitEvent extends ExitInfo {
  type: "exit";
  id: string;
  seq: number;
  session?: string;
}

/** Every event a run delivers, in order. */
export type RunEvent = StartedEvent | OutputEvent | InputRequestEvent | ExitEvent;

/** The awaitable outcome of a run: its whole output and exit figures. */
export interface RunResult extends ExitInfo {
  id: string;
  /** Standard output of the run stage. */
  stdout: string;
  /** Standard error of the run stage. */
  stderr: string;
  /** Compiler output (stdout and stderr merged), when there was a compile stage. */
  compileOutput: string | null;
}

/** Round-trip figures of the latency monitor, in milliseconds. */
export interface LatencyStats {
  current: number | null;
  average: number | null;
  min: number | null;
  max: number | null;
  /** How many pongs the figures cover. */
  count: number;
  /** The last ten round trips, oldest first. */
  history: number[];
  /** Frames received from the server over the last second. */
  messagesPerSecond: number;
}

/** Connection states: `connecting` (first connect), `open`, `reconnecting`, `closed`. */
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

export interface ReconnectOptions {
  /** Failed attempts in a row before giving up. */
  maxRetries: number;
  /** Delay before the first attempt, ms. */
  minDelayMs: number;
  /** Ceiling of the delay, ms. */
  maxDelayMs: number;
  /** Growth of the delay per attempt. */
  factor: number;
  /** Random spread of each delay, as a fraction (0.3: plus or minus 30 %). */
  jitter: number;
}

/** The smallest WebSocket the client needs (the browser's, Node 22's global, or `ws`). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onclose: ((event: { code?: number; reason?: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
}

/** A WebSocket constructor. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ClientOptions {
  /** `ws(s)://HOST/ws`; `http(s)://HOST` is accepted too. The HTTP base is derived from it. */
  url: string;
  apiKey: string;
  /** A WebSocket constructor: the global one by default (in Node 20 the `node` entry passes `ws`). */
  WebSocket?: WebSocketConstructor | unknown;
  /** `fetch` for the HTTP API; the global one by default. */
  fetch?: typeof fetch;
  /** How often to ping, ms. */
  pingIntervalMs?: number;
  /** A socket whose pong is this late is dead: closed and reconnected. */
  pongTimeoutMs?: number;
  /** Longest a connection attempt (open and authentication) may take, ms. */
  connectTimeoutMs?: number;
  /** Longest a session request (create, restart, close) may wait for its answer while online, ms. */
  requestTimeoutMs?: number;
  /** Backoff of reconnection, or `false` to never reconnect. */
  reconnect?: Partial<ReconnectOptions> | false;
}

export interface CreateSessionOptions {
  language: string;
  limits?: Limits;
  /** Idle timeout in seconds (the client's pings count as activity). */
  idleTimeout?: number;
}

/** Events of `RunnelClient`. */
export interface ClientEvents {
  state: (state: ConnectionState) => void;
  open: () => void;
  reconnecting: (info: { attempt: number; delayMs: number; error: Error | undefined }) => void;
  reconnected: (info: { attempt: number }) => void;
  giveup: (info: { attempts: number; error: Error | undefined }) => void;
  latency: (stats: LatencyStats) => void;
  error: (error: Error) => void;
}

/** Events of a run. */
export interface RunEvents {
  started: (event: StartedEvent) => void;
  stdout: (event: OutputEvent) => void;
  stderr: (event: OutputEvent) => void;
  input_request: (event: InputRequestEvent) => void;
  exit: (event: ExitEvent) => void;
  event: (event: RunEvent) => void;
  error: (error: Error) => void;
}
