/** One client frame on `/ws` or `/stream/session/:id/execute`. */
export type ClientMessage = ClientAuth | ClientExecute | ClientStdin | ClientSignal | ClientPing | ClientCreateSession | ClientCloseSession | ClientRestartSession | ClientResume;
/** Authenticate the socket (the first message may instead carry `api_key` itself). */
export interface ClientAuth {
    action: "auth";
    /** The API key. */
    api_key: string;
}
/** Run a program. */
export interface ClientExecute extends ExecuteRequest {
    action: "execute";
}
/** Feed a running program's stdin. */
export interface ClientStdin {
    action: "stdin";
    /** Text to write (UTF-8); empty with `eof` to only close stdin. */
    data?: string;
    /** Close stdin after writing `data`. */
    eof?: boolean;
    /** The run id. */
    id: string;
    /**
     * The client's number for this write (1, 2, 3, ... per run, or per session for
     * session runs): each number is applied once, so a client may re-send after a
     * reconnect what it is not sure arrived. Absent: always applied.
     */
    stdin_seq?: number | null;
}
/** Signal a running program. */
export interface ClientSignal {
    action: "signal";
    /** The run id. */
    id: string;
    /**
     * `SIGINT`, `SIGTERM`, `SIGKILL`, `SIGHUP`, `SIGQUIT`, `SIGUSR1`, `SIGUSR2` (with or
     * without the `SIG` prefix, any case).
     */
    signal: string;
}
/** Latency probe, answered by `pong`. */
export interface ClientPing {
    action: "ping";
    /** An opaque client value echoed back (usually the client's clock in ms). */
    t?: unknown;
}
/** Create a session (a long-lived sandbox with state). */
export interface ClientCreateSession extends CreateSession {
    action: "create_session";
}
/** Close a session and free its sandbox. */
export interface ClientCloseSession {
    action: "close_session";
    /** The session id. */
    session: string;
}
/** Restart a session's interpreter, keeping its files. */
export interface ClientRestartSession {
    action: "restart_session";
    /** The session id. */
    session: string;
}
/** Re-attach after a reconnect: receive every event after `last_seq`, then the live stream. */
export interface ClientResume {
    action: "resume";
    /** The run to resume, if any. */
    id?: string | null;
    /** The last sequence number the client saw (0 for none). */
    last_seq?: number;
    /** The session to resume, if any. */
    session?: string | null;
}
/** `create_session` (WS) and `POST /api/v1/sessions` (HTTP). */
export interface CreateSession {
    /** Authentication in the message itself. */
    api_key?: string | null;
    /** Client correlation id echoed in the reply. */
    id?: string | null;
    /**
     * Seconds without activity (execute, ping, keystroke) before the session closes; the
     * server's `--session-idle-timeout` when absent.
     */
    idle_timeout?: number | null;
    /** Language id or alias. */
    language: string;
    /** Limits of each execute in the session. */
    limits?: Limits | null;
}
/** Named protocol errors (`{"type":"error","code":...}`). */
export type ErrorCode = 
/** The frame was not valid JSON or not a valid message; `message` names what was wrong. */
"bad_request"
/** No key, a wrong key or a revoked key. */
 | "unauthorized"
/** No authentication arrived in time after connecting. */
 | "auth_timeout"
/** The key is valid but may not do this (server-wide figures need an operator key). */
 | "forbidden"
/** The language is not known or not installed on this host. */
 | "unknown_language"
/** A frame, file or request body is over the configured size. */
 | "payload_too_large"
/** The key has too many runs in flight (or connections open). */
 | "concurrency_limit"
/** The key sent too many requests in the current window. */
 | "rate_limited"
/** A run, session or file that does not exist (or belongs to another key). */
 | "not_found"
/** A run id that is already in use on this connection. */
 | "conflict"
/** Too many sessions for this key. */
 | "session_limit"
