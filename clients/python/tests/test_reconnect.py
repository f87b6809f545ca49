"""Fault injection: a proxy between the client and a real `runnel serve` cuts the TCP
connection (or silently freezes it) during streaming runs and interactive stdin. The caller
must see one continuous stream: complete, in order, no duplicates."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import runnel
from runnel import ReconnectPolicy, Run, RunnelClient
from runnel import _protocol as wire

from conftest import PATIENCE, Server, wait_until
from proxy import Proxy

FAST = ReconnectPolicy(max_retries=20, min_delay=0.05, max_delay=0.5)
LINES = 400
#: Prints numbered lines every few ms for about two seconds.
STREAM = (
    "import time\n"
    f"for i in range({LINES}):\n"
    "    print(f'line {i}', flush=True)\n"
    "    time.sleep(0.005)\n"
)
ECHOES = 8
#: Reads lines one by one and echoes each.
ECHO_ONE_SHOT = (
    "import sys\n"
    f"for i in range({ECHOES}):\n"
    "    line = sys.stdin.readline()\n"
    "    print('echo', line.strip(), flush=True)\n"
)
ECHO_SESSION = f"for i in range({ECHOES}):\n    print('echo', input(), flush=True)\n"


def connect(proxy: Proxy, server: Server, **options: Any) -> runnel.Connect:
    options.setdefault("reconnect", FAST)
    options.setdefault("ping_interval", 0.25)
    options.setdefault("pong_timeout", 2.0)
    return runnel.connect(proxy.url, server.key, **options)


def track_reconnects(client: RunnelClient) -> list[Any]:
    reconnects: list[Any] = []
    client.on("reconnected", reconnects.append)
    return reconnects


def stdout_of(run: Run) -> str:
    return "".join(event.data for event in run.events if event.type == "stdout")


def assert_continuous(run: Run) -> None:
    """Every delivered event is new and in order, from `started` to one `exit`."""
    seqs = [event.seq for event in run.events]
    assert seqs == sorted(set(seqs)), f"events repeated or out of order: {seqs}"
    types = [event.type for event in run.events]
    assert types[0] == "started"
    assert types.count("exit") == 1
    assert types[-1] == "exit"


async def stream_with_cuts(proxy: Proxy, run: Run) -> list[int]:
    """Cut every connection three times while the lines stream; returns lines seen at each."""
    seen_at_cut: list[int] = []
    for threshold in (40, 140, 260):
        await wait_until(
            lambda t=threshold: stdout_of(run).count("\n") >= t or run.done,  # type: ignore[misc]
            f"{threshold} lines",
        )
        seen_at_cut.append(stdout_of(run).count("\n"))
        proxy.cut()
    return seen_at_cut


async def echo_with_cuts(proxy: Proxy, run: Run, *, prompted: bool) -> None:
    """Write lines across cuts: some while offline, some just before the link dies.

    ``prompted``: a session's ``input()`` asks with ``input_request``; each line answers one.
    """
    for i in range(ECHOES):
        if prompted:
            await wait_until(
                lambda i=i: prompts_of(run) > i,  # type: ignore[misc]
                f"input request {i}",
            )
        if i in (2, 5):
            proxy.cut()  # this write is made while the client is (about to be) offline
        run.write(f"{i}\n")
        if i in (3, 6):
            await asyncio.sleep(0.002)
            proxy.cut()  # this write may be in flight when the link dies
        await wait_until(lambda i=i: f"echo {i}\n" in stdout_of(run), f"echo {i}")  # type: ignore[misc]


def prompts_of(run: Run) -> int:
    return sum(1 for event in run.events if event.type == "input_request")


async def test_session_stream_survives_cuts(server: Server, proxy: Proxy) -> None:
    async with connect(proxy, server) as client:
        reconnects = track_reconnects(client)
        session = await client.create_session("python")
        run = session.execute(STREAM)
        seen_at_cut = await stream_with_cuts(proxy, run)
        result = await run.result(timeout=PATIENCE)
    expected = "".join(f"line {i}\n" for i in range(LINES))
    assert result.stdout == expected
    assert stdout_of(run) == expected
    assert_continuous(run)
    assert all(seen < LINES for seen in seen_at_cut), f"cuts after the end: {seen_at_cut}"
    assert len(reconnects) >= 3
    assert proxy.accepted >= 4


async def test_session_stdin_survives_cuts(server: Server, proxy: Proxy) -> None:
    async with connect(proxy, server) as client:
        reconnects = track_reconnects(client)
        session = await client.create_session("python")
        run = session.execute(ECHO_SESSION)
        await echo_with_cuts(proxy, run, prompted=True)
        result = await run.result(timeout=PATIENCE)
        after = await session.run("print('state kept', i)")
    assert result.stdout == "".join(f"echo {i}\n" for i in range(ECHOES))
    assert_continuous(run)
    assert prompts_of(run) == ECHOES
    assert after.stdout == f"state kept {ECHOES - 1}\n"
    assert len(reconnects) >= 4


async def test_one_shot_stream_survives_cuts(server: Server, proxy: Proxy) -> None:
    async with connect(proxy, server) as client:
        reconnects = track_reconnects(client)
        run = client.execute(STREAM, language="python")
        seen_at_cut = await stream_with_cuts(proxy, run)
        result = await run.result(timeout=PATIENCE)
    expected = "".join(f"line {i}\n" for i in range(LINES))
    assert result.stdout == expected
    assert_continuous(run)
    assert [event.seq for event in run.events] == list(range(1, len(run.events) + 1))
    assert all(seen < LINES for seen in seen_at_cut), f"cuts after the end: {seen_at_cut}"
    assert len(reconnects) >= 3


async def test_one_shot_stdin_survives_cuts(server: Server, proxy: Proxy) -> None:
    async with connect(proxy, server) as client:
        reconnects = track_reconnects(client)
        run = client.execute(ECHO_ONE_SHOT, language="python")
        await echo_with_cuts(proxy, run, prompted=False)
        result = await run.result(timeout=PATIENCE)
    assert result.stdout == "".join(f"echo {i}\n" for i in range(ECHOES))
    assert result.ok
    assert_continuous(run)
    assert len(reconnects) >= 4


async def test_frozen_link_is_detected_by_missed_pongs(server: Server, proxy: Proxy) -> None:
    async with connect(proxy, server, ping_interval=0.2, pong_timeout=1.0) as client:
        reconnects = track_reconnects(client)
        session = await client.create_session("python")
        run = session.execute(
            "import time\nfor i in range(40):\n    print(i, flush=True)\n    time.sleep(0.05)"
        )
        await wait_until(lambda: "5\n" in stdout_of(run), "the first lines")
        assert proxy.freeze() == 1  # no close, no error: only silence
        result = await run.result(timeout=PATIENCE)
    assert result.stdout == "".join(f"{i}\n" for i in range(40))
    assert_continuous(run)
    assert len(reconnects) == 1
    assert proxy.accepted == 2


async def test_work_queued_while_offline_is_sent_after_reconnect(
    server: Server, proxy: Proxy
) -> None:
    async with connect(proxy, server) as client:
        states: list[str] = []
        client.on("state", states.append)
        session = await client.create_session("python")
        await session.run("base = 10")
        proxy.refuse()
        await wait_until(lambda: client.state == "reconnecting", "the client to notice")
        # All of this is queued while no connection exists.
        in_session = session.execute("print(base + int(input()))")
        in_session.write("5\n")
        one_shot = client.execute("print(input()[::-1])", language="python")
        one_shot.write("olleh\n")
        one_shot.close_stdin()
        ping = asyncio.ensure_future(client.ping())
        await asyncio.sleep(0.2)
        assert not in_session.started
        assert not one_shot.started
        proxy.accept_again()
        first = await in_session.result(timeout=PATIENCE)
        second = await one_shot.result(timeout=PATIENCE)
        rtt = await asyncio.wait_for(ping, PATIENCE)
        assert states[0] == "reconnecting"
        assert states[-1] == "open"
    assert first.stdout == "15\n"
    assert second.stdout == "hello\n"
    assert rtt > 0


async def test_gives_up_after_max_retries(server: Server, proxy: Proxy) -> None:
    policy = ReconnectPolicy(max_retries=2, min_delay=0.05, max_delay=0.1)
    async with connect(proxy, server, reconnect=policy) as client:
        events: list[Any] = []
        client.on("reconnecting", events.append)
        client.on("giveup", events.append)
        session = await client.create_session("python")
        run = session.execute("import time\ntime.sleep(30)")
        await wait_until(lambda: run.started, "the run to start")
        proxy.refuse()
        with pytest.raises(runnel.ConnectionLostError, match="max_retries"):
            await run.result(timeout=PATIENCE)
        with pytest.raises(runnel.ConnectionLostError):
            client.execute("print(1)", language="python")
        assert client.state == "closed"
    kinds = [type(event).__name__ for event in events]
    assert kinds == ["ReconnectInfo", "ReconnectInfo", "GiveUpInfo"]
    assert [event.attempt for event in events[:2]] == [1, 2]
    assert events[-1].attempts == 2


async def test_overlapping_replay_is_deduplicated(
    server: Server, proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resume from earlier than the client really is (as a server replaying too much would):
    the events delivered twice by the server reach the caller once."""
    original_run, original_session = wire.resume_run_message, wire.resume_session_message
    monkeypatch.setattr(
        wire, "resume_run_message", lambda run, last: original_run(run, max(0, last - 20))
    )
    monkeypatch.setattr(
        wire,
        "resume_session_message",
        lambda session, last: original_session(session, max(0, last - 20)),
    )
    async with connect(proxy, server) as client:
        session = await client.create_session("python")
        in_session = session.execute(STREAM)
        one_shot = client.execute(STREAM, language="python")
        await stream_with_cuts(proxy, one_shot)
        first = await in_session.result(timeout=PATIENCE)
        second = await one_shot.result(timeout=PATIENCE)
    expected = "".join(f"line {i}\n" for i in range(LINES))
    assert first.stdout == expected
    assert second.stdout == expected
    assert_continuous(in_session)
    assert_continuous(one_shot)


