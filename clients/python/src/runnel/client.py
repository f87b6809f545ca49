"""The asyncio client: :class:`RunnelClient` and :func:`connect`."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator, Generator, Iterable, Mapping
from types import TracebackType
from typing import Any

from . import _http
from . import _protocol as wire
from ._connection import Connection
from ._emitter import Callback, Emitter
from ._messages import FileSpec
from ._protocol import ReconnectPolicy
from ._settings import Settings, resolve
from .errors import ConfigurationError, ConnectionLostError, RunnelError
from .models import LatencyStats, Limits, RunResult
from .run import Run
from .session import FileContent, Session

__all__ = ["Connect", "RunnelClient", "connect"]

CLIENT_EVENTS = frozenset(
    {"state", "connecting", "reconnecting", "reconnected", "giveup", "latency"}
)


class RunnelClient:
    """One persistent, self-healing connection to a Runnel server.

    Settings resolve per call > client > environment: ``url`` (or ``RUNNEL_URL``, default
    ``ws://127.0.0.1:8080/ws``; ``http://`` works too) and ``api_key`` (or ``RUNNEL_API_KEY``).
    ``limits`` and ``request_timeout`` given here are defaults that each call may override.

    Events (``client.on(name, callback)``): ``state`` (``"connecting"``, ``"open"``,
    ``"reconnecting"``, ``"closed"``), ``connecting``, ``reconnecting``
    (:class:`ReconnectInfo`), ``reconnected`` (:class:`ReconnectedInfo`), ``giveup``
    (:class:`GiveUpInfo`), ``latency`` (:class:`LatencyStats`, after every pong).
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        reconnect: ReconnectPolicy | bool | None = None,
        ping_interval: float | None = None,
        pong_timeout: float | None = None,
        request_timeout: float | None = None,
        open_timeout: float | None = None,
        limits: Limits | None = None,
    ) -> None:
        self._settings: Settings = resolve(
            url=url,
            api_key=api_key,
            reconnect=reconnect,
            ping_interval=ping_interval,
            pong_timeout=pong_timeout,
            request_timeout=request_timeout,
            open_timeout=open_timeout,
        )
        self._limits = limits
        self._emitter = Emitter(CLIENT_EVENTS)
        self._connection: Connection | None = None

    # --- settings ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The WebSocket URL."""
        return self._settings.endpoints.ws_url

    @property
    def http_base(self) -> str:
        """The base of the REST API (``http://HOST:PORT``)."""
        return self._settings.endpoints.http_base

    @property
    def api_key(self) -> str:
        """The API key in use."""
        return self._settings.api_key

    def request_timeout(self, override: float | None = None) -> float:
        """The timeout of a call: its own if given, else the client's."""
        return self._settings.request_timeout if override is None else override

    # --- connection ----------------------------------------------------------------------------

    async def connect(self) -> RunnelClient:
        """Open the connection; returns once open and authenticated."""
        if self._connection is None:
            self._connection = Connection(self, self._settings)
        await self._connection.start()
        return self

    async def close(self) -> None:
        """Close the connection for good; runs still going fail with ``ClientClosedError``."""
        if self._connection is not None:
            await self._connection.close()

    async def __aenter__(self) -> RunnelClient:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def state(self) -> str:
        """``idle``, ``connecting``, ``open``, ``reconnecting`` or ``closed``."""
        return "idle" if self._connection is None else self._connection.state

    @property
    def latency(self) -> LatencyStats:
        """Round-trip figures so far (milliseconds): current, average, min, max, history,
        and the frames received per second."""
        return self._conn.latency.snapshot(time.monotonic())

    def on(self, name: str, callback: Callback) -> Callback:
        """Call ``callback`` on a client event (see the class docs); usable as a decorator."""
        return self._emitter.on(name, callback)

    def off(self, name: str, callback: Callback) -> None:
        """Remove a callback."""
        self._emitter.off(name, callback)

    def emit(self, name: str, *args: Any) -> None:
        """Tell the listeners of ``name`` (used by the connection)."""
        self._emitter.emit(name, *args)

    async def ping(self) -> float:
        """One ``ping``/``pong`` round trip, in milliseconds."""
        return await self._conn.ping()

    @property
    def _conn(self) -> Connection:
        if self._connection is None:
            raise ConnectionLostError(
                "the client is not connected: use `async with runnel.connect(...)` "
                "or `await client.connect()` first"
            )
        return self._connection

    # --- runs ----------------------------------------------------------------------------------

    def execute(
        self,
        code: str | None = None,
        *,
        language: str | None = None,
        files: Mapping[str, FileContent] | None = None,
        stdin: str | None = None,
        args: Iterable[str] | None = None,
        version: str | None = None,
        limits: Limits | None = None,
        timeout: float | None = None,
        run_id: str | None = None,
        session: Session | None = None,
    ) -> Run:
        """Start a run and return it at once (events stream as the program writes).

        ``code`` is the program (or give ``files``, the first being the main file);
        ``language`` is required outside a session. ``timeout`` is the wall limit in seconds.
        """
        connection = self._conn
        connection.check_usable()
        if session is None and not language:
            raise ConfigurationError(
                "execute() needs language=...: a language id such as 'python' "
                "(see `await client.languages()`)"
            )
        if code is None and not files:
            raise ConfigurationError("execute() needs code=... or files={name: content}")
        chosen = limits or self._limits
        run_id = run_id or str(uuid.uuid4())
        message = wire.execute_message(
            run_id,
            language=language,
            code=code,
            files=_files_to_wire(files) if files else None,
            stdin=stdin,
            args=list(args) if args is not None else None,
            version=version,
            limits=chosen.to_wire() if chosen is not None else None,
            timeout=timeout,
            session=session.id if session is not None else None,
        )
        run = Run(connection, run_id, message, session)
        connection.submit(run)
        return run

    async def run(self, code: str, *, language: str, **options: Any) -> RunResult:
        """``execute`` and wait for the :class:`RunResult`."""
        return await self.execute(code, language=language, **options)

    # --- sessions ------------------------------------------------------------------------------

    async def create_session(
        self,
        language: str,
        *,
        limits: Limits | None = None,
        idle_timeout: int | None = None,
    ) -> Session:
        """A new session (a sandbox whose interpreter keeps its state across executes)."""
        connection = self._conn
        chosen = limits or self._limits
        request_id = str(uuid.uuid4())
        message = wire.create_session_message(
            request_id,
            language,
            limits=chosen.to_wire() if chosen is not None else None,
            idle_timeout=idle_timeout,
        )
        notice = await connection.request("create_session", request_id, message)
        return connection.register_session(notice)

    # --- REST ----------------------------------------------------------------------------------

    async def languages(self, *, timeout: float | None = None) -> list[dict[str, Any]]:
        """Installed languages: ``id``, ``name``, ``version``, ``aliases``, ``compiled``, ..."""
        answer: list[dict[str, Any]] = await _http.request_json(
            self.http_base,
            self.api_key,
            "GET",
            "/api/v1/languages",
            timeout=self.request_timeout(timeout),
        )
        return answer

    async def stats(self, *, timeout: float | None = None) -> dict[str, Any]:
        """Server figures: uptime, executions, connections, sessions, languages (an operator key
        only: `runnel keys create --scope operator`; others get `HttpError` `forbidden`)."""
        answer: dict[str, Any] = await _http.request_json(
            self.http_base,
            self.api_key,
            "GET",
            "/api/v1/stats",
            timeout=self.request_timeout(timeout),
        )
        return answer


