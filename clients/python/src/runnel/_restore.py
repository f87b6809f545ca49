"""Restoring after a (re)connect: ``resume`` every attached session and live run, wait
for the replays, re-send unapplied stdin, submit again what never arrived."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection

from . import _protocol as wire
from ._messages import ClientMessage
from ._state import ConnectionState, Dead, Request, Resumed
from .errors import ResumeGapError, RunLostError, RunnelError
from .session import Session

if TYPE_CHECKING:
    from .run import Run

logger = logging.getLogger("runnel")

#: Seconds between the checks that tell a lost session execute from a queued one.
LOST_EXECUTE_CHECK = 0.3


class Restoring(ConnectionState):
    """The restore step of a :class:`Connection`."""

    async def _restore(self, ws: ClientConnection, reader: asyncio.Task[None]) -> None:
        generation = self.generation
        waits: list[tuple[str, Run | Session, Request]] = []
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
        resumed: list[Resumed] = []
        for _, target, request in waits:
            reply = await self._await(request.future, reader)
            outcome: str | Resumed | None
            if isinstance(target, Session):
                outcome = await self._restore_session(ws, reader, target, reply)
            else:
                outcome = self._restore_run(target, reply)
                if outcome == "resubmit":
                    resubmit.append(target)
            if isinstance(outcome, Resumed):
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

    async def _resend_stdin(self, ws: ClientConnection, stream: Resumed, generation: int) -> None:
        """Send again, in order, the writes the server has not applied."""
        ledger = stream.target.ledger
        for write in ledger.to_resend(stream.applied, generation):
            run = self.runs.get(write.run_id)
            if run is None or run.done:
                continue
            if run.session is not None and not run.started:
                # Only the session's running execute can be addressed from a new socket: this
                # run's writes go again once it starts (see `Incoming._on_event`).
                continue
            message = wire.stdin_message(
                self._target(run), write.data, eof=write.eof, stdin_seq=write.stdin_seq
            )
            await self._send_now(ws, message)
            write.sent_on = generation
        if stream.applied is not None:
            ledger.acknowledge(stream.applied)

    def _check_unstarted_session_runs(self) -> None:
        """Session runs sent on an earlier socket that have not started may have been lost
        on the wire (the server cannot be asked about a session execute): verify in the
        background, and send again the ones the server never got."""
        suspects = [
            run
            for run in self.runs.values()
            if run.session is not None
            and 0 < run.submitted_on < self.generation
            and not run.started
        ]
        if suspects:
            task = asyncio.create_task(self._verify_session_runs(suspects))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _verify_session_runs(self, suspects: list[Run]) -> None:
        # A lost execute shows as a session with nothing running and no new events while
        # our run has not started; asked twice, some time apart, since a queued execute
        # starts the moment the previous one ends.
        generation = self.generation
        for session in {run.session for run in suspects if run.session is not None}:
            runs = [run for run in suspects if run.session is session]
            quiet = 0
            while quiet < 2:
                await asyncio.sleep(LOST_EXECUTE_CHECK)
                runs = [run for run in runs if not run.started and not run.done]
                if not runs or generation != self.generation or session.closed:
                    break
                try:
                    info = await session.info()
                except RunnelError:
                    break
                idle = info.get("running") is None and info.get("seq") == session.tracker.last
                quiet = quiet + 1 if idle else 0
            else:
                for run in runs:
                    logger.info("runnel: run %s was lost on the wire; sending it again", run.id)
                    self.resubmit(run)

    def _direct_request(self, kind: str, key: str, message: ClientMessage) -> Request:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        return Request(kind, key, message, future)

    async def _send_now(self, ws: ClientConnection, message: ClientMessage) -> None:
        await ws.send(wire.encode(message))

    async def _await(self, future: asyncio.Future[Any], reader: asyncio.Task[None]) -> Any:
        waiter = asyncio.ensure_future(asyncio.shield(future))
        done, _ = await asyncio.wait(
            {waiter, reader}, timeout=self.settings.request_timeout, return_when="FIRST_COMPLETED"
        )
        if waiter not in done:
            waiter.cancel()
            raise Dead("no reply while restoring")
        return waiter.result()

    async def _await_condition(
        self, condition: Callable[[], bool], reader: asyncio.Task[None]
    ) -> None:
        deadline = time.monotonic() + self.settings.request_timeout
        while not condition():
            if reader.done():
                raise Dead("socket closed during replay")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Dead("replay did not catch up")
            self._progress.clear()
            waiter = asyncio.ensure_future(self._progress.wait())
            await asyncio.wait({waiter, reader}, timeout=remaining, return_when="FIRST_COMPLETED")
            waiter.cancel()

    async def _restore_session(
        self, ws: ClientConnection, reader: asyncio.Task[None], session: Session, reply: Any
    ) -> Resumed | None:
        if isinstance(reply, wire.SessionNotice):
            return Resumed(session, reply.stdin_seq, reply.seq)
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
                return Resumed(session, again.stdin_seq, again.seq)
        self._end_session(session, f"{reply.code}: {reply.message}")
        return None

    def _restore_run(self, run: Run, reply: Any) -> str | Resumed | None:
        if isinstance(reply, wire.Resumed):
            return Resumed(run, reply.stdin_seq, reply.seq)
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


def _caught_up(target: Run | Session, newest: int) -> Callable[[], bool]:
    def check() -> bool:
        if isinstance(target, Session):
            return target.closed or target.tracker.last >= newest
        return target.done or target.tracker.last >= newest

    return check
