"""The wire types of protocol v1 (docs/protocol.md has the prose).

Generated from crates/protocol by ``cargo run -p runnel-codegen``: do not edit.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

#: Named protocol errors (`{"type":"error","code":...}`).
ErrorCode = Literal[
    "bad_request",
    "unauthorized",
    "auth_timeout",
    "forbidden",
    "unknown_language",
    "payload_too_large",
    "concurrency_limit",
    "rate_limited",
    "not_found",
    "conflict",
    "session_limit",
    "resume_gap",
    "unavailable",
    "internal_error",
]

#: The state `GET /healthz` reports.
HealthStatus = Literal["ready", "degraded", "down"]

#: How a run ended. User programs failing is a status, never a protocol error.
RunStatus = Literal[
    "ok",
    "compile_error",
    "runtime_error",
    "timeout",
    "cpu_limit",
    "memory_limit",
    "output_limit",
    "killed",
    "internal_error",
]

#: The step of a run that produced some output.
Stage = Literal["compile", "run"]


class _CreateSessionRequired(TypedDict):
    #: Language id or alias.
    language: str


class CreateSession(_CreateSessionRequired, total=False):
    """`create_session` (WS) and `POST /api/v1/sessions` (HTTP)."""

    #: Authentication in the message itself.
    api_key: str | None
    #: Client correlation id echoed in the reply.
    id: str | None
    #: Seconds without activity (execute, ping, keystroke) before the session closes; the
    #: server's `--session-idle-timeout` when absent.
    idle_timeout: int | None
    #: Limits of each execute in the session.
    limits: Limits | None


class _ErrorMessageRequired(TypedDict):
    #: The named error.
    code: ErrorCode
    #: What was wrong, for a person.
    message: str


class ErrorMessage(_ErrorMessageRequired, total=False):
    """`error`."""

    #: The run or request id the error is about, if known.
    id: str | None


class ExecuteRequest(TypedDict, total=False):
    """`execute`: run a program once, or a snippet in a session.

    Give `code` or `files`, not both.
    """

    #: Authentication in the message itself (the seed quickstart does this).
    api_key: str | None
    #: Program arguments.
    args: list[str]
    #: The program, saved as the language's default source file. Either this or `files`.
    code: str | None
    #: Extra compiler flags, for languages that accept them.
    compiler_args: list[str]
    #: Several files (at most 256); the first one is the main file.
    files: list[FileSpec]
    #: Client-chosen run id (1 to 128 bytes, no control characters); the server makes one when
    #: absent.
    id: str | None
    #: Language id or alias (`python`, `py`, `c++`, ...). Optional in a session.
    language: str
    #: Limits, each capped by the key's maximum.
    limits: Limits | None
    #: WebSocket only: run in this session instead of a fresh sandbox. A socket following the
    #: session gets the events (with the session's `seq`); otherwise `stream` decides between
    #: events and one `result`. Over HTTP, use `POST /api/v1/sessions/{id}/execute`.
    session: str | None
    #: Text given to stdin up front.
    stdin: str | None
    #: Stream `started`/`stdout`/`stderr`/`exit` instead of one `result`.
    stream: bool
    #: Wall-clock limit in seconds (the HTTP seed's `timeout`); `limits.wall_ms` wins.
    timeout: float | None
    #: Requested runtime version: `*` (or absent) for the installed one, or a prefix of its
    #: version (`3` or `3.11` match 3.11.2).
    version: str | None


class _ExitEventRequired(TypedDict):
    #: CPU time in milliseconds.
    cpu_time: float
    #: Wall time of the run stage in milliseconds.
    execution_time: float
    #: The run id.
    id: str
    #: Peak memory in bytes.
    memory: int
    #: The last sequence number of the run.
    seq: int
    #: How the run ended.
    status: RunStatus


class ExitEvent(_ExitEventRequired, total=False):
    """`exit`: the end of a streamed run."""

    #: Whether the compiled program came from the compile cache (per key).
    cached: bool
    #: Wall time of the compile stage in milliseconds.
    compile_time: float
    #: Exit code, when the program exited.
    exit_code: int | None
    #: A detail for people (which limit, what failed).
    message: str | None
    #: The session.
    session: str | None
    #: Signal name, when a signal ended the program.
    signal: str | None
    #: Whether output was cut at the output limit.
    truncated: bool


class FileEntryInfo(TypedDict):
    """One file of a session."""

    #: Whether it is executable.
    executable: bool
    #: Path relative to the work directory.
    name: str
    #: Size in bytes.
    size: int


class _FileListRequired(TypedDict):
    #: The regular files under the work directory (symlinks are not listed), at most 10,000.
    files: list[FileEntryInfo]


class FileList(_FileListRequired, total=False):
    """`GET /api/v1/sessions/:id/files`."""

    #: There were more files than a listing returns.
    truncated: bool


class _FileSpecRequired(TypedDict):
    #: The content, in `encoding`.
    content: str
    #: Relative path inside the work dir: no leading `/`, no `.` or `..` components, no empty
    #: components, no control characters or `\`; at most 1024 bytes, 255 per component.
    name: str


class FileSpec(_FileSpecRequired, total=False):
    """One file of a multi-file program, or of a session upload."""

    #: `utf8` (the default), `base64` or `hex` (any case).
    encoding: str | None


class FilesUpload(TypedDict):
    """`POST /api/v1/sessions/:id/files`: files to write under the session's work directory."""

    #: The files (`name` relative, `encoding` `utf8`, `base64` or `hex`).
    files: list[FileSpec]