/** `resume` asked for events the session no longer keeps (its replay buffer was trimmed). */
 | "resume_gap"
/** The server is shutting down or out of capacity. */
 | "unavailable"
/** The engine failed; details are in the server's log. */
 | "internal_error";
/** `error`. */
export interface ErrorMessage {
    /** The named error. */
    code: ErrorCode;
    /** The run or request id the error is about, if known. */
    id?: string | null;
    /** What was wrong, for a person. */
    message: string;
}
/**
 * `execute`: run a program once, or a snippet in a session.
 *
 * Give `code` or `files`, not both.
 */
export interface ExecuteRequest {
    /** Authentication in the message itself (the seed quickstart does this). */
    api_key?: string | null;
    /** Program arguments. */
    args?: string[];
    /** The program, saved as the language's default source file. Either this or `files`. */
    code?: string | null;
    /** Extra compiler flags, for languages that accept them. */
    compiler_args?: string[];
    /** Several files (at most 256); the first one is the main file. */
    files?: FileSpec[];
    /**
     * Client-chosen run id (1 to 128 bytes, no control characters); the server makes one when
     * absent.
     */
    id?: string | null;
    /** Language id or alias (`python`, `py`, `c++`, ...). Optional in a session. */
    language?: string;
    /** Limits, each capped by the key's maximum. */
    limits?: Limits | null;
    /**
     * WebSocket only: run in this session instead of a fresh sandbox. A socket following the
     * session gets the events (with the session's `seq`); otherwise `stream` decides between
     * events and one `result`. Over HTTP, use `POST /api/v1/sessions/{id}/execute`.
     */
    session?: string | null;
    /** Text given to stdin up front. */
    stdin?: string | null;
    /** Stream `started`/`stdout`/`stderr`/`exit` instead of one `result`. */
    stream?: boolean;
    /** Wall-clock limit in seconds (the HTTP seed's `timeout`); `limits.wall_ms` wins. */
    timeout?: number | null;
    /**
     * Requested runtime version: `*` (or absent) for the installed one, or a prefix of its
     * version (`3` or `3.11` match 3.11.2).
     */
    version?: string | null;
}
/** `exit`: the end of a streamed run. */
export interface ExitEvent {
    /** Whether the compiled program came from the compile cache (per key). */
    cached?: boolean;
    /** Wall time of the compile stage in milliseconds. */
    compile_time?: number;
    /** CPU time in milliseconds. */
    cpu_time: number;
    /** Wall time of the run stage in milliseconds. */
    execution_time: number;
    /** Exit code, when the program exited. */
    exit_code?: number | null;
    /** The run id. */
    id: string;
    /** Peak memory in bytes. */
    memory: number;
    /** A detail for people (which limit, what failed). */
    message?: string | null;
    /** The last sequence number of the run. */
    seq: number;
    /** The session. */
    session?: string | null;
    /** Signal name, when a signal ended the program. */
    signal?: string | null;
    /** How the run ended. */
    status: RunStatus;
    /** Whether output was cut at the output limit. */
    truncated?: boolean;
}
/** One file of a session. */
export interface FileEntryInfo {
    /** Whether it is executable. */
    executable: boolean;
    /** Path relative to the work directory. */
    name: string;
    /** Size in bytes. */
    size: number;
}
/** `GET /api/v1/sessions/:id/files`. */
export interface FileList {
    /** The regular files under the work directory (symlinks are not listed), at most 10,000. */
    files: FileEntryInfo[];
    /** There were more files than a listing returns. */
    truncated?: boolean;
}
/** One file of a multi-file program, or of a session upload. */
export interface FileSpec {
    /** The content, in `encoding`. */
    content: string;
    /** `utf8` (the default), `base64` or `hex` (any case). */
    encoding?: string | null;
    /**
     * Relative path inside the work dir: no leading `/`, no `.` or `..` components, no empty
     * components, no control characters or `\`; at most 1024 bytes, 255 per component.
     */
    name: string;
}
/** `POST /api/v1/sessions/:id/files`: files to write under the session's work directory. */
export interface FilesUpload {
    /** The files (`name` relative, `encoding` `utf8`, `base64` or `hex`). */
    files: FileSpec[];
}
/** One thing `GET /healthz` found wrong. */
export interface HealthProblem {
    /**
     * The part: `server`, `spawner`, `pool` (warm sandboxes for runs), `session_pool`,
     * `cache` (compile cache writes), `history` (run history writes).
     */
    component: string;
    /** What is wrong, for a person. */
    detail: string;
    /** How bad it is for that part: `degraded` or `down`. */
    status: HealthStatus;
}
/**
 * `GET /healthz`: the engine's real state. HTTP 200 while `ready` or `degraded`, 503 when
 * `down`.
 */
