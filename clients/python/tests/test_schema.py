"""The SDK's frames, and the frames a real server sends, hold to docs/protocol.schema.json: the
JSON Schema generated from crates/protocol, which `_messages.py` is generated from too."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from websockets.asyncio.client import connect

from runnel import _protocol as wire

from conftest import PATIENCE, REPO, Server

SCHEMA: dict[str, Any] = json.loads((REPO / "docs" / "protocol.schema.json").read_text())


def validator(name: str) -> Draft202012Validator:
    """A validator of one definition of the schema."""
    Draft202012Validator.check_schema(SCHEMA)
    return Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": SCHEMA["$defs"]})


def assert_valid(name: str, instance: Any) -> None:
    errors = sorted(validator(name).iter_errors(instance), key=str)
    assert not errors, f"{name} {instance!r}: " + "; ".join(error.message for error in errors)


def test_every_frame_the_sdk_builds_is_a_client_message() -> None:
    frames: list[Any] = [
        wire.execute_message(
            "run-1",
            language="python",
            code="print(1)",
            files=[{"name": "data.txt", "content": "aGk=", "encoding": "base64"}],
            stdin="x\n",
            args=["a"],
            version="3",
            limits={"wall_ms": 5000, "memory_mb": 256, "pids": 16},
            timeout=2.5,
            session="s-1",
        ),
        wire.execute_message("run-2", language=None, code="1 + 1", session="s-1"),
        wire.stdin_message("run-1", "line\n", eof=True, stdin_seq=3),
        wire.signal_message("run-1", "SIGINT"),
        wire.ping_message(17),
        wire.create_session_message("corr-1", "python", limits={"cpu_ms": 1000}, idle_timeout=60),
        wire.session_action_message("close_session", "s-1"),
        wire.session_action_message("restart_session", "s-1"),
        wire.resume_run_message("run-1", 4),
        wire.resume_session_message("s-1", 9),
    ]
    for frame in frames:
        assert_valid("ClientMessage", frame)


@pytest.mark.parametrize(
    ("name", "instance"),
    [
        ("ClientMessage", {"action": "execute", "limits": {"walltime": 5}}),
        ("ClientMessage", {"action": "execute", "limits": {"pids": 0}}),
        ("ClientMessage", {"action": "stdin", "data": "x"}),
        ("ClientMessage", {"action": "launch"}),
        ("ServerMessage", {"type": "stdout", "id": "r", "data": "x"}),
        ("ServerMessage", {"type": "exit", "id": "r", "status": "exploded", "seq": 1}),
    ],
)
def test_the_schema_refuses_what_the_server_refuses(name: str, instance: Any) -> None:
    assert list(validator(name).iter_errors(instance)), f"{name} accepted {instance!r}"


async def test_a_real_servers_frames_are_server_messages(server: Server) -> None:
    program = (
        "import sys\nprint('out', flush=True)\nsys.stderr.write('err\\n')\n"
        "sys.stdout.buffer.write(b'\\xff\\n')\nsys.exit(2)"
    )
    seen: dict[str, int] = {}
    async with connect(server.url, open_timeout=PATIENCE) as ws:
        await ws.send(json.dumps({"action": "auth", "api_key": server.key}))
        await ws.send(json.dumps({"action": "ping", "t": 1}))
        await ws.send(json.dumps({"action": "frobnicate"}))
        await ws.send(
            json.dumps(
                {
                    "action": "execute",
                    "id": "streamed",
                    "language": "python",
                    "code": program,
                    "stream": True,
                }
            )
        )
        await ws.send(
            json.dumps(
                {"action": "execute", "id": "whole", "language": "python", "code": "print('hi')"}
            )
        )
        await ws.send(json.dumps({"action": "create_session", "id": "c", "language": "python"}))
        pending = {"pong", "error", "exit", "result", "session"}
        while pending:
            frame = json.loads(await asyncio.wait_for(ws.recv(), PATIENCE))
            assert_valid("ServerMessage", frame)
            seen[frame["type"]] = seen.get(frame["type"], 0) + 1
            pending.discard(frame["type"])
            if frame["type"] == "session" and frame["event"] == "created":
                await ws.send(json.dumps({"action": "close_session", "session": frame["session"]}))
    assert seen.get("stdout", 0) >= 1
    assert seen.get("stderr", 0) >= 1
    assert seen["started"] == 1


def _get(server: Server, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        server.http + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {server.key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=PATIENCE) as response:
        return json.loads(response.read())


async def test_a_real_servers_http_bodies_hold_to_their_schemas(server: Server) -> None:
    languages = await asyncio.to_thread(_get, server, "/api/v1/languages")
    assert languages, "the server lists no languages"
    for language in languages:
        assert_valid("LanguageInfo", language)
    result = await asyncio.to_thread(
        _get, server, "/api/v1/execute", {"language": "python", "code": "print(2)"}
    )
    assert_valid("Result", result)
    assert result["stdout"] == "2\n"
    created = await asyncio.to_thread(_get, server, "/api/v1/sessions", {"language": "python"})
    assert_valid("SessionInfo", created)
    listed = await asyncio.to_thread(_get, server, "/api/v1/sessions")
    assert_valid("SessionList", listed)
    health = await asyncio.to_thread(_get, server, "/healthz")
    assert_valid("HealthResponse", health)
