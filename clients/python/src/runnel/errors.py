"""Exceptions of the Runnel SDK.

Every exception is a :class:`RunnelError` with a ``code``: the protocol's error code when the
server sent one (``unauthorized``, ``not_found``, ``resume_gap``, ...), or a code of the SDK's
own (``configuration``, ``connection_lost``, ``closed``, ...). Messages say what to change.

A program that fails (compile error, non-zero exit, timeout) is *not* an exception: it is a
:class:`runnel.RunResult` whose ``status`` says so.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ClientClosedError",
    "ConfigurationError",
    "ConnectionLostError",
    "HttpError",
    "ResumeGapError",
    "RunLostError",
    "RunnelError",
    "ServerError",
    "SessionClosedError",
    "StdinClosedError",
]


class RunnelError(Exception):
    """The root of every error the SDK raises."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        """The message, for a person."""
        return str(self.args[0]) if self.args else ""


class ConfigurationError(RunnelError):
    """A setting is missing or malformed (URL, API key, reconnect policy, ...)."""

    code = "configuration"


class AuthenticationError(RunnelError):
    """The server rejected the API key."""

    code = "unauthorized"


class ConnectionLostError(RunnelError):
    """The connection is gone and the client gave up reconnecting (or reconnects are off)."""

    code = "connection_lost"


class ClientClosedError(RunnelError):
    """The client was closed by the caller; nothing more can be sent through it."""

    code = "closed"


class ServerError(RunnelError):
    """The server answered a request with a protocol error (``bad_request``, ``not_found``, ...).

    ``server_message`` is the server's own text; the exception's message adds what to change.
    """

    def __init__(self, code: str, server_message: str, hint: str = "") -> None:
        text = f"{code}: {server_message}"
        if hint:
            text = f"{text} ({hint})"
        super().__init__(text, code=code)
        self.server_message = server_message


class RunLostError(RunnelError):
    """A run could not be resumed after a reconnect: its events are gone."""

    code = "run_lost"


class ResumeGapError(RunnelError):
    """A session's replay buffer no longer holds the events a run missed while offline."""

    code = "resume_gap"


class SessionClosedError(RunnelError):
    """The session is closed (by the caller, by its idle timeout, or by a server shutdown)."""

    code = "session_closed"


class StdinClosedError(RunnelError):
    """A write came after ``close_stdin()`` for the same run."""

    code = "stdin_closed"


class HttpError(RunnelError):
    """An HTTP call of the REST API failed (files, languages, stats)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}", code=code)
        self.status = status


#: What to change, for the protocol's error codes that a caller can fix.
HINTS: dict[str, str] = {
    "unauthorized": "check the API key: pass api_key=... or set RUNNEL_API_KEY "
    "(`runnel keys create` prints a new one)",
    "unknown_language": "use a language id from `await client.languages()` such as 'python'",
    "payload_too_large": "send less code or smaller files, or raise the server's --max-frame-bytes",
    "rate_limited": "slow down, or raise the key's rate limit",
    "concurrency_limit": "wait for running programs to finish, or raise the key's concurrency",
    "session_limit": "close sessions you no longer need (session.close()), or raise max_sessions",
    "not_found": "the id is unknown to the server: it may have expired or belong to another key",
    "conflict": "use a new run id: this one is still in flight",
    "bad_request": "the SDK sent something the server does not accept; check the arguments",
    "unavailable": "the server is shutting down or overloaded; retry later",
}


def server_error(code: str, message: str) -> ServerError:
    """A :class:`ServerError` (or a more precise subclass) for a protocol error."""
    if code in ("unauthorized", "forbidden"):
        # `forbidden`: the server's message names the fix (an operator key).
        return _AuthServerError(code, message, HINTS.get(code, ""))
    if code == "resume_gap":
        return _GapServerError(code, message, "the run's missed output is gone")
    return ServerError(code, message, HINTS.get(code, ""))


class _AuthServerError(ServerError, AuthenticationError):
    pass


class _GapServerError(ServerError, ResumeGapError):
    pass