class HealthProblem(TypedDict):
    """One thing `GET /healthz` found wrong."""

    #: The part: `server`, `spawner`, `pool` (warm sandboxes for runs), `session_pool`,
    #: `cache` (compile cache writes), `history` (run history writes).
    component: str
    #: What is wrong, for a person.
    detail: str
    #: How bad it is for that part: `degraded` or `down`.
    status: HealthStatus


class HealthResponse(TypedDict):
    """`GET /healthz`: the engine's real state. HTTP 200 while `ready` or `degraded`, 503 when
    `down`.
    """

    #: What is wrong, most serious first; empty when `ready`.
    problems: list[HealthProblem]
    #: Times the sandbox spawner died and was replaced since the server started.
    spawner_restarts: int
    #: `ready`, `degraded` (serving, with the problems listed) or `down` (runs cannot start).
    status: HealthStatus


class HttpError(TypedDict):
    """Error body of every HTTP error."""

    #: The named error, as on the WebSocket.
    error: ErrorCode
    #: What was wrong.
    message: str


class _InputRequestMessageRequired(TypedDict):
    #: The run id.
    id: str
    #: The prompt.
    prompt: str
    #: Sequence number.
    seq: int


class InputRequestMessage(_InputRequestMessageRequired, total=False):
    """`input_request`: the program waits for input (with the prompt it printed)."""

    #: Whether the input should be hidden.
    password: bool
    #: The session.
    session: str | None


class LanguageInfo(TypedDict):
    """One installed language, as listed by `GET /api/v1/languages`."""

    #: Aliases (`py`, `python3`).
    aliases: list[str]
    #: Whether a compile step runs before the program.
    compiled: bool
    #: The id (`python`).
    id: str
    #: Display name (`Python`).
    name: str
    #: Whether sessions keep interpreter state (a REPL driver).
    repl: bool
    #: Source file name of single-file programs.
    source_file: str
    #: The runtime's real version on this host.
    version: str


class Limits(TypedDict, total=False):
    """Limits a request asks for. Each is capped by the key's maximum; absent ones take the server's
    defaults; values under a language's floors (`min_memory_mb`, `min_pids`) are raised to them.
    Unknown fields are refused.
    """

    #: CPU time of the run stage, ms.
    cpu_ms: int | None
    #: Memory, MiB.
    memory_mb: int | None
    #: Bytes of stdout plus stderr.
    output_bytes: int | None
    #: Processes and threads.
    pids: int | None
    #: Wall-clock time of the run stage, ms.
    wall_ms: int | None


class _OutputChunkRequired(TypedDict):
    #: The text; never splits a UTF-8 character. Base64 when `encoding` is `base64`.
    data: str
    #: The run id.
    id: str
    #: Sequence number of this event within the run (or session).
    seq: int


class OutputChunk(_OutputChunkRequired, total=False):
    """`stdout` / `stderr` chunk."""

    #: `base64` when the bytes were not valid UTF-8.
    encoding: str | None
    #: The session, for runs in a session.
    session: str | None
    #: `compile` for compiler output; absent for the program's own output.
    stage: Stage | None


class _PongMessageRequired(TypedDict):
    #: Server time, ms since the Unix epoch.
    server_time: float


class PongMessage(_PongMessageRequired, total=False):
    """`pong`."""

    #: The client's `t`, echoed.
    t: Any


class _ResultRequired(TypedDict):
    #: CPU time of the run stage in milliseconds.
    cpu_time: float
    #: Wall time of the run stage in milliseconds.
    execution_time: float
    #: The run id.
    id: str
    #: The language id that ran.
    language: str
    #: Peak memory of the run stage in bytes.
    memory: int
    #: How the run ended.
    status: RunStatus
    #: Standard error of the run stage (lossy UTF-8), up to the output limit.
    stderr: str
    #: Standard output of the run stage (lossy UTF-8), up to the output limit.
    stdout: str
    #: The runtime's version.
    version: str