export interface HealthResponse {
    /** What is wrong, most serious first; empty when `ready`. */
    problems: HealthProblem[];
    /** Times the sandbox spawner died and was replaced since the server started. */
    spawner_restarts: number;
    /** `ready`, `degraded` (serving, with the problems listed) or `down` (runs cannot start). */
    status: HealthStatus;
}
/** The state `GET /healthz` reports. */
export type HealthStatus = 
/** Everything works. */
"ready"
/** Runs work, but a part is failing or recovering (see the problems). */
 | "degraded"
/** Runs cannot start: the spawner cannot be started again, or the server is stopping. */
 | "down";
/** Error body of every HTTP error. */
export interface HttpError {
    /** The named error, as on the WebSocket. */
    error: ErrorCode;
    /** What was wrong. */
    message: string;
}
/** `input_request`: the program waits for input (with the prompt it printed). */
export interface InputRequestMessage {
    /** The run id. */
    id: string;
    /** Whether the input should be hidden. */
    password?: boolean;
    /** The prompt. */
    prompt: string;
    /** Sequence number. */
    seq: number;
    /** The session. */
    session?: string | null;
}
/** One installed language, as listed by `GET /api/v1/languages`. */
export interface LanguageInfo {
    /** Aliases (`py`, `python3`). */
    aliases: string[];
    /** Whether a compile step runs before the program. */
    compiled: boolean;
    /** The id (`python`). */
    id: string;
    /** Display name (`Python`). */
    name: string;
    /** Whether sessions keep interpreter state (a REPL driver). */
    repl: boolean;
    /** Source file name of single-file programs. */
    source_file: string;
    /** The runtime's real version on this host. */
    version: string;
}
/**
 * Limits a request asks for. Each is capped by the key's maximum; absent ones take the server's
 * defaults; values under a language's floors (`min_memory_mb`, `min_pids`) are raised to them.
 * Unknown fields are refused.
 */
