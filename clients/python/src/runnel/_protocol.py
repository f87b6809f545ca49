"""The wire protocol without I/O: encoding, decoding, sequence tracking, stdin numbering,
backoff and latency arithmetic.

Nothing here touches a socket or an event loop, so all of it is unit-tested directly
(``tests/test_protocol.py``). ``docs/protocol.md`` in the repository is the reference.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ._messages import (
    ClientCloseSession,
    ClientCreateSession,
    ClientExecute,
    ClientMessage,
    ClientPing,
    ClientRestartSession,
    ClientResume,
    ClientSignal,
    ClientStdin,
    FileSpec,
    Limits,
)
from .errors import ConfigurationError
from .models import (
    ExitEvent,
    InputRequestEvent,
    LatencyStats,
    RunEvent,
    RunResult,
    StartedEvent,
    StderrEvent,
    StdoutEvent,
)

#: Round trips kept in ``LatencyStats.history``.
LATENCY_HISTORY = 10

# ---------------------------------------------------------------------------------------------
# Client to server


def encode(message: ClientMessage) -> str:
    """One JSON text frame."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def execute_message(
    run_id: str,
    *,
    language: str | None,
    code: str | None,
    files: list[FileSpec] | None = None,
    stdin: str | None = None,
    args: list[str] | None = None,
    version: str | None = None,
    limits: Limits | None = None,
    timeout: float | None = None,
    session: str | None = None,
) -> ClientExecute:
    """A streamed ``execute`` (the SDK always streams, so that every run can be resumed)."""
    message: ClientExecute = {"action": "execute", "id": run_id, "stream": True}
    if language:
        message["language"] = language
    if code is not None:
        message["code"] = code
    if files:
        message["files"] = files
    if stdin is not None:
        message["stdin"] = stdin
    if args:
        message["args"] = list(args)
    if version is not None:
        message["version"] = version
    if limits:
        message["limits"] = limits
    if timeout is not None:
        message["timeout"] = timeout
    if session is not None:
        message["session"] = session
    return message


def stdin_message(target: str, data: str, *, eof: bool, stdin_seq: int) -> ClientStdin:
    """``stdin`` numbered with ``stdin_seq`` so that the server applies it exactly once."""
    message: ClientStdin = {
        "action": "stdin",
        "id": target,
        "data": data,
        "stdin_seq": stdin_seq,
    }
    if eof:
        message["eof"] = True
    return message


def signal_message(target: str, signal: str) -> ClientSignal:
    """``signal`` (``SIGINT`` interrupts, ``SIGKILL`` kills)."""
    return {"action": "signal", "id": target, "signal": signal}


def ping_message(token: int) -> ClientPing:
    """``ping``; ``token`` comes back in the ``pong``."""
    return {"action": "ping", "t": token}


def create_session_message(
    request_id: str,
    language: str,
    *,
    limits: Limits | None = None,
    idle_timeout: int | None = None,
) -> ClientCreateSession:
    """``create_session`` with a correlation id echoed in the reply."""
    message: ClientCreateSession = {
        "action": "create_session",
        "language": language,
        "id": request_id,
    }
    if limits:
        message["limits"] = limits
    if idle_timeout is not None:
        message["idle_timeout"] = idle_timeout
    return message


def session_action_message(
    action: Literal["close_session", "restart_session"], session: str
) -> ClientCloseSession | ClientRestartSession:
    """``close_session`` or ``restart_session``."""
    if action == "close_session":
        return {"action": "close_session", "session": session}
    return {"action": "restart_session", "session": session}


def resume_run_message(run_id: str, last_seq: int) -> ClientResume:
    """``resume`` of a one-shot run after a reconnect."""
    return {"action": "resume", "id": run_id, "last_seq": last_seq}


def resume_session_message(session: str, last_seq: int) -> ClientResume:
    """``resume`` of a session after a reconnect."""
    return {"action": "resume", "session": session, "last_seq": last_seq}


# ---------------------------------------------------------------------------------------------
# Server to client


@dataclass(frozen=True)
class Pong:
    """``pong``."""

    t: Any
    server_time: float


@dataclass(frozen=True)
class SessionNotice:
    """``session``: created, restarted, closed, resumed, expired, cpu_limit, lost, shutdown."""

    session: str
    event: str
    seq: int
    id: str | None = None
    language: str | None = None
    services: tuple[str, ...] = ()
    stdin_seq: int | None = None


@dataclass(frozen=True)
class Resumed:
    """``resumed``: a one-shot run was found again after a reconnect."""

    id: str
    seq: int
    stdin_seq: int | None


@dataclass(frozen=True)
class ErrorNotice:
    """``error``."""

    code: str
    message: str
    id: str | None = None