class Result(_ResultRequired, total=False):
    """`result`: everything about a finished run, in one message (the body of `POST
    /api/v1/execute` too, where it has no `type`).
    """

    #: Whether the compiled program came from the compile cache: this key compiled the same
    #: sources before (the cache is per key; see docs/security.md).
    cached: bool
    #: Output of the compile stage, stdout and stderr merged, when there was one.
    compile_output: str | None
    #: Wall time of the compile stage in milliseconds (0 on a cache hit or without one).
    compile_time: float
    #: Exit code, when the program exited.
    exit_code: int | None
    #: A detail for people (which limit, what failed).
    message: str | None
    #: Signal name (`SIGKILL`, ...), when a signal ended the program.
    signal: str | None
    #: Whether the output was cut at the output limit.
    truncated: bool


class ResumedMessage(TypedDict):
    """`resumed`: a streamed one-shot run re-attached to this socket."""

    #: The run id.
    id: str
    #: The newest sequence number of the run so far.
    seq: int
    #: The highest `stdin_seq` applied to the run (0 for none): re-send the writes after it.
    stdin_seq: int


class _SessionInfoRequired(TypedDict):
    #: The session id.
    id: str
    #: Seconds since the last activity.
    idle_seconds: float
    #: The idle timeout, seconds.
    idle_timeout: float
    #: The language id.
    language: str
    #: The last sequence number of the session's events.
    seq: int
    #: Services for `/stream/session/:id/pty?app=` (`shell`, and the language's REPL).
    services: list[str]
    #: Whether interpreter state (variables, imports) persists across executes; without it,
    #: only the files do.
    stateful: bool
    #: The runtime's version.
    version: str


class SessionInfo(_SessionInfoRequired, total=False):
    """A session, as `POST /api/v1/sessions` and `GET /api/v1/sessions/:id` return it."""

    #: The execute in flight, if any.
    running: str | None


class SessionList(TypedDict):
    """`GET /api/v1/sessions`."""

    #: The key's sessions.
    sessions: list[SessionInfo]


class _SessionMessageRequired(TypedDict):
    #: `created`, `restarted`, `resumed`; or why it ended: `closed`, `expired` (idle),
    #: `cpu_limit` (its CPU budget), `shutdown` (the server stops).
    event: str
    #: The session id.
    session: str


class SessionMessage(_SessionMessageRequired, total=False):
    """`session`: the state of a session after an action."""

    #: The client's correlation id, if it sent one.
    id: str | None
    #: The language.
    language: str | None
    #: The last sequence number of the session.
    seq: int
    #: Services for `/stream/session/:id/pty?app=`.
    services: list[str]
    #: On `resumed`: the highest `stdin_seq` applied in the session (0 for none).
    stdin_seq: int | None


class _StartedEventRequired(TypedDict):
    #: The run id.
    id: str
    #: The language id.
    language: str
    #: Sequence number of this event (1 for a one-shot run's `started`).
    seq: int
    #: The runtime's version.
    version: str


class StartedEvent(_StartedEventRequired, total=False):
    """`started`: a streamed run was accepted and is starting."""

    #: The session, for runs in a session.
    session: str | None


class Stats(TypedDict):
    """`GET /api/v1/stats`."""

    #: Open WebSocket connections.
    connections: int
    #: Runs finished since start, all statuses.
    executions: int
    #: Runs per language since start.
    executions_by_language: dict[str, int]
    #: Number of installed languages.
    languages: int
    #: Runs in flight.
    running: int
    #: Live sessions.
    sessions: int
    #: Seconds since the server started.
    uptime_seconds: float
    #: Server version.
    version: str


class ClientAuth(TypedDict):
    """Authenticate the socket (the first message may instead carry `api_key` itself)."""

    action: Literal["auth"]
    #: The API key.
    api_key: str


class ClientExecute(ExecuteRequest):
    """Run a program."""

    action: Literal["execute"]


class _ClientStdinRequired(TypedDict):
    action: Literal["stdin"]
    #: The run id.
    id: str


class ClientStdin(_ClientStdinRequired, total=False):
    """Feed a running program's stdin."""

    #: Text to write (UTF-8); empty with `eof` to only close stdin.
    data: str
    #: Close stdin after writing `data`.
    eof: bool
    #: The client's number for this write (1, 2, 3, ... per run, or per session for
    #: session runs): each number is applied once, so a client may re-send after a
    #: reconnect what it is not sure arrived. Absent: always applied.
    stdin_seq: int | None