export interface Limits {
    /** CPU time of the run stage, ms. */
    cpu_ms?: number | null;
    /** Memory, MiB. */
    memory_mb?: number | null;
    /** Bytes of stdout plus stderr. */
    output_bytes?: number | null;
    /** Processes and threads. */
    pids?: number | null;
    /** Wall-clock time of the run stage, ms. */
    wall_ms?: number | null;
}
/** `stdout` / `stderr` chunk. */
export interface OutputChunk {
    /** The text; never splits a UTF-8 character. Base64 when `encoding` is `base64`. */
    data: string;
    /** `base64` when the bytes were not valid UTF-8. */
    encoding?: string | null;
    /** The run id. */
    id: string;
    /** Sequence number of this event within the run (or session). */
    seq: number;
    /** The session, for runs in a session. */
    session?: string | null;
    /** `compile` for compiler output; absent for the program's own output. */
    stage?: Stage | null;
}
/** `pong`. */
export interface PongMessage {
    /** Server time, ms since the Unix epoch. */
    server_time: number;
    /** The client's `t`, echoed. */
    t?: unknown;
}
/** A client frame on `/stream/session/:id/pty`. */
export type PtyClientMessage = PtyClientStdin | PtyClientResize | PtyClientPing | PtyClientRestart;
/** Keystrokes: base64 of the raw bytes (control characters included). */
export interface PtyClientStdin {
    type: "stdin";
    /** Base64 of the bytes. */
    chars: string;
}
/** Set the terminal size. */
export interface PtyClientResize {
    type: "resize";
    /** Columns. */
    cols: number;
    /** Rows. */
    rows: number;
}
/** Keep the session alive. */
export interface PtyClientPing {
    type: "ping";
}
/** Start the service again (the files stay). */
export interface PtyClientRestart {
    type: "restart";
}
/** A server frame on `/stream/session/:id/pty`. */
export type PtyServerMessage = PtyServerOut | PtyServerError;
/** Terminal output (stdout and stderr merged): base64 of the raw bytes. */
export interface PtyServerOut {
    type: "out";
    /** Base64 of the bytes. */
    data: string;
}
/** A server-side error, for people. */
export interface PtyServerError {
    type: "error";
    /** The message. */
    data: string;
}
/**
 * `result`: everything about a finished run, in one message (the body of `POST
 * /api/v1/execute` too, where it has no `type`).
 */
export interface Result {
    /**
     * Whether the compiled program came from the compile cache: this key compiled the same
     * sources before (the cache is per key; see docs/security.md).
     */
    cached?: boolean;
    /** Output of the compile stage, stdout and stderr merged, when there was one. */
    compile_output?: string | null;
    /** Wall time of the compile stage in milliseconds (0 on a cache hit or without one). */
    compile_time?: number;
    /** CPU time of the run stage in milliseconds. */
    cpu_time: number;
    /** Wall time of the run stage in milliseconds. */
    execution_time: number;
    /** Exit code, when the program exited. */
    exit_code?: number | null;
    /** The run id. */
    id: string;
    /** The language id that ran. */
    language: string;
    /** Peak memory of the run stage in bytes. */
    memory: number;
    /** A detail for people (which limit, what failed). */
    message?: string | null;
    /** Signal name (`SIGKILL`, ...), when a signal ended the program. */
    signal?: string | null;
    /** How the run ended. */
    status: RunStatus;
    /** Standard error of the run stage (lossy UTF-8), up to the output limit. */
    stderr: string;
    /** Standard output of the run stage (lossy UTF-8), up to the output limit. */
    stdout: string;
    /** Whether the output was cut at the output limit. */
    truncated?: boolean;
    /** The runtime's version. */
    version: string;
}
/** `resumed`: a streamed one-shot run re-attached to this socket. */
export interface ResumedMessage {
    /** The run id. */
    id: string;
    /** The newest sequence number of the run so far. */
    seq: number;
    /** The highest `stdin_seq` applied to the run (0 for none): re-send the writes after it. */
    stdin_seq: number;
}
/** How a run ended. User programs failing is a status, never a protocol error. */
export type RunStatus = 
/** The program exited with code 0. */
"ok"
/** The compile step failed; its output is in the compile stage's stdout/stderr. */
 | "compile_error"
/** The program exited non-zero or was killed by a signal of its own making. */
 | "runtime_error"
/** The wall-clock limit ended the run. */
 | "timeout"
/** The CPU-time limit ended the run. */
 | "cpu_limit"
/** The memory limit ended the run. */
 | "memory_limit"
/** The output limit ended the run. */
 | "output_limit"
/** The run was killed on request (a `signal` message, a closed session or connection). */
 | "killed"
/** The engine failed; the message says why. Never caused by the user's program. */
 | "internal_error";
