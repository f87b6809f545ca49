"""State shared by the parts of the reconnecting connection (``_connection``,
``_restore``, ``_incoming``): the registry of runs and sessions, the outbox, the requests in
flight, and the helpers they all use."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection

from . import _protocol as wire
from ._messages import ClientMessage
from .errors import RunnelError, SessionClosedError
from .session import Session

if TYPE_CHECKING:
    from ._settings import Settings
    from .client import RunnelClient
    from .run import Run

logger = logging.getLogger("runnel")

#: Requests whose error replies carry no id: answered in the order they were sent.
ANONYMOUS = ("close_session", "restart_session", "resume_session")


class Dead(Exception):
    """The current socket died while restoring."""


@dataclass
class Request:
    """A request that waits for a reply (matched by ``kind`` and ``key``)."""

    kind: str
    key: str
    message: ClientMessage
    future: asyncio.Future[Any]


@dataclass
class Item:
    """One entry of the outbox; the frame is built when it is sent."""

    build: Callable[[], ClientMessage | None]
    sent: Callable[[], None] = field(default=lambda: None)
    #: Count the frame as sent even if the socket fails while sending it (safe when a repeat
    #: is harmless or detected: numbered stdin, resumable runs, re-sent requests).
    assume_sent: bool = True
    fail: Callable[[RunnelError], None] = field(default=lambda error: None)


@dataclass(frozen=True)
class Resumed:
    """A run or session the server found again: its stdin high mark and newest seq."""

    target: Run | Session
    applied: int | None
    newest: int


class ConnectionState:
    """The data of a :class:`Connection` and the helpers its parts share."""

    def __init__(self, client: RunnelClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.state = "idle"
        self.generation = 0
        self.latency = wire.LatencyTracker()
        self.runs: dict[str, Run] = {}
        self.sessions: dict[str, Session] = {}
        self._ws: ClientConnection | None = None
        self._ready = False
        self._outbox: deque[Item] = deque()
        self._wakeup = asyncio.Event()
        self._progress = asyncio.Event()
        self._inflight: list[Request] = []
        self._pings: dict[int, tuple[float, asyncio.Future[float] | None]] = {}
        self._ping_token = 0
        self._last_frame = time.monotonic()
        self._supervisor: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._opened: asyncio.Future[None] | None = None
        self._failure: RunnelError | None = None

    def check_usable(self) -> None:
        """Raise if nothing can be sent any more."""
        if self._failure is not None:
            raise self._failure

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.client.emit("state", state)

    def enqueue(self, item: Item, *, front: bool = False) -> None:
        """Queue a frame; it goes out once connected and restored."""
        self.check_usable()
        if front:
            self._outbox.appendleft(item)
        else:
            self._outbox.append(item)
        self._wakeup.set()

    def _target(self, run: Run) -> str:
        # A session run is known by its id only on the socket that started it; after a
        # reconnect, stdin and signals go to the session (its running execute).
        if run.session is not None and run.submitted_on != self.generation:
            return run.session.id
        return run.id

    def _queue_request(self, request: Request, *, front: bool = False) -> None:
        def build() -> ClientMessage | None:
            return None if request.future.done() else request.message

        def sent() -> None:
            self._inflight.append(request)

        def fail(error: RunnelError) -> None:
            if not request.future.done():
                request.future.set_exception(error)

        self.enqueue(Item(build, sent, fail=fail), front=front)

    def _forget(self, request: Request) -> None:
        if request in self._inflight:
            self._inflight.remove(request)

    def _queue_ping(self, future: asyncio.Future[float], *, front: bool = False) -> None:
        def build() -> ClientMessage | None:
            if future.done():
                return None
            token = self._next_token()
            self._pings[token] = (time.monotonic(), future)
            return wire.ping_message(token)

        def fail(error: RunnelError) -> None:
            if not future.done():
                future.set_exception(error)

        self.enqueue(Item(build, fail=fail), front=front)

    def _next_token(self) -> int:
        self._ping_token += 1
        return self._ping_token

    def _offline_allowance(self) -> float:
        policy = self.settings.reconnect
        if policy is None:
            return 0.0
        return sum(policy.delay(n) for n in range(1, policy.max_retries + 1)) * 1.5

    def _record_latency(self, rtt: float) -> None:
        stats = self.latency.record(rtt, time.monotonic())
        self.client.emit("latency", stats)

    def _end_session(self, session: Session, reason: str) -> None:
        session.closed = True
        session.closed_reason = reason
        self.sessions.pop(session.id, None)
        self._fail_session_runs(
            session,
            SessionClosedError(
                f"session {session.id} ended ({reason}) before the run finished: "
                "create a new session with client.create_session()"
            ),
        )

    def _fail_session_runs(self, session: Session, error: RunnelError) -> None:
        for run in list(self.runs.values()):
            if run.session is session:
                self._finish_run(run, error)

    def _finish_run(self, run: Run, error: RunnelError | None) -> None:
        self.runs.pop(run.id, None)
        run.ledger.forget_run(run.id)
        if error is not None:
            run.fail(error)

    def _resolve(
        self, kind: str, key: str, value: Any, *, error: RunnelError | None = None
    ) -> bool:
        for request in self._inflight:
            if request.kind == kind and request.key == key and not request.future.done():
                self._inflight.remove(request)
                if error is not None:
                    request.future.set_exception(error)
                else:
                    request.future.set_result(value)
                return True
        return False

    def resubmit(self, run: Run) -> None:
        """Queue a run's ``execute`` again (first), followed by the stdin it was given."""

        def build() -> ClientMessage | None:
            return None if run.done else run.message

        def sent() -> None:
            run.submitted_on = self.generation

        items = [Item(build, sent, assume_sent=False)]
        for write in run.ledger.writes:
            if write.run_id == run.id and write.sent_on > 0:
                items.append(self._stdin_item(run, write))
        for item in reversed(items):
            self.enqueue(item, front=True)

    def resend_after_start(self, run: Run) -> None:
        """A session run from an earlier socket has started: send again its stdin writes
        made before (the server ignores the ones it applied)."""
        for write in reversed(run.ledger.writes):
            if write.run_id == run.id and 0 < write.sent_on < self.generation:
                self.enqueue(self._stdin_item(run, write), front=True)

    def _stdin_item(self, run: Run, write: wire.StdinWrite) -> Item:
        def build() -> ClientMessage | None:
            if run.done:
                return None
            return wire.stdin_message(
                self._target(run), write.data, eof=write.eof, stdin_seq=write.stdin_seq
            )

        def sent() -> None:
            write.sent_on = self.generation

        return Item(build, sent)
