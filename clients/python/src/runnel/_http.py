"""The REST calls (files, languages, stats) over the standard library's ``urllib``, run in a
worker thread so that the event loop never blocks."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from .errors import HINTS, HttpError


async def request(
    base: str,
    api_key: str,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    content_type: str = "application/json",
    timeout: float,
) -> bytes:
    """One HTTP call; returns the body, or raises :class:`HttpError` with the server's code."""
    return await asyncio.to_thread(
        _request, base + path, api_key, method, body, content_type, timeout
    )


async def request_json(
    base: str,
    api_key: str,
    method: str,
    path: str,
    *,
    payload: Any = None,
    timeout: float,
) -> Any:
    """A JSON call: ``payload`` is encoded, the answer decoded (``None`` for an empty body)."""
    body = None if payload is None else json.dumps(payload).encode("utf-8")
    answer = await request(base, api_key, method, path, body=body, timeout=timeout)
    return json.loads(answer) if answer else None


def file_path(session: str, name: str) -> str:
    """The URL path of one file of a session (each component quoted)."""
    return f"/api/v1/sessions/{quote(session, safe='')}/files/{quote(name, safe='/')}"


def _request(
    url: str, api_key: str, method: str, body: bytes | None, content_type: str, timeout: float
) -> bytes:
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type
    prepared = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(prepared, timeout=timeout) as response:
            data: bytes = response.read()
            return data
    except urllib.error.HTTPError as error:
        raw = error.read()
        code, message = "http_error", raw.decode("utf-8", errors="replace")
        try:
            parsed = json.loads(raw)
            code = str(parsed.get("error", code))
            message = str(parsed.get("message", message))
        except (ValueError, AttributeError):
            pass
        hint = HINTS.get(code)
        raise HttpError(error.code, code, f"{message} ({hint})" if hint else message) from None
    except (urllib.error.URLError, OSError) as error:
        raise HttpError(
            0, "unreachable", f"{method} {url} failed: {error}; check the URL and the server"
        ) from None