/** One server frame. */
export type ServerMessage = ServerResult | ServerStarted | ServerStdout | ServerStderr | ServerInputRequest | ServerExit | ServerPong | ServerSession | ServerResumed | ServerError;
/** The whole outcome of a non-streamed run. */
export interface ServerResult extends Result {
    type: "result";
}
/** A streamed run has been accepted and is starting. */
export interface ServerStarted extends StartedEvent {
    type: "started";
}
/** A chunk of standard output. */
export interface ServerStdout extends OutputChunk {
    type: "stdout";
}
/** A chunk of standard error. */
export interface ServerStderr extends OutputChunk {
    type: "stderr";
}
/** The program waits for a line of input (sessions with a REPL driver). */
export interface ServerInputRequest extends InputRequestMessage {
    type: "input_request";
}
/** The end of a streamed run. */
export interface ServerExit extends ExitEvent {
    type: "exit";
}
/** Reply to `ping`. */
export interface ServerPong extends PongMessage {
    type: "pong";
}
/** A session was created, restarted, closed or resumed. */
export interface ServerSession extends SessionMessage {
    type: "session";
}
/** A streamed one-shot run was re-attached by `resume`; its events after `last_seq` follow. */
export interface ServerResumed extends ResumedMessage {
    type: "resumed";
}
/** A protocol error; the connection stays up unless the code is `unauthorized`. */
export interface ServerError extends ErrorMessage {
    type: "error";
}
/** A session, as `POST /api/v1/sessions` and `GET /api/v1/sessions/:id` return it. */
export interface SessionInfo {
    /** The session id. */
    id: string;
    /** Seconds since the last activity. */
    idle_seconds: number;
    /** The idle timeout, seconds. */
    idle_timeout: number;
    /** The language id. */
    language: string;
    /** The execute in flight, if any. */
    running?: string | null;
    /** The last sequence number of the session's events. */
    seq: number;
    /** Services for `/stream/session/:id/pty?app=` (`shell`, and the language's REPL). */
    services: string[];
    /**
     * Whether interpreter state (variables, imports) persists across executes; without it,
     * only the files do.
     */
    stateful: boolean;
    /** The runtime's version. */
    version: string;
}
/** `GET /api/v1/sessions`. */
export interface SessionList {
    /** The key's sessions. */
    sessions: SessionInfo[];
}
/** `session`: the state of a session after an action. */
export interface SessionMessage {
    /**
     * `created`, `restarted`, `resumed`; or why it ended: `closed`, `expired` (idle),
     * `cpu_limit` (its CPU budget), `shutdown` (the server stops).
     */
    event: string;
    /** The client's correlation id, if it sent one. */
    id?: string | null;
    /** The language. */
    language?: string | null;
    /** The last sequence number of the session. */
    seq?: number;
    /** Services for `/stream/session/:id/pty?app=`. */
    services?: string[];
    /** The session id. */
    session: string;
    /** On `resumed`: the highest `stdin_seq` applied in the session (0 for none). */
    stdin_seq?: number | null;
}
/** The step of a run that produced some output. */
export type Stage = 
/** The compile (or transpile) step of a compiled language. */
"compile"
/** The program itself. */
 | "run";
/** `started`: a streamed run was accepted and is starting. */
export interface StartedEvent {
    /** The run id. */
    id: string;
    /** The language id. */
    language: string;
    /** Sequence number of this event (1 for a one-shot run's `started`). */
    seq: number;
    /** The session, for runs in a session. */
    session?: string | null;
    /** The runtime's version. */
    version: string;
}
/** `GET /api/v1/stats`. */
export interface Stats {
    /** Open WebSocket connections. */
    connections: number;
    /** Runs finished since start, all statuses. */
    executions: number;
    /** Runs per language since start. */
    executions_by_language: Record<string, number>;
    /** Number of installed languages. */
    languages: number;
    /** Runs in flight. */
    running: number;
    /** Live sessions. */
    sessions: number;
    /** Seconds since the server started. */
    uptime_seconds: number;
    /** Server version. */
    version: string;
}
//# sourceMappingURL=protocol.d.ts.map