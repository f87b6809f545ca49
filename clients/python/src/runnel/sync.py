"""A blocking wrapper for scripts and notebooks: the asyncio client runs on a private event
loop in a background thread, so it works where a loop already runs (Jupyter) and where none
does (a plain script).

```python
with runnel.connect_sync() as client:
    print(client.run("print(6 * 7)", language="python").stdout)
```
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar

from ._emitter import Callback
from ._protocol import ReconnectPolicy
from .client import RunnelClient
from .models import FileEntry, LatencyStats, Limits, RunEvent, RunResult
from .run import Run
from .session import FileContent, Session

__all__ = ["SyncClient", "SyncRun", "SyncSession", "connect_sync"]

T = TypeVar("T")


class _LoopThread:
    """An event loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="runnel", daemon=True)
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call_soon(self, function: Any, *args: Any) -> None:
        async def invoke() -> None:
            function(*args)

        self.call(invoke())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()


class SyncRun:
    """A :class:`Run` driven from blocking code: iterate it, or call :meth:`result`.

    Callbacks registered with :meth:`on` run in the client's background thread.
    """

    def __init__(self, loop: _LoopThread, run: Run) -> None:
        self._loop = loop
        self._run = run

    @property
    def id(self) -> str:
        """The run id."""
        return self._run.id

    def __iter__(self) -> Iterator[RunEvent]:
        iterator = self._run.__aiter__()

        async def step() -> RunEvent | None:
            try:
                return await iterator.__anext__()
            except StopAsyncIteration:
                return None

        while (event := self._loop.call(step())) is not None:
            yield event

    def result(self, timeout: float | None = None) -> RunResult:
        """Block until the run ends; ``timeout`` in seconds."""
        return self._loop.call(self._run.result(timeout))

    def on(self, name: str, callback: Callback) -> Callback:
        """Like :meth:`Run.on`."""
        return self._run.on(name, callback)

    def write(self, data: str) -> None:
        """Like :meth:`Run.write`."""
        self._loop.call_soon(self._run.write, data)

    def close_stdin(self) -> None:
        """Like :meth:`Run.close_stdin`."""
        self._loop.call_soon(self._run.close_stdin)

    def interrupt(self) -> None:
        """Like :meth:`Run.interrupt`."""
        self._loop.call_soon(self._run.interrupt)

    def signal(self, name: str) -> None:
        """Like :meth:`Run.signal`."""
        self._loop.call_soon(self._run.signal, name)


class SyncSession:
    """A :class:`Session` driven from blocking code; ``with`` closes it."""

    def __init__(self, loop: _LoopThread, session: Session) -> None:
        self._loop = loop
        self._session = session

    @property
    def id(self) -> str:
        """The session id."""
        return self._session.id

    @property
    def services(self) -> tuple[str, ...]:
        """Terminal services."""
        return self._session.services

    def execute(self, code: str, **options: Any) -> SyncRun:
        """Like :meth:`Session.execute`."""

        async def start() -> Run:
            return self._session.execute(code, **options)

        return SyncRun(self._loop, self._loop.call(start()))

    def run(self, code: str, **options: Any) -> RunResult:
        """Execute and wait for the result."""
        return self.execute(code, **options).result()

    def restart(self) -> None:
        """Like :meth:`Session.restart`."""
        self._loop.call(self._session.restart())

    def close(self) -> None:
        """Like :meth:`Session.close`."""
        self._loop.call(self._session.close())

    def upload_files(
        self, files: Mapping[str, FileContent] | Iterable[tuple[str, FileContent]]
    ) -> None:
        """Like :meth:`Session.upload_files`."""
        self._loop.call(self._session.upload_files(files))

    def list_files(self) -> list[FileEntry]:
        """Like :meth:`Session.list_files`."""
        return self._loop.call(self._session.list_files())

    def download_file(self, name: str) -> bytes:
        """Like :meth:`Session.download_file`."""
        return self._loop.call(self._session.download_file(name))

    def __enter__(self) -> SyncSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class SyncClient:
    """A blocking :class:`RunnelClient`: same settings, same reconnects; ``with`` closes it."""

    def __init__(self, url: str | None = None, api_key: str | None = None, **options: Any):
        self._loop = _LoopThread()
        try:

            async def start() -> RunnelClient:
                return await RunnelClient(url, api_key, **options).connect()

            self._client = self._loop.call(start())
        except BaseException:
            self._loop.stop()
            raise

    @property
    def client(self) -> RunnelClient:
        """The asyncio client underneath (use it only on its own loop)."""
        return self._client

    @property
    def state(self) -> str:
        """Like :attr:`RunnelClient.state`."""
        return self._client.state

    @property
    def latency(self) -> LatencyStats:
        """Like :attr:`RunnelClient.latency`."""
        return self._client.latency

    def on(self, name: str, callback: Callback) -> Callback:
        """Like :meth:`RunnelClient.on` (callbacks run in the background thread)."""
        return self._client.on(name, callback)

    def execute(self, code: str | None = None, **options: Any) -> SyncRun:
        """Like :meth:`RunnelClient.execute`."""

        async def start() -> Run:
            return self._client.execute(code, **options)

        return SyncRun(self._loop, self._loop.call(start()))

    def run(self, code: str, *, language: str, **options: Any) -> RunResult:
        """Execute and wait for the result."""
        return self.execute(code, language=language, **options).result()

    def create_session(
        self, language: str, *, limits: Limits | None = None, idle_timeout: int | None = None
    ) -> SyncSession:
        """Like :meth:`RunnelClient.create_session`."""
        session = self._loop.call(
            self._client.create_session(language, limits=limits, idle_timeout=idle_timeout)
        )
        return SyncSession(self._loop, session)

    def ping(self) -> float:
        """Like :meth:`RunnelClient.ping`."""
        return self._loop.call(self._client.ping())

    def languages(self) -> list[dict[str, Any]]:
        """Like :meth:`RunnelClient.languages`."""
        return self._loop.call(self._client.languages())

    def stats(self) -> dict[str, Any]:
        """Like :meth:`RunnelClient.stats`."""
        return self._loop.call(self._client.stats())

    def close(self) -> None:
        """Close the connection and stop the background loop."""
        if self._loop.loop.is_closed():
            return
        try:
            self._loop.call(self._client.close(), timeout=10)
        finally:
            self._loop.stop()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def connect_sync(
    url: str | None = None,
    api_key: str | None = None,
    *,
    reconnect: ReconnectPolicy | bool | None = None,
    **options: Any,
) -> SyncClient:
    """A connected :class:`SyncClient` (``url``/``api_key`` default to the environment)."""
    return SyncClient(url, api_key, reconnect=reconnect, **options)