@dataclass(frozen=True)
class Unknown:
    """A message this SDK does not know (a newer server); ignored."""

    raw: dict[str, Any]


Incoming = RunEvent | Pong | SessionNotice | Resumed | ErrorNotice | Unknown


class ProtocolError(ValueError):
    """A frame that is not a JSON object with a ``type``."""


def decode(text: str | bytes) -> Incoming:
    """Parse one server frame."""
    try:
        raw = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise ProtocolError(f"server frame is not JSON: {error}") from error
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise ProtocolError("server frame is not an object with a `type`")
    try:
        return _decode_object(raw)
    except (KeyError, TypeError, ValueError) as error:
        raise ProtocolError(f"malformed `{raw['type']}` frame: {error!r}") from error


def _decode_object(raw: dict[str, Any]) -> Incoming:
    kind = raw["type"]
    session = raw.get("session")
    if kind in ("stdout", "stderr"):
        data, payload = _chunk(raw)
        cls = StdoutEvent if kind == "stdout" else StderrEvent
        return cls(
            id=raw["id"],
            data=data,
            seq=int(raw["seq"]),
            stage=raw.get("stage"),
            raw=payload,
            session=session,
        )
    if kind == "started":
        return StartedEvent(
            id=raw["id"],
            language=raw.get("language", ""),
            version=raw.get("version", ""),
            seq=int(raw["seq"]),
            session=session,
        )
    if kind == "input_request":
        return InputRequestEvent(
            id=raw["id"],
            prompt=raw.get("prompt", ""),
            password=bool(raw.get("password", False)),
            seq=int(raw["seq"]),
            session=session,
        )
    if kind == "exit":
        return ExitEvent(
            id=raw["id"],
            exit_code=raw.get("exit_code"),
            signal=raw.get("signal"),
            status=raw["status"],
            execution_time=float(raw.get("execution_time", 0.0)),
            cpu_time=float(raw.get("cpu_time", 0.0)),
            memory=int(raw.get("memory", 0)),
            seq=int(raw["seq"]),
            compile_time=float(raw.get("compile_time", 0.0)),
            cached=bool(raw.get("cached", False)),
            truncated=bool(raw.get("truncated", False)),
            message=raw.get("message"),
            session=session,
        )
    if kind == "pong":
        return Pong(t=raw.get("t"), server_time=float(raw.get("server_time", 0.0)))
    if kind == "session":
        return SessionNotice(
            session=raw["session"],
            event=raw["event"],
            seq=int(raw.get("seq", 0)),
            id=raw.get("id"),
            language=raw.get("language"),
            services=tuple(raw.get("services", ())),
            stdin_seq=_optional_int(raw.get("stdin_seq")),
        )
    if kind == "resumed":
        return Resumed(
            id=raw["id"], seq=int(raw.get("seq", 0)), stdin_seq=_optional_int(raw.get("stdin_seq"))
        )
    if kind == "error":
        return ErrorNotice(
            code=str(raw.get("code", "internal_error")),
            message=str(raw.get("message", "")),
            id=raw.get("id"),
        )
    return Unknown(raw)


def _chunk(raw: dict[str, Any]) -> tuple[str, bytes]:
    data = raw["data"]
    if raw.get("encoding") == "base64":
        try:
            payload = base64.b64decode(data)
        except binascii.Error as error:
            raise ValueError(f"bad base64 output: {error}") from error
        return payload.decode("utf-8", errors="replace"), payload
    return data, data.encode("utf-8")


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


# ---------------------------------------------------------------------------------------------
# State kept across reconnects


class SeqTracker:
    """The last ``seq`` delivered for one run or session; later duplicates are dropped."""

    def __init__(self, last: int = 0) -> None:
        self.last = last

    def accept(self, seq: int) -> bool:
        """Whether ``seq`` is new; if so it becomes the last one delivered."""
        if seq <= self.last:
            return False
        self.last = seq
        return True


@dataclass
class StdinWrite:
    """One numbered write to stdin, kept until the server confirms it was applied."""

    stdin_seq: int
    run_id: str
    data: str
    eof: bool
    #: The connection generation it was last sent on (0: never sent).
    sent_on: int = 0


