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

The restore step lives in ``_restore``, the reading side in ``_incoming``, and the state
they share in ``_state``; this module has the lifecycle, the sending side and the supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from . import _protocol as wire
from ._incoming import Incoming
from ._messages import ClientMessage
from ._restore import Restoring
from ._state import Dead, Item, Request
from .errors import (
    AuthenticationError,
    ClientClosedError,
    ConnectionLostError,
    RunnelError,
    server_error,
)
from .session import Session

if TYPE_CHECKING:
    from .run import Run

logger = logging.getLogger("runnel")


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


class Connection(Restoring, Incoming):
    """The socket, the outbox, and the registry of live runs and attached sessions."""

    async def start(self) -> None:
        """Connect (retrying per the policy); returns once open and authenticated."""
        if self._supervisor is None:
            self._opened = asyncio.get_running_loop().create_future()
            self._supervisor = asyncio.create_task(self._supervise())
            self._supervisor.add_done_callback(self._supervisor_ended)
        assert self._opened is not None
        await asyncio.shield(self._opened)

    def _supervisor_ended(self, task: asyncio.Task[None]) -> None:
        # The supervisor only returns after giving up; anything else is a bug, and callers
        # must hear of it instead of waiting forever.
        if task.cancelled() or self._failure is not None:
            return
        error = task.exception()
        self._give_up(
            ConnectionLostError(
                f"the connection's supervisor failed ({error!r}); this is a bug of the SDK: "
                "please report it, and create a new client to go on"
            ),
            0,
        )

    async def close(self) -> None:
        """Close for good: live runs and pending requests fail with ``ClientClosedError``."""
        if self.state == "closed":
            return
        error = ClientClosedError("the client was closed: create a new one to go on")
        self._failure = error
        self._set_state("closed")
        for task in self._background:
            task.cancel()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 2)
        self._fail_everything(error)

    def submit(self, run: Run) -> None:
        """Queue a run's ``execute``; it is registered at once so that no event is missed."""
        self.check_usable()
        self.runs[run.id] = run

        def sent() -> None:
            run.submitted_on = self.generation

        # A one-shot run that may not have arrived is found by `resume` (or sent again after
        # `not_found`); a session run cannot be asked about, so it counts only once sent.
        self.enqueue(
            Item(lambda: None if run.done else run.message, sent, assume_sent=run.session is None)
        )

    def send_stdin(self, run: Run, data: str, *, eof: bool) -> None:
        """Number a stdin write, keep it until applied, and queue it."""
        if run.done:
            return
        write = run.ledger.add(run.id, data, eof)
        self.enqueue(self._stdin_item(run, write))

    def send_signal(self, run: Run, name: str) -> None:
        """Queue a signal for a run."""
        if run.done:
            return
        self.enqueue(
            Item(
                lambda: None if run.done else wire.signal_message(self._target(run), name),
                assume_sent=False,
            )
        )

    async def request(self, kind: str, key: str, message: ClientMessage) -> Any:
        """Send a request and wait for its reply (bounded by ``request_timeout``)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        request = Request(kind, key, message, future)
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

    async def session_request(
        self, action: Literal["close_session", "restart_session"], session: Session
    ) -> None:
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

    async def _supervise(self) -> None:
        policy = self.settings.reconnect
        first = True  # no connection has been restored yet
        retries = 0  # retries since the last restored connection
        failures = 0  # failed connection attempts since then
        self._set_state("connecting")
        self.client.emit("connecting")
        while True:
            error: BaseException
            try:
                ws = await self._open()
            except AuthenticationError as rejected:
                self._give_up(rejected, failures + 1)
                return
            except (
                OSError,
                asyncio.TimeoutError,
                WebSocketException,
                RunnelError,
                wire.ProtocolError,
            ) as caught:
                failures += 1
                error = caught
            else:
                self.generation += 1
                if await self._serve(ws, first=first, attempt=retries):
                    first, retries, failures = False, 0, 0
                else:
                    failures += 1
                error = ConnectionLostError("the connection dropped")
            if policy is None:
                self._give_up(
                    self._lost(error, failures, "drop reconnect=False to reconnect by itself"),
                    failures,
                )
                return
            if retries >= policy.max_retries:
                self._give_up(
                    self._lost(error, failures, "raise the reconnect policy's max_retries"),
                    failures,
                )
                return
            retries += 1
            delay = policy.delay(retries)
            self._set_state("connecting" if first else "reconnecting")
            self.client.emit("reconnecting", ReconnectInfo(retries, delay, error))
            await asyncio.sleep(delay)

    def _lost(self, error: BaseException, attempts: int, advice: str) -> ConnectionLostError:
        return ConnectionLostError(
            f"lost {self.settings.endpoints.ws_url} and gave up after {attempts} failed "
            f"tries ({error}); check that `runnel serve` runs there, or {advice}"
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
                raise _rejected("HTTP 401") from None
            raise
        # The server says nothing to a good key: a ping proves the key was accepted. A bad
        # key gets an error and a close, which may come before the ping is even sent.
        token = self._next_token()
        sent_at = time.monotonic()
        try:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(wire.encode(wire.ping_message(token)))
            frame = await asyncio.wait_for(ws.recv(), settings.pong_timeout)
        except ConnectionClosed as closed:
            ws.transport.abort()
            if closed.rcvd is not None and closed.rcvd.reason == "unauthorized":
                raise _rejected("the server closed with `unauthorized`") from None
            raise
        except BaseException:
            ws.transport.abort()
            raise
        try:
            reply = wire.decode(frame)
        except wire.ProtocolError:
            ws.transport.abort()
            raise
        if isinstance(reply, wire.ErrorNotice):
            ws.transport.abort()
            if reply.code == "unauthorized":
                raise _rejected(reply.message)
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
            self._check_unstarted_session_runs()
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
        except (Dead, ConnectionClosed, OSError, asyncio.TimeoutError) as error:
            logger.debug("runnel: connection lost while restoring: %r", error)
        except Exception:
            # A bug must not kill the supervisor: count it as a failed try and go on.
            logger.exception("runnel: restoring the connection failed")
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

    def register_session(self, notice: wire.SessionNotice) -> Session:
        """A ``created`` reply becomes an attached :class:`Session`."""
        session = Session(self, notice.session, notice.language or "", notice.services, notice.seq)
        self.sessions[session.id] = session
        return session


def _rejected(detail: str) -> AuthenticationError:
    return AuthenticationError(
        f"the server rejected the API key ({detail}): pass api_key=... or set RUNNEL_API_KEY "
        "(`runnel keys create` prints a new one)"
    )
