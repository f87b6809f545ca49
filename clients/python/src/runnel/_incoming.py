"""Frames from the server: events to their runs (de-duplicated by ``seq``), replies to
their requests, pongs to the latency figures."""

from __future__ import annotations

import logging
import time

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from . import _protocol as wire
from ._state import ANONYMOUS, ConnectionState
from .errors import server_error
from .models import ExitEvent, InputRequestEvent, StartedEvent, StderrEvent, StdoutEvent

logger = logging.getLogger("runnel")


class Incoming(ConnectionState):
    """The reading side of a :class:`Connection`."""

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                self._last_frame = now = time.monotonic()
                self.latency.message(now)
                try:
                    message = wire.decode(frame)
                except wire.ProtocolError as error:
                    logger.warning("runnel: ignoring a frame: %s", error)
                    continue
                self._dispatch(message)
                self._progress.set()
        except ConnectionClosed:
            pass

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
        if (
            isinstance(event, StartedEvent)
            and run.session is not None
            and 0 < run.submitted_on < self.generation
        ):
            self.resend_after_start(run)
        if isinstance(event, ExitEvent):
            self._finish_run(run, None)

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
        elif notice.event in ("expired", "shutdown", "cpu_limit", "lost") and session is not None:
            self._end_session(session, notice.event)

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
            if request.kind in ANONYMOUS and not request.future.done():
                self._inflight.remove(request)
                if request.kind == "resume_session":
                    request.future.set_result(notice)
                else:
                    request.future.set_exception(error)
                return
        logger.warning("runnel: server error: %s", error)
