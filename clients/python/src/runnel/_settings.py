"""Settings, resolved per call > client > environment (``RUNNEL_URL``, ``RUNNEL_API_KEY``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ._protocol import ReconnectPolicy
from .errors import ConfigurationError

#: Where a client connects when neither ``url=`` nor ``RUNNEL_URL`` says otherwise.
DEFAULT_URL = "ws://127.0.0.1:8080/ws"
#: Seconds between the client's own ``ping`` frames (the dead-connection detector).
DEFAULT_PING_INTERVAL = 1.0
#: Seconds without a ``pong`` after which the connection counts as dead.
DEFAULT_PONG_TIMEOUT = 5.0
#: Seconds an HTTP call or a request/reply on the socket may take.
DEFAULT_REQUEST_TIMEOUT = 30.0
#: Seconds the WebSocket opening handshake may take.
DEFAULT_OPEN_TIMEOUT = 10.0


@dataclass(frozen=True)
class Endpoints:
    """The WebSocket URL and the HTTP base derived from one user-given URL."""

    ws_url: str
    http_base: str


def endpoints(url: str) -> Endpoints:
    """Accept ``ws(s)://host[:port][/ws]`` or ``http(s)://host[:port]`` and derive both."""
    parts = urlsplit(url.strip())
    schemes = {"ws": ("ws", "http"), "wss": ("wss", "https"), "http": ("ws", "http")}
    schemes["https"] = ("wss", "https")
    if parts.scheme not in schemes or not parts.netloc:
        raise ConfigurationError(
            f"invalid Runnel URL {url!r}: use ws://HOST:PORT/ws or http://HOST:PORT "
            "(as `runnel serve` prints it)"
        )
    ws_scheme, http_scheme = schemes[parts.scheme]
    path = parts.path.rstrip("/")
    base_path = path.removesuffix("/ws")
    ws_url = urlunsplit((ws_scheme, parts.netloc, base_path + "/ws", parts.query, ""))
    http_base = urlunsplit((http_scheme, parts.netloc, base_path, "", ""))
    return Endpoints(ws_url=ws_url, http_base=http_base)


@dataclass(frozen=True)
class Settings:
    """A client's resolved settings."""

    endpoints: Endpoints
    api_key: str
    reconnect: ReconnectPolicy | None
    ping_interval: float
    pong_timeout: float
    request_timeout: float
    open_timeout: float


def resolve(
    *,
    url: str | None,
    api_key: str | None,
    reconnect: ReconnectPolicy | bool | None,
    ping_interval: float | None,
    pong_timeout: float | None,
    request_timeout: float | None,
    open_timeout: float | None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Arguments first, then the environment, then the defaults."""
    env = os.environ if environ is None else environ
    chosen_url = url or env.get("RUNNEL_URL") or DEFAULT_URL
    chosen_key = api_key or env.get("RUNNEL_API_KEY")
    if not chosen_key:
        raise ConfigurationError(
            "no API key: pass api_key=... or set RUNNEL_API_KEY "
            "(`runnel keys create --data-dir DIR` prints one)"
        )
    if reconnect is None or reconnect is True:
        policy: ReconnectPolicy | None = ReconnectPolicy()
    elif reconnect is False:
        policy = None
    else:
        policy = reconnect
    settings = Settings(
        endpoints=endpoints(chosen_url),
        api_key=chosen_key,
        reconnect=policy,
        ping_interval=DEFAULT_PING_INTERVAL if ping_interval is None else ping_interval,
        pong_timeout=DEFAULT_PONG_TIMEOUT if pong_timeout is None else pong_timeout,
        request_timeout=DEFAULT_REQUEST_TIMEOUT if request_timeout is None else request_timeout,
        open_timeout=DEFAULT_OPEN_TIMEOUT if open_timeout is None else open_timeout,
    )
    for name in ("ping_interval", "pong_timeout", "request_timeout", "open_timeout"):
        if getattr(settings, name) <= 0:
            raise ConfigurationError(f"{name} must be a positive number of seconds")
    return settings
