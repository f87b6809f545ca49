"""The reconnecting socket under :class:`runnel.RunnelClient`.

One supervisor task owns the WebSocket. For each connection it:

1. opens the socket (``Authorization: Bearer KEY``) and checks the key with a ``ping``;
2. *restores*: ``resume`` for every attached session and every live one-shot run, waits for
   each reply and its replay (events up to the ``seq`` the reply names), re-sends the stdin
   writes the server has not applied (``stdin_seq``), and submits again any run the server
   never received;
3. then drains the outbox (everything queued while offline, in order) and sends the client's
   own ``ping`` every ``ping_interval``; no ``pong`` (nor any frame) for ``pong_timeout``
   means the connection is dead.

When the socket dies, in-flight requests go back to the front of the outbox and the
supervisor reconnects with exponential backoff and jitter, giving up after
``max_retries`` tries in a row. Events are de-duplicated by ``seq`` whatever the server does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from . import _protocol as wire
from .errors import (
    AuthenticationError,
    ClientClosedError,
    ConnectionLostError,
    ResumeGapError,
    RunLostError,
    RunnelError,
    SessionClosedError,
    server_error,
)
from .models import ExitEvent, InputRequestEvent, StartedEvent, StderrEvent, StdoutEvent
from .session import Session

if TYPE_CHECKING:
    from ._settings import Settings
    from .client import RunnelClient
    from .run import Run

logger = logging.getLogger("runnel")

#: Requests whose error replies carry no id: answered in the order they were sent.
_ANONYMOUS = ("close_session", "restart_session", "resume_session")


class _Dead(Exception):
    """The current socket died while restoring."""


@dataclass
class _Request:
    """A request that waits for a reply (matched by ``kind`` and ``key``)."""

    kind: str
    key: str
    message: dict[str, Any]
    future: asyncio.Future[Any]


@dataclass
class _Item:
    """One entry of the outbox; the frame is built when it is sent."""

    build: Callable[[], dict[str, Any] | None]
    sent: Callable[[], None] = field(default=lambda: None)
    #: Count the frame as sent even if the socket fails while sending it (safe when a repeat
    #: is harmless or detected: numbered stdin, resumable runs, re-sent requests).
    assume_sent: bool = True
    fail: Callable[[RunnelError], None] = field(default=lambda error: None)


@dataclass(frozen=True)
class _Resumed:
    """A run or session the server found again: its stdin high mark and newest seq."""

    target: Run | Session
    applied: int | None
    newest: int


@dataclass(frozen=True)
class ReconnectInfo:
    """Argument of the ``reconnecting`` event."""

    attempt: int
    delay: float
    error: BaseException


@dataclass(frozen=True)
class ReconnectedInfo:
    """Argument of the ``reconnected`` event: the try that succeeded."""

    attempt: int


@dataclass(frozen=True)
class GiveUpInfo:
    """Argument of the ``giveup`` event."""

    attempts: int
    error: RunnelError


class Connection:
    """The socket, the outbox, and the registry of live runs and attached sessions."""

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
        self._outbox: deque[_Item] = deque()
        self._wakeup = asyncio.Event()
        self._progress = asyncio.Event()
        self._inflight: list[_Request] = []
        self._pings: dict[int, tuple[float, asyncio.Future[float] | None]] = {}
        self._ping_token = 0
        self._last_frame = time.monotonic()
        self._supervisor: asyncio.Task[None] | None = None
        self._opened: asyncio.Future[None] | None = None
        self._failure: RunnelError | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (retrying per the policy); returns once open and authenticated."""
        if self._supervisor is None:
            self._opened = asyncio.get_running_loop().create_future()
            self._supervisor = asyncio.create_task(self._supervise())
        assert self._opened is not None
        await asyncio.shield(self._opened)

    async def close(self) -> None:
        """Close for good: live runs and pending requests fail with ``ClientClosedError``."""
        if self.state == "closed":
            return
        error = ClientClosedError("the client was closed: create a new one to go on")
        self._failure = error
        self._set_state("closed")
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 2)
        self._fail_everything(error)

    def check_usable(self) -> None:
        """Raise if nothing can be sent any more."""
        if self._failure is not None:
            raise self._failure

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.client.emit("state", state)

    # --- sending -------------------------------------------------------------------------------

    def enqueue(self, item: _Item, *, front: bool = False) -> None:
        """Queue a frame; it goes out once connected and restored."""
        self.check_usable()
        if front:
            self._outbox.appendleft(item)
        else:
            self._outbox.append(item)
        self._wakeup.set()

    def submit(self, run: Run) -> None:
        """Queue a run's ``execute``; it is registered at once so that no event is missed."""
        self.check_usable()
        self.runs[run.id] = run

        def sent() -> None:
            run.submitted_on = self.generation

        # A one-shot run that may not have arrived is found by `resume` (or sent again after
        # `not_found`); a session run cannot be asked about, so it counts only once sent.
        self.enqueue(
            _Item(lambda: None if run.done else run.message, sent, assume_sent=run.session is None)
        )

    def send_stdin(self, run: Run, data: str, *, eof: bool) -> None:
        """Number a stdin write, keep it until applied, and queue it."""
        if run.done:
            return
        write = run.ledger.add(run.id, data, eof)

        def build() -> dict[str, Any] | None:
            if run.done:
                return None
            return wire.stdin_message(
                self._target(run), write.data, eof=write.eof, stdin_seq=write.stdin_seq
            )

        def sent() -> None:
            write.sent_on = self.generation

        self.enqueue(_Item(build, sent))

    def send_signal(self, run: Run, name: str) -> None:
        """Queue a signal for a run."""
        if run.done:
            return
        self.enqueue(
            _Item(
                lambda: None if run.done else wire.signal_message(self._target(run), name),
                assume_sent=False,
            )
        )

    def _target(self, run: Run) -> str:
        # A session run is known by its id only on the socket that started it; after a
        # reconnect, stdin and signals go to the session (its running execute).
        if run.session is not None and run.submitted_on != self.generation:
            return run.session.id
        return run.id

    async def request(self, kind: str, key: str, message: dict[str, Any]) -> Any:
        """Send a request and wait for its reply (bounded by ``request_timeout``)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        request = _Request(kind, key, message, future)
        self._queue_request(request)
        try:
            return await asyncio.wait_for(
                asyncio.shield(future), self.settings.request_timeout + self._offline_allowance()
            )
        except asyncio.TimeoutError:
            self._forget(request)
            raise ConnectionLostError(
                f"no reply to {message['action']} within {self.settings.request_timeout} s: "
                "check that the server is up, or raise request_timeout"
            ) from None

    def _offline_allowance(self) -> float:
        policy = self.settings.reconnect
        if policy is None:
            return 0.0
        return sum(policy.delay(n) for n in range(1, policy.max_retries + 1)) * 1.5

    def _queue_request(self, request: _Request, *, front: bool = False) -> None:
        def build() -> dict[str, Any] | None:
            return None if request.future.done() else request.message

        def sent() -> None:
            self._inflight.append(request)

        def fail(error: RunnelError) -> None:
            if not request.future.done():
                request.future.set_exception(error)

        self.enqueue(_Item(build, sent, fail=fail), front=front)

    def _forget(self, request: _Request) -> None:
        if request in self._inflight:
            self._inflight.remove(request)

    async def session_request(self, action: str, session: Session) -> None:
        """``close_session`` or ``restart_session``, answered by a ``session`` event."""
        kind = action
        try:
            await self.request(kind, session.id, wire.session_action_message(action, session.id))
        except RunnelError as error:
            if action == "close_session" and error.code == "not_found":
                self._end_session(session, "closed")
                return
            raise

    async def ping(self) -> float:
        """One round trip, in milliseconds (waits for the connection if it is down)."""
        self.check_usable()
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._queue_ping(future)
        return await asyncio.wait_for(
            future, self.settings.request_timeout + self._offline_allowance()
        )

    def _queue_ping(self, future: asyncio.Future[float], *, front: bool = False) -> None:
        def build() -> dict[str, Any] | None:
            if future.done():
                return None
            token = self._next_token()
            self._pings[token] = (time.monotonic(), future)
            return wire.ping_message(token)

        def fail(error: RunnelError) -> None:
            if not future.done():
                future.set_exception(error)

        self.enqueue(_Item(build, fail=fail), front=front)

    def _next_token(self) -> int:
        self._ping_token += 1
        return self._ping_token

    # --- supervisor ----------------------------------------------------------------------------

    async def _supervise(self) -> None:
        attempt = 0
        first = True
        policy = self.settings.reconnect
        while True:
            self._set_state("connecting" if first else "reconnecting")
            if first:
                self.client.emit("connecting")
            try:
                ws = await self._open()
            except AuthenticationError as error:
                self._give_up(error, attempt + 1)
                return
            except (OSError, asyncio.TimeoutError, WebSocketException, RunnelError) as error:
                attempt += 1
                if policy is None or attempt > policy.max_retries:
                    self._give_up(self._lost(error, attempt), attempt)
                    return
                delay = policy.delay(attempt)
                self.client.emit("reconnecting", ReconnectInfo(attempt, delay, error))
                await asyncio.sleep(delay)
                continue
            self.generation += 1
            restored = await self._serve(ws, first=first, attempt=attempt)
            if restored:
                attempt = 0
                first = False
            if policy is None:
                self._give_up(
                    ConnectionLostError(
                        "the connection dropped and reconnect=False: pass a ReconnectPolicy "
                        "to reconnect automatically"
                    ),
                    attempt,
                )
                return
            attempt += 0 if restored else 1
            if attempt > policy.max_retries:
                self._give_up(self._lost(None, attempt), attempt)
                return
            delay = policy.delay(max(attempt, 1))
            self.client.emit(
                "reconnecting",
                ReconnectInfo(max(attempt, 1), delay, ConnectionLostError("connection dropped")),
            )
            self._set_state("reconnecting")
            await asyncio.sleep(delay)

    def _lost(self, error: BaseException | None, attempts: int) -> ConnectionLostError:
        detail = f": {error}" if error is not None else ""
        return ConnectionLostError(
            f"cannot reach {self.settings.endpoints.ws_url} after {attempts} tries{detail}; "
            "check that `runnel serve` runs there, or raise reconnect max_retries"
        )

    async def _open(self) -> ClientConnection:
        settings = self.settings
        try:
            ws = await connect(
                settings.endpoints.ws_url,
                additional_headers={"Authorization": f"Bearer {settings.api_key}"},
                open_timeout=settings.open_timeout,
                ping_interval=None,
                close_timeout=1,
                max_size=None,
                compression=None,
            )
        except InvalidStatus as error:
            if error.response.status_code == 401:
                raise AuthenticationError(
                    "the server rejected the API key: pass api_key=... or set RUNNEL_API_KEY "
                    "(`runnel keys create` prints a new one)"
                ) from None
            raise
        # The server says nothing to a good key: a ping proves the key was accepted.
        token = self._next_token()
        try:
            sent_at = time.monotonic()
            await ws.send(wire.encode(wire.ping_message(token)))
            frame = await asyncio.wait_for(ws.recv(), settings.pong_timeout)
        except BaseException:
            ws.transport.abort()
            raise
        reply = wire.decode(frame)
        if isinstance(reply, wire.ErrorNotice):
            ws.transport.abort()
            if reply.code == "unauthorized":
                raise AuthenticationError(
                    f"the server rejected the API key ({reply.message}): pass api_key=... or "
                    "set RUNNEL_API_KEY (`runnel keys create` prints a new one)"
                )
            raise server_error(reply.code, reply.message)
        if isinstance(reply, wire.Pong):
            self._record_latency((time.monotonic() - sent_at) * 1000)
        return ws

    async def _serve(self, ws: ClientConnection, *, first: bool, attempt: int) -> bool:
        """Use one socket until it dies; returns whether it was restored."""
        self._ws = ws
        self._last_frame = time.monotonic()
        reader = asyncio.create_task(self._read(ws))
        tasks: set[asyncio.Task[None]] = {reader}
        restored = False
        try:
            await self._restore(ws, reader)
            restored = True
            self._ready = True
            self._set_state("open")
            if first:
                if self._opened is not None and not self._opened.done():
                    self._opened.set_result(None)
            else:
                self.client.emit("reconnected", ReconnectedInfo(max(attempt, 1)))
            tasks.add(asyncio.create_task(self._write(ws)))
            tasks.add(asyncio.create_task(self._keepalive(ws)))
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except (_Dead, ConnectionClosed, OSError, asyncio.TimeoutError) as error:
            logger.debug("runnel: connection lost while restoring: %r", error)
        except RunnelError as error:
            logger.warning("runnel: restoring failed: %s", error)
        finally:
            self._ready = False
            self._ws = None
            for task in tasks:
                task.cancel()
            ws.transport.abort()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._disconnected()
        return restored

    def _disconnected(self) -> None:
        # Requests and pings in flight go out again first, in their order.
        inflight, self._inflight = self._inflight, []
        pings, self._pings = self._pings, {}
        if self._failure is not None:
            return
        for _, future in reversed(list(pings.values())):
            if future is not None and not future.done():
                self._queue_ping(future, front=True)
        for request in reversed(inflight):
            if not request.kind.startswith("resume_") and not request.future.done():
                self._queue_request(request, front=True)

    def _give_up(self, error: RunnelError, attempts: int) -> None:
        self._failure = error
        self._set_state("closed")
        self.client.emit("giveup", GiveUpInfo(attempts, error))
        if self._opened is not None and not self._opened.done():
            self._opened.set_exception(error)
            self._opened.exception()
        self._fail_everything(error)

    def _fail_everything(self, error: RunnelError) -> None:
        for run in list(self.runs.values()):
            run.fail(error)
        self.runs.clear()
        for request in self._inflight:
            if not request.future.done():
                request.future.set_exception(error)
        self._inflight.clear()
        for item in self._outbox:
            item.fail(error)
        for _, future in self._pings.values():
            if future is not None and not future.done():
                future.set_exception(error)
        self._outbox.clear()

    # --- restore after (re)connecting ------------------------------------------------------------

    async def _restore(self, ws: ClientConnection, reader: asyncio.Task[None]) -> None:
        generation = self.generation
        waits: list[tuple[str, Run | Session, _Request]] = []
        for session in list(self.sessions.values()):
            request = self._direct_request(
                "resume_session",
                session.id,
                wire.resume_session_message(session.id, session.tracker.last),
            )
            waits.append(("session", session, request))
        for run in list(self.runs.values()):
            if run.session is None and run.submitted_on > 0:
                request = self._direct_request(
                    "resume_run", run.id, wire.resume_run_message(run.id, run.tracker.last)
                )
                waits.append(("run", run, request))
        for _, _, request in waits:
            await ws.send(wire.encode(request.message))
            self._inflight.append(request)
        resubmit: list[Run] = []
        resumed: list[_Resumed] = []
        for _, target, request in waits:
            reply = await self._await(request.future, reader)
            outcome: str | _Resumed | None
            if isinstance(target, Session):
                outcome = await self._restore_session(ws, reader, target, reply)
            else:
                outcome = self._restore_run(target, reply)
                if outcome == "resubmit":
                    resubmit.append(target)
            if isinstance(outcome, _Resumed):
                resumed.append(outcome)
        # Replays: wait until each resumed stream has caught up with the reply's seq.
        for stream in resumed:
            await self._await_condition(_caught_up(stream.target, stream.newest), reader)
        for stream in resumed:
            await self._resend_stdin(ws, stream, generation)
        for run in resubmit:
            await self._send_now(ws, run.message)
            run.submitted_on = generation
            for write in run.ledger.to_resend(0, generation):
                message = wire.stdin_message(
                    run.id, write.data, eof=write.eof, stdin_seq=write.stdin_seq
                )
                await self._send_now(ws, message)
                write.sent_on = generation

    async def _resend_stdin(self, ws: ClientConnection, stream: _Resumed, generation: int) -> None:
        """Send again, in order, the writes the server has not applied."""
        ledger = stream.target.ledger
        for write in ledger.to_resend(stream.applied, generation):
            run = self.runs.get(write.run_id)
            if run is None or run.done:
                continue
            message = wire.stdin_message(
                self._target(run), write.data, eof=write.eof, stdin_seq=write.stdin_seq
            )
            await self._send_now(ws, message)
            write.sent_on = generation
        if stream.applied is not None:
            ledger.acknowledge(stream.applied)

    def _direct_request(self, kind: str, key: str, message: dict[str, Any]) -> _Request:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        return _Request(kind, key, message, future)

    async def _send_now(self, ws: ClientConnection, message: dict[str, Any]) -> None:
        await ws.send(wire.encode(message))

    async def _await(self, future: asyncio.Future[Any], reader: asyncio.Task[None]) -> Any:
        waiter = asyncio.ensure_future(asyncio.shield(future))
        done, _ = await asyncio.wait(
            {waiter, reader}, timeout=self.settings.request_timeout, return_when="FIRST_COMPLETED"
        )
        if waiter not in done:
            waiter.cancel()
            raise _Dead("no reply while restoring")
        return waiter.result()

    async def _await_condition(
        self, condition: Callable[[], bool], reader: asyncio.Task[None]
    ) -> None:
        deadline = time.monotonic() + self.settings.request_timeout
        while not condition():
            if reader.done():
                raise _Dead("socket closed during replay")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Dead("replay did not catch up")
            self._progress.clear()
            waiter = asyncio.ensure_future(self._progress.wait())
            await asyncio.wait({waiter, reader}, timeout=remaining, return_when="FIRST_COMPLETED")
            waiter.cancel()

    async def _restore_session(
        self, ws: ClientConnection, reader: asyncio.Task[None], session: Session, reply: Any
    ) -> _Resumed | None:
        if isinstance(reply, wire.SessionNotice):
            return _Resumed(session, reply.stdin_seq, reply.seq)
        assert isinstance(reply, wire.ErrorNotice)
        if reply.code == "resume_gap":
            gap = ResumeGapError(
                f"session {session.id} no longer holds the events missed while offline "
                f"({reply.message}); raise the server's --session-log-bytes"
            )
            self._fail_session_runs(session, gap)
            match = re.search(r"last_seq >= (\d+)", reply.message)
            if match is None:
                self._end_session(session, "resume_gap")
                return None
            session.tracker.last = max(session.tracker.last, int(match.group(1)))
            request = self._direct_request(
                "resume_session",
                session.id,
                wire.resume_session_message(session.id, session.tracker.last),
            )
            await ws.send(wire.encode(request.message))
            self._inflight.append(request)
            again = await self._await(request.future, reader)
            if isinstance(again, wire.SessionNotice):
                return _Resumed(session, again.stdin_seq, again.seq)
        self._end_session(session, f"{reply.code}: {reply.message}")
        return None

    def _restore_run(self, run: Run, reply: Any) -> str | _Resumed | None:
        if isinstance(reply, wire.Resumed):
            return _Resumed(run, reply.stdin_seq, reply.seq)
        assert isinstance(reply, wire.ErrorNotice)
        if reply.code == "not_found" and not run.started:
            # The execute never reached the server: send it again.
            return "resubmit"
        if reply.code == "not_found":
            message = (
                f"run {run.id} is gone from the server after a reconnect ({reply.message}); "
                "the server keeps a run for --run-grace seconds after its socket drops"
            )
        else:
            message = (
                f"run {run.id} cannot be resumed after a reconnect ({reply.code}: "
                f"{reply.message}); upgrade the server to one that resumes one-shot runs"
            )
        self._finish_run(run, RunLostError(message))
        return None

    # --- socket tasks --------------------------------------------------------------------------

    async def _write(self, ws: ClientConnection) -> None:
        while True:
            while self._outbox:
                item = self._outbox.popleft()
                frame = item.build()
                if frame is None:
                    continue
                if item.assume_sent:
                    item.sent()
                try:
                    await ws.send(wire.encode(frame))
                except BaseException:
                    if not item.assume_sent:
                        self._outbox.appendleft(item)
                    raise
                if not item.assume_sent:
                    item.sent()
            self._wakeup.clear()
            await self._wakeup.wait()

    async def _keepalive(self, ws: ClientConnection) -> None:
        interval = self.settings.ping_interval
        timeout = self.settings.pong_timeout
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            oldest = min((sent for sent, _ in self._pings.values()), default=now)
            if now - oldest > timeout and now - self._last_frame > timeout:
                logger.info("runnel: no pong for %.1f s; reconnecting", now - oldest)
                ws.transport.abort()
                return
            token = self._next_token()
            self._pings[token] = (now, None)
            await ws.send(wire.encode(wire.ping_message(token)))

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                self._last_frame = time.monotonic()
                try:
                    message = wire.decode(frame)
                except wire.ProtocolError as error:
                    logger.warning("runnel: ignoring a frame: %s", error)
                    continue
                self._dispatch(message)
                self._progress.set()
        except ConnectionClosed:
            pass

    # --- incoming ------------------------------------------------------------------------------

    def _dispatch(self, message: wire.Incoming) -> None:
        if isinstance(
            message, (StartedEvent, StdoutEvent, StderrEvent, InputRequestEvent, ExitEvent)
        ):
            self._on_event(message)
        elif isinstance(message, wire.Pong):
            self._on_pong(message)
        elif isinstance(message, wire.SessionNotice):
            self._on_session(message)
        elif isinstance(message, wire.Resumed):
            self._resolve("resume_run", message.id, message)
        elif isinstance(message, wire.ErrorNotice):
            self._on_error(message)

    def _on_event(
        self, event: StartedEvent | StdoutEvent | StderrEvent | InputRequestEvent | ExitEvent
    ) -> None:
        run = self.runs.get(event.id)
        if event.session is not None:
            session = self.sessions.get(event.session)
            if session is not None and not session.tracker.accept(event.seq):
                return
        elif run is not None and not run.tracker.accept(event.seq):
            return
        if run is None:
            return
        run.deliver(event)
        if isinstance(event, ExitEvent):
            self._finish_run(run, None)

    def _finish_run(self, run: Run, error: RunnelError | None) -> None:
        self.runs.pop(run.id, None)
        run.ledger.forget_run(run.id)
        if error is not None:
            run.fail(error)

    def _on_pong(self, pong: wire.Pong) -> None:
        if not isinstance(pong.t, int):
            return
        entry = self._pings.pop(pong.t, None)
        if entry is None:
            return
        sent_at, future = entry
        rtt = (time.monotonic() - sent_at) * 1000
        self._record_latency(rtt)
        if future is not None and not future.done():
            future.set_result(rtt)

    def _record_latency(self, rtt: float) -> None:
        stats = self.latency.record(rtt)
        self.client.emit("latency", stats)

    def _on_session(self, notice: wire.SessionNotice) -> None:
        if notice.event == "created":
            if notice.id is not None:
                self._resolve("create_session", notice.id, notice)
            return
        if notice.event == "resumed":
            self._resolve("resume_session", notice.session, notice)
            return
        session = self.sessions.get(notice.session)
        if notice.event == "restarted":
            # `restarted` is an event of the session's log (a replay may repeat it); `closed`,
            # `expired` and `shutdown` merely repeat the newest seq, and are idempotent.
            if session is not None and not session.tracker.accept(notice.seq):
                return
            self._resolve("restart_session", notice.session, notice)
        elif notice.event == "closed":
            self._resolve("close_session", notice.session, notice)
            if session is not None:
                self._end_session(session, "closed")
        elif notice.event in ("expired", "shutdown") and session is not None:
            self._end_session(session, notice.event)

    def register_session(self, notice: wire.SessionNotice) -> Session:
        """A ``created`` reply becomes an attached :class:`Session`."""
        session = Session(self, notice.session, notice.language or "", notice.services, notice.seq)
        self.sessions[session.id] = session
        return session

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

    def _on_error(self, notice: wire.ErrorNotice) -> None:
        error = server_error(notice.code, notice.message)
        if notice.id is not None:
            if self._resolve("create_session", notice.id, notice, error=error):
                return
            if self._resolve("resume_run", notice.id, notice):
                return
            run = self.runs.get(notice.id)
            if run is not None:
                # `not_found` for stdin or a signal of a run that has just ended is harmless:
                # its `exit` is on its way.
                if notice.code == "not_found" and run.started:
                    return
                self._finish_run(run, error)
                return
            logger.debug("runnel: error about %s: %s", notice.id, error)
            return
        for request in self._inflight:
            if request.kind in _ANONYMOUS and not request.future.done():
                self._inflight.remove(request)
                if request.kind == "resume_session":
                    request.future.set_result(notice)
                else:
                    request.future.set_exception(error)
                return
        logger.warning("runnel: server error: %s", error)

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


def _caught_up(target: Run | Session, newest: int) -> Callable[[], bool]:
    def check() -> bool:
        if isinstance(target, Session):
            return target.closed or target.tracker.last >= newest
        return target.done or target.tracker.last >= newest

    return check
