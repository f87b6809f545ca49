"""Plain data the SDK hands to callers: run events, results, latency figures, files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ._messages import Limits as WireLimits

__all__ = [
    "ExitEvent",
    "FileEntry",
    "InputRequestEvent",
    "LatencyStats",
    "Limits",
    "OutputEvent",
    "RunEvent",
    "RunResult",
    "StartedEvent",
    "StderrEvent",
    "StdoutEvent",
]

#: How a run ended (``docs/protocol.md``, "Statuses").
Status = Literal[
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


@dataclass(frozen=True)
class Limits:
    """Limits a run asks for; the server caps each at the key's maximum."""

    wall_ms: int | None = None
    cpu_ms: int | None = None
    memory_mb: int | None = None
    pids: int | None = None
    output_bytes: int | None = None

    def to_wire(self) -> WireLimits:
        """The ``limits`` object of an ``execute``, without the unset fields."""
        limits: WireLimits = {}
        if self.wall_ms is not None:
            limits["wall_ms"] = self.wall_ms
        if self.cpu_ms is not None:
            limits["cpu_ms"] = self.cpu_ms
        if self.memory_mb is not None:
            limits["memory_mb"] = self.memory_mb
        if self.pids is not None:
            limits["pids"] = self.pids
        if self.output_bytes is not None:
            limits["output_bytes"] = self.output_bytes
        return limits


@dataclass(frozen=True)
class StartedEvent:
    """The run was accepted and is starting."""

    id: str
    language: str
    version: str
    seq: int
    session: str | None = None
    type: Literal["started"] = "started"


@dataclass(frozen=True)
class StdoutEvent:
    """A chunk of standard output, as the program wrote it."""

    id: str
    data: str
    seq: int
    #: ``"compile"`` for compiler output, ``None`` for the program's own output.
    stage: str | None = None
    #: The raw bytes (differs from ``data`` only when the server sent base64 for non-UTF-8).
    raw: bytes = b""
    session: str | None = None
    type: Literal["stdout"] = "stdout"


@dataclass(frozen=True)
class StderrEvent:
    """A chunk of standard error."""

    id: str
    data: str
    seq: int
    stage: str | None = None
    raw: bytes = b""
    session: str | None = None
    type: Literal["stderr"] = "stderr"


@dataclass(frozen=True)
class InputRequestEvent:
    """The program waits for a line of input (sessions): answer with ``run.write(...)``."""

    id: str
    prompt: str
    password: bool
    seq: int
    session: str | None = None
    type: Literal["input_request"] = "input_request"


@dataclass(frozen=True)
class ExitEvent:
    """The end of a run."""

    id: str
    exit_code: int | None
    signal: str | None
    status: str
    execution_time: float
    cpu_time: float
    memory: int
    seq: int
    compile_time: float = 0.0
    cached: bool = False
    truncated: bool = False
    message: str | None = None
    session: str | None = None
    type: Literal["exit"] = "exit"


OutputEvent = StdoutEvent | StderrEvent
#: Everything a run yields when iterated, in order.
RunEvent = StartedEvent | StdoutEvent | StderrEvent | InputRequestEvent | ExitEvent


@dataclass(frozen=True)
class RunResult:
    """Everything about a finished run: what ``await run`` returns."""

    id: str
    stdout: str
    stderr: str
    exit_code: int | None
    signal: str | None
    status: str
    #: Wall time of the run stage, milliseconds.
    execution_time: float
    #: CPU time, milliseconds.
    cpu_time: float
    #: Peak memory, bytes.
    memory: int
    compile_output: str = ""
    compile_time: float = 0.0
    cached: bool = False
    truncated: bool = False
    message: str | None = None
    language: str = ""
    version: str = ""

    @property
    def ok(self) -> bool:
        """Whether the program ran to completion and exited 0."""
        return self.status == "ok" and self.exit_code == 0


@dataclass
class LatencyStats:
    """Round-trip times of ``ping``/``pong``, milliseconds."""

    current: float | None = None
    average: float | None = None
    min: float | None = None
    max: float | None = None
    count: int = 0
    #: The last ten round trips, oldest first.
    history: list[float] = field(default_factory=list)
    #: Frames received from the server in the last whole second.
    messages_per_second: float = 0.0

    def copy(self) -> LatencyStats:
        """An independent snapshot."""
        return LatencyStats(
            self.current,
            self.average,
            self.min,
            self.max,
            self.count,
            list(self.history),
            self.messages_per_second,
        )


@dataclass(frozen=True)
class FileEntry:
    """A file of a session's work directory."""

    name: str
    size: int
    executable: bool


JsonObject = dict[str, Any]