class ClientSignal(TypedDict):
    """Signal a running program."""

    action: Literal["signal"]
    #: The run id.
    id: str
    #: `SIGINT`, `SIGTERM`, `SIGKILL`, `SIGHUP`, `SIGQUIT`, `SIGUSR1`, `SIGUSR2` (with or
    #: without the `SIG` prefix, any case).
    signal: str


class _ClientPingRequired(TypedDict):
    action: Literal["ping"]


class ClientPing(_ClientPingRequired, total=False):
    """Latency probe, answered by `pong`."""

    #: An opaque client value echoed back (usually the client's clock in ms).
    t: Any


class ClientCreateSession(CreateSession):
    """Create a session (a long-lived sandbox with state)."""

    action: Literal["create_session"]


class ClientCloseSession(TypedDict):
    """Close a session and free its sandbox."""

    action: Literal["close_session"]
    #: The session id.
    session: str


class ClientRestartSession(TypedDict):
    """Restart a session's interpreter, keeping its files."""

    action: Literal["restart_session"]
    #: The session id.
    session: str


class _ClientResumeRequired(TypedDict):
    action: Literal["resume"]


class ClientResume(_ClientResumeRequired, total=False):
    """Re-attach after a reconnect: receive every event after `last_seq`, then the live stream."""

    #: The run to resume, if any.
    id: str | None
    #: The last sequence number the client saw (0 for none).
    last_seq: int
    #: The session to resume, if any.
    session: str | None


class PtyClientStdin(TypedDict):
    """Keystrokes: base64 of the raw bytes (control characters included)."""

    type: Literal["stdin"]
    #: Base64 of the bytes.
    chars: str


class PtyClientResize(TypedDict):
    """Set the terminal size."""

    type: Literal["resize"]
    #: Columns.
    cols: int
    #: Rows.
    rows: int


class PtyClientPing(TypedDict):
    """Keep the session alive."""

    type: Literal["ping"]


class PtyClientRestart(TypedDict):
    """Start the service again (the files stay)."""

    type: Literal["restart"]


class PtyServerOut(TypedDict):
    """Terminal output (stdout and stderr merged): base64 of the raw bytes."""

    type: Literal["out"]
    #: Base64 of the bytes.
    data: str


class PtyServerError(TypedDict):
    """A server-side error, for people."""

    type: Literal["error"]
    #: The message.
    data: str


class ServerResult(Result):
    """The whole outcome of a non-streamed run."""

    type: Literal["result"]


class ServerStarted(StartedEvent):
    """A streamed run has been accepted and is starting."""

    type: Literal["started"]


class ServerStdout(OutputChunk):
    """A chunk of standard output."""

    type: Literal["stdout"]


class ServerStderr(OutputChunk):
    """A chunk of standard error."""

    type: Literal["stderr"]


class ServerInputRequest(InputRequestMessage):
    """The program waits for a line of input (sessions with a REPL driver)."""

    type: Literal["input_request"]


class ServerExit(ExitEvent):
    """The end of a streamed run."""

    type: Literal["exit"]


class ServerPong(PongMessage):
    """Reply to `ping`."""

    type: Literal["pong"]


class ServerSession(SessionMessage):
    """A session was created, restarted, closed or resumed."""

    type: Literal["session"]


class ServerResumed(ResumedMessage):
    """A streamed one-shot run was re-attached by `resume`; its events after `last_seq` follow."""

    type: Literal["resumed"]


class ServerError(ErrorMessage):
    """A protocol error; the connection stays up unless the code is `unauthorized`."""

    type: Literal["error"]


#: One client frame on `/ws` or `/stream/session/:id/execute`.
ClientMessage = (
    ClientAuth
    | ClientExecute
    | ClientStdin
    | ClientSignal
    | ClientPing
    | ClientCreateSession
    | ClientCloseSession
    | ClientRestartSession
    | ClientResume
)

#: A client frame on `/stream/session/:id/pty`.
PtyClientMessage = PtyClientStdin | PtyClientResize | PtyClientPing | PtyClientRestart

#: A server frame on `/stream/session/:id/pty`.
PtyServerMessage = PtyServerOut | PtyServerError

#: One server frame.
ServerMessage = (
    ServerResult
    | ServerStarted
    | ServerStdout
    | ServerStderr
    | ServerInputRequest
    | ServerExit
    | ServerPong
    | ServerSession
    | ServerResumed
    | ServerError
)
