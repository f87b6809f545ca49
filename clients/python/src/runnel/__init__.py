"""Runnel's Python client: run code on a Runnel server and stream its output in real time.

```python
import asyncio, runnel

async def main() -> None:
    async with runnel.connect() as client:          # RUNNEL_URL, RUNNEL_API_KEY
        result = await client.run("print('hi')", language="python")
        print(result.stdout)

asyncio.run(main())
```

# Layout

- ``client``: :class:`RunnelClient` and :func:`connect` (``await``, ``async with``, ``async for``).
- ``run`` / ``session``: :class:`Run` (events, stdin, result) and :class:`Session`.
- ``_connection``, ``_restore``, ``_incoming``, ``_state``: the reconnecting socket (resume,
  replay, stdin re-send, keepalive).
- ``_protocol``: the wire protocol without I/O (encode, decode, seq, stdin numbering, backoff).
- ``sync``: :class:`SyncClient`, a blocking wrapper for scripts and notebooks.
- ``errors`` / ``models``: exceptions (rooted at :class:`RunnelError`) and plain data.
"""

from ._connection import GiveUpInfo, ReconnectedInfo, ReconnectInfo
from ._protocol import ReconnectPolicy
from .client import Connect, RunnelClient, connect
from .errors import (
    AuthenticationError,
    ClientClosedError,
    ConfigurationError,
    ConnectionLostError,
    HttpError,
    ResumeGapError,
    RunLostError,
    RunnelError,
    ServerError,
    SessionClosedError,
    StdinClosedError,
)
from .models import (
    ExitEvent,
    FileEntry,
    InputRequestEvent,
    LatencyStats,
    Limits,
    RunEvent,
    RunResult,
    StartedEvent,
    StderrEvent,
    StdoutEvent,
)
from .run import Run
from .session import Session
from .sync import SyncClient, SyncRun, SyncSession, connect_sync

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "ClientClosedError",
    "ConfigurationError",
    "Connect",
    "ConnectionLostError",
    "ExitEvent",
    "FileEntry",
    "GiveUpInfo",
    "HttpError",
    "InputRequestEvent",
    "LatencyStats",
    "Limits",
    "ReconnectInfo",
    "ReconnectPolicy",
    "ReconnectedInfo",
    "ResumeGapError",
    "Run",
    "RunEvent",
    "RunLostError",
    "RunResult",
    "RunnelClient",
    "RunnelError",
    "ServerError",
    "Session",
    "SessionClosedError",
    "StartedEvent",
    "StderrEvent",
    "StdinClosedError",
    "StdoutEvent",
    "SyncClient",
    "SyncRun",
    "SyncSession",
    "connect",
    "connect_sync",
]
