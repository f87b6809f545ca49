"""One run of a program: its events (callbacks or ``async for``), its stdin, its result."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Generator
from typing import TYPE_CHECKING, Any

from ._emitter import Callback, Emitter
from ._messages import ClientExecute
from ._protocol import SeqTracker, StdinLedger, build_result
from .errors import RunnelError, StdinClosedError
from .models import ExitEvent, RunEvent, RunResult

if TYPE_CHECKING:
    from ._connection import Connection
    from .session import Session

__all__ = ["Run"]

RUN_EVENTS = frozenset({"started", "stdout", "stderr", "input_request", "exit", "event", "error"})


class Run:
    """A program running on the server (one-shot, or an execute in a :class:`Session`).

    Consume it in any of three ways, alone or together:

    - callbacks: ``run.on("stdout", lambda event: print(event.data, end=""))``;
    - ``async for event in run:`` yields every event from ``started`` to ``exit``, in order,
      even those that arrived before the loop began;
    - ``result = await run``: the :class:`RunResult` once it has ended.

    Reconnects are invisible here: the client resumes the run and drops repeated events, so
    the events are complete, in order, and never duplicated.
    """

    def __init__(
        self,
        connection: Connection,
        run_id: str,
        message: ClientExecute,
        session: Session | None,
    ) -> None:
        self._connection = connection
        self._id = run_id
        self._session = session
        self._message = message
        self._events: list[RunEvent] = []
        self._emitter = Emitter(RUN_EVENTS)
        self._changed = asyncio.Event()
        self._result: asyncio.Future[RunResult] = asyncio.get_running_loop().create_future()
        # A run whose result nobody awaits must not log "exception never retrieved".
        self._result.add_done_callback(_consume)
        self._stdin_closed = False
        #: Connection generation the ``execute`` went out on (0: not yet).
        self.submitted_on = 0
        #: Seq of a one-shot run (a session run is tracked by its session).
        self.tracker = SeqTracker()
        self.ledger: StdinLedger = session.ledger if session is not None else StdinLedger()

    # --- identity ----------------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The run id (chosen by the client: a random UUID unless given)."""
        return self._id

    @property
    def session(self) -> Session | None:
        """The session this run executes in, if any."""
        return self._session

    @property
    def message(self) -> ClientExecute:
        """The ``execute`` frame, as sent (and sent again if the server never received it)."""
        return self._message

    @property
    def done(self) -> bool:
        """Whether the run has ended (or failed)."""
        return self._result.done()

    @property
    def started(self) -> bool:
        """Whether the server has said ``started``."""
        return bool(self._events)

    @property
    def events(self) -> list[RunEvent]:
        """Every event delivered so far, in order."""
        return list(self._events)

    # --- consuming ---------------------------------------------------------------------------

    def on(self, name: str, callback: Callback) -> Callback:
        """Call ``callback(event)`` on ``started``, ``stdout``, ``stderr``, ``input_request``,
        ``exit``, or every ``event``; ``error`` gets the exception if the run fails."""
        return self._emitter.on(name, callback)

    def off(self, name: str, callback: Callback) -> None:
        """Remove a callback."""
        self._emitter.off(name, callback)

    async def __aiter__(self) -> AsyncIterator[RunEvent]:
        index = 0
        while True:
            while index < len(self._events):
                event = self._events[index]
                index += 1
                yield event
            if self._result.done():
                error = self._result.exception()
                if error is not None:
                    raise error
                return
            self._changed.clear()
            await self._changed.wait()

    async def result(self, timeout: float | None = None) -> RunResult:
        """The outcome once the run has ended; ``timeout`` bounds the wait (seconds)."""
        if timeout is None:
            return await asyncio.shield(self._result)
        return await asyncio.wait_for(asyncio.shield(self._result), timeout)

    def __await__(self) -> Generator[Any, None, RunResult]:
        return self.result().__await__()

    # --- stdin and signals --------------------------------------------------------------------

    def write(self, data: str) -> None:
        """Queue ``data`` for the program's stdin (delivered exactly once, across reconnects).

        For ``input()`` in a session, write one line ending in ``\\n``.
        """
        if self._stdin_closed:
            raise StdinClosedError(
                f"stdin of run {self._id} is closed: write everything before close_stdin()"
            )
        if not isinstance(data, str):
            raise TypeError("run.write() takes text (str); decode bytes first")
        self._connection.send_stdin(self, data, eof=False)

    def close_stdin(self) -> None:
        """Close the program's stdin (it reads end-of-file). Later writes raise."""
        if self._stdin_closed:
            return
        self._stdin_closed = True
        self._connection.send_stdin(self, "", eof=True)

    def interrupt(self) -> None:
        """Send ``SIGINT`` (a session keeps its state: Python raises ``KeyboardInterrupt``)."""
        self.signal("SIGINT")

    def kill(self) -> None:
        """Send ``SIGKILL``."""
        self.signal("SIGKILL")

    def signal(self, name: str) -> None:
        """Send a signal by name: ``SIGINT``, ``SIGTERM``, ``SIGKILL``, ``SIGHUP``, ..."""
        self._connection.send_signal(self, name)

    # --- fed by the connection ----------------------------------------------------------------

    def deliver(self, event: RunEvent) -> None:
        """Record one new event (already de-duplicated) and tell its listeners."""
        if self._result.done():
            return
        self._events.append(event)
        self._changed.set()
        self._emitter.emit(event.type, event)
        self._emitter.emit("event", event)
        if isinstance(event, ExitEvent):
            self._result.set_result(build_result(self._id, self._events))

    def fail(self, error: RunnelError) -> None:
        """End the run with an error (connection given up, session closed, rejected...)."""
        if self._result.done():
            return
        self._result.set_exception(error)
        self._changed.set()
        self._emitter.emit("error", error)

    def __repr__(self) -> str:
        state = "done" if self.done else ("running" if self.started else "pending")
        return f"<Run {self._id} {state}>"


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


OnEvent = Callable[[RunEvent], Any]