def _files_to_wire(files: Mapping[str, FileContent]) -> list[FileSpec]:
    wire_files: list[FileSpec] = []
    for name, content in files.items():
        if isinstance(content, bytes):
            encoded = base64.b64encode(content).decode("ascii")
            wire_files.append({"name": name, "content": encoded, "encoding": "base64"})
        else:
            wire_files.append({"name": name, "content": content})
    return wire_files


class Connect:
    """What :func:`connect` returns: ``await`` it, ``async with`` it, or ``async for`` over it.

    - ``client = await connect(...)``: a connected client (close it yourself);
    - ``async with connect(...) as client:``: closed at the end of the block;
    - ``async for client in connect(...):``: a connected client per iteration; if the client
      gives up reconnecting, the next iteration connects a fresh one (after the usual
      backoff), for services that must never stop. ``break`` ends it.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._client: RunnelClient | None = None

    def _new(self) -> RunnelClient:
        return RunnelClient(**self._options)

    def __await__(self) -> Generator[Any, None, RunnelClient]:
        return self._new().connect().__await__()

    async def __aenter__(self) -> RunnelClient:
        self._client = await self._new().connect()
        return self._client

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.close()

    async def __aiter__(self) -> AsyncIterator[RunnelClient]:
        policy = self._new()._settings.reconnect or ReconnectPolicy(max_retries=0)
        failures = 0
        while True:
            client = self._new()
            try:
                await client.connect()
            except (ConnectionLostError, OSError) as error:
                failures += 1
                if failures > max(policy.max_retries, 1):
                    raise error
                await asyncio.sleep(policy.delay(failures))
                continue
            except RunnelError:
                raise
            failures = 0
            try:
                yield client
            finally:
                await client.close()


def connect(
    url: str | None = None,
    api_key: str | None = None,
    *,
    reconnect: ReconnectPolicy | bool | None = None,
    ping_interval: float | None = None,
    pong_timeout: float | None = None,
    request_timeout: float | None = None,
    open_timeout: float | None = None,
    limits: Limits | None = None,
) -> Connect:
    """Connect to Runnel: ``async with runnel.connect() as client: ...``.

    ``url`` and ``api_key`` default to ``RUNNEL_URL`` and ``RUNNEL_API_KEY``.
    """
    return Connect(
        url=url,
        api_key=api_key,
        reconnect=reconnect,
        ping_interval=ping_interval,
        pong_timeout=pong_timeout,
        request_timeout=request_timeout,
        open_timeout=open_timeout,
        limits=limits,
    )
