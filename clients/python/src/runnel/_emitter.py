"""Callbacks by event name (``on``/``off``), plain or ``async``."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("runnel")

Callback = Callable[..., Any]


class Emitter:
    """A small event emitter: ``on(name, callback)`` and ``emit(name, *args)``.

    A callback may be a plain function or a coroutine function; coroutines are scheduled as
    tasks on the running loop. A callback that raises is logged and does not stop the others.
    """

    def __init__(self, names: frozenset[str]) -> None:
        self._names = names
        self._callbacks: dict[str, list[Callback]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def on(self, name: str, callback: Callback) -> Callback:
        """Call ``callback`` on every ``name`` event; returns it (usable as a decorator)."""
        if name not in self._names:
            known = ", ".join(sorted(self._names))
            raise ValueError(f"unknown event {name!r}: use one of {known}")
        self._callbacks.setdefault(name, []).append(callback)
        return callback

    def off(self, name: str, callback: Callback) -> None:
        """Stop calling ``callback`` on ``name``."""
        callbacks = self._callbacks.get(name, [])
        if callback in callbacks:
            callbacks.remove(callback)

    def emit(self, name: str, *args: Any) -> None:
        """Call every callback of ``name`` with ``args``."""
        for callback in list(self._callbacks.get(name, ())):
            try:
                outcome = callback(*args)
            except Exception:
                logger.exception("runnel: %s callback %r raised", name, callback)
                continue
            if inspect.isawaitable(outcome):
                task = asyncio.ensure_future(outcome)
                self._tasks.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("runnel: async callback raised", exc_info=task.exception())