@dataclass
class StdinLedger:
    """Stdin numbering for one run (one-shot) or one session (all its runs).

    Every write gets the next ``stdin_seq``. Writes stay here until a ``resumed`` reply says the
    server applied them, or their run ends; after a reconnect the ones above the server's
    ``stdin_seq`` are sent again, in order, and the server ignores any it already applied.
    """

    next_seq: int = 1
    writes: list[StdinWrite] = field(default_factory=list)

    def add(self, run_id: str, data: str, eof: bool) -> StdinWrite:
        """Number a new write."""
        write = StdinWrite(self.next_seq, run_id, data, eof)
        self.next_seq += 1
        self.writes.append(write)
        return write

    def acknowledge(self, applied: int) -> None:
        """Forget every write numbered ``applied`` or lower."""
        self.writes = [write for write in self.writes if write.stdin_seq > applied]

    def forget_run(self, run_id: str) -> None:
        """Forget the writes of a run that ended."""
        self.writes = [write for write in self.writes if write.run_id != run_id]

    def to_resend(self, applied: int | None, generation: int) -> list[StdinWrite]:
        """The writes sent on an earlier connection that must be sent again on ``generation``.

        ``applied`` is the server's ``stdin_seq``; ``None`` means the server does not number
        stdin, and then nothing already sent is repeated (at most once rather than twice).
        """
        if applied is None:
            return []
        return [
            write
            for write in self.writes
            if write.stdin_seq > applied and 0 < write.sent_on < generation
        ]


@dataclass(frozen=True)
class ReconnectPolicy:
    """How to reconnect after the connection drops.

    The n-th try waits ``min(max_delay, min_delay * factor ** (n - 1))`` seconds, spread by
    ``jitter`` (0.3 means +/-30 %), and the client gives up after ``max_retries`` tries in a row.
    """

    max_retries: int = 10
    min_delay: float = 0.1
    max_delay: float = 5.0
    factor: float = 2.0
    jitter: float = 0.3

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ConfigurationError("reconnect max_retries must be >= 0 (0 never retries)")
        if self.min_delay < 0 or self.max_delay < self.min_delay:
            raise ConfigurationError(
                "reconnect delays must satisfy 0 <= min_delay <= max_delay (seconds)"
            )
        if self.factor < 1:
            raise ConfigurationError("reconnect factor must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ConfigurationError("reconnect jitter must be between 0 and 1")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before try number ``attempt`` (1-based)."""
        base = min(self.max_delay, self.min_delay * self.factor ** max(0, attempt - 1))
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, base * (1 + spread))


class LatencyTracker:
    """Running figures of ping round trips, and the rate of frames received."""

    def __init__(self) -> None:
        self._stats = LatencyStats()
        self._total = 0.0
        self._second = 0
        self._count = 0
        self._previous = 0

    def record(self, rtt_ms: float, now: float) -> LatencyStats:
        """Add one round trip (``now``: a monotonic clock, seconds); returns a snapshot."""
        stats = self._stats
        self._total += rtt_ms
        stats.count += 1
        stats.current = rtt_ms
        stats.average = self._total / stats.count
        stats.min = rtt_ms if stats.min is None else min(stats.min, rtt_ms)
        stats.max = rtt_ms if stats.max is None else max(stats.max, rtt_ms)
        stats.history.append(rtt_ms)
        del stats.history[:-LATENCY_HISTORY]
        return self.snapshot(now)

    def message(self, now: float) -> None:
        """Count one frame received at ``now``."""
        second = int(now)
        if second != self._second:
            self._previous = self._count if second == self._second + 1 else 0
            self._second, self._count = second, 0
        self._count += 1

    def snapshot(self, now: float) -> LatencyStats:
        """The figures so far; ``messages_per_second`` counts the last whole second."""
        stats = self._stats.copy()
        second = int(now)
        if second == self._second:
            stats.messages_per_second = float(self._previous)
        elif second == self._second + 1:
            stats.messages_per_second = float(self._count)
        else:
            stats.messages_per_second = 0.0
        return stats


def build_result(run_id: str, events: Iterable[RunEvent]) -> RunResult:
    """Fold a finished run's events into its :class:`RunResult`."""
    stdout: list[str] = []
    stderr: list[str] = []
    compile_output: list[str] = []
    language = version = ""
    exit_event: ExitEvent | None = None
    for event in events:
        if isinstance(event, StartedEvent):
            language, version = event.language, event.version
        elif isinstance(event, (StdoutEvent, StderrEvent)):
            if event.stage == "compile":
                compile_output.append(event.data)
            elif isinstance(event, StdoutEvent):
                stdout.append(event.data)
            else:
                stderr.append(event.data)
        elif isinstance(event, ExitEvent):
            exit_event = event
    if exit_event is None:
        raise ValueError(f"run {run_id} has no exit event yet")
    return RunResult(
        id=run_id,
        stdout="".join(stdout),
        stderr="".join(stderr),
        exit_code=exit_event.exit_code,
        signal=exit_event.signal,
        status=exit_event.status,
        execution_time=exit_event.execution_time,
        cpu_time=exit_event.cpu_time,
        memory=exit_event.memory,
        compile_output="".join(compile_output),
        compile_time=exit_event.compile_time,
        cached=exit_event.cached,
        truncated=exit_event.truncated,
        message=exit_event.message,
        language=language,
        version=version,
    )