async def test_executes_lost_on_the_wire_are_sent_again_once(server: Server, proxy: Proxy) -> None:
    """The link goes silent, executes are written into it (and lost), then it dies: each run
    must run exactly once after the reconnect."""
    async with connect(proxy, server) as client:
        session = await client.create_session("python")
        await session.run("count = 0")
        proxy.freeze()
        in_session = session.execute("count += 1\nprint('count', count)")
        one_shot = client.execute("print('one shot', input())", language="python")
        one_shot.write("ran\n")
        await wait_until(
            lambda: in_session.submitted_on > 0 and one_shot.submitted_on > 0,
            "the executes to be written to the socket",
        )
        proxy.cut()
        first = await in_session.result(timeout=PATIENCE)
        second = await one_shot.result(timeout=PATIENCE)
        again = await session.run("print(count)")
    assert first.stdout == "count 1\n"
    assert again.stdout == "1\n"  # it ran once
    assert second.stdout == "one shot ran\n"
    assert_continuous(in_session)
    assert_continuous(one_shot)


async def test_session_requests_lost_on_the_wire_are_sent_again(
    server: Server, proxy: Proxy
) -> None:
    async with connect(proxy, server) as client:
        session = await client.create_session("python")
        await session.run("kept = 1")
        proxy.freeze()
        restart = asyncio.ensure_future(session.restart())
        ping = asyncio.ensure_future(client.ping())
        await asyncio.sleep(0.1)
        assert not restart.done()
        proxy.cut()
        await asyncio.wait_for(restart, PATIENCE)
        assert await asyncio.wait_for(ping, PATIENCE) > 0
        after = await session.run("print('kept' in dir())")
        proxy.freeze()
        closing = asyncio.ensure_future(session.close())
        await asyncio.sleep(0.1)
        proxy.cut()
        await asyncio.wait_for(closing, PATIENCE)
    assert after.stdout == "False\n"  # the restart happened
    assert session.closed


async def test_async_for_connects_a_fresh_client_after_a_giveup(
    server: Server, proxy: Proxy
) -> None:
    policy = ReconnectPolicy(max_retries=1, min_delay=0.05, max_delay=0.1)
    clients: list[RunnelClient] = []
    outputs: list[str] = []
    async for client in connect(proxy, server, reconnect=policy):
        clients.append(client)
        if len(clients) == 1:
            run = client.execute("import time\ntime.sleep(30)", language="python")
            await wait_until(lambda: run.started, "the run to start")  # noqa: B023
            proxy.refuse()
            with pytest.raises(runnel.ConnectionLostError):
                await run.result(timeout=PATIENCE)
            proxy.accept_again()
            continue
        outputs.append((await client.run("print('fresh')", language="python")).stdout)
        break
    assert len(clients) == 2
    assert clients[0] is not clients[1]
    assert clients[0].state == "closed"
    assert outputs == ["fresh\n"]
