"""Every call of the SDK against a real `runnel serve` (no proxy, no faults)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import runnel
from runnel import (
    AuthenticationError,
    ConfigurationError,
    ConnectionLostError,
    ExitEvent,
    InputRequestEvent,
    ReconnectPolicy,
    RunEvent,
    ServerError,
    SessionClosedError,
    StdinClosedError,
    StdoutEvent,
)

from conftest import PATIENCE, Server


async def test_one_shot_run_with_callbacks_iteration_and_result(server: Server) -> None:
    async with runnel.connect(server.url, server.key) as client:
        assert client.state == "open"
        run = client.execute(
            "import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)",
            language="python",
        )
        seen: list[str] = []
        run.on("started", lambda event: seen.append("started"))
        run.on("stdout", lambda event: seen.append(f"stdout:{event.data}"))
        run.on("stderr", lambda event: seen.append(f"stderr:{event.data}"))
        run.on("exit", lambda event: seen.append(f"exit:{event.exit_code}"))
        events = [event async for event in run]
        result = await run
    assert events[0].type == "started"
    assert isinstance(events[-1], ExitEvent)
    assert [event.seq for event in events] == list(range(1, len(events) + 1))
    assert seen[0] == "started"
    assert seen[-1] == "exit:3"
    assert "".join(item[7:] for item in seen if item.startswith("stdout:")) == "out\n"
    assert "".join(item[7:] for item in seen if item.startswith("stderr:")) == "err\n"
    assert (result.stdout, result.stderr, result.exit_code) == ("out\n", "err\n", 3)
    assert result.status == "runtime_error"
    assert result.language == "python"
    assert not result.ok


async def test_run_helper_and_multiple_files_and_args(server: Server) -> None:
    async with runnel.connect(server.url, server.key) as client:
        result = await client.run("print(6 * 7)", language="python")
        files = client.execute(
            language="python",
            files={
                "main.py": "import sys, helper\nprint(helper.twice(sys.argv[1]))",
                "helper.py": "def twice(s):\n    return s * 2\n",
            },
            args=["ab"],
        )
        multi = await files
    assert result.ok
    assert result.stdout == "42\n"
    assert multi.stdout == "abab\n"


async def test_stdin_write_and_close(server: Server) -> None:
    async with runnel.connect(server.url, server.key) as client:
        run = client.execute(
            "import sys\nprint(sys.stdin.readline().strip().upper(), flush=True)\n"
            "print(len(sys.stdin.read()))",
            language="python",
            stdin="first\n",
        )
        outputs: list[str] = []
        run.on("stdout", lambda event: outputs.append(event.data))
        async with asyncio.timeout(PATIENCE):
            while "".join(outputs) != "FIRST\n":
                await asyncio.sleep(0.01)
        run.write("abc")
        run.write("de")
        run.close_stdin()
        with pytest.raises(StdinClosedError, match="close_stdin"):
            run.write("late")
        result = await run.result(timeout=PATIENCE)
    assert result.stdout == "FIRST\n5\n"


async def test_interrupt_one_shot_run(server: Server) -> None:
    async with runnel.connect(server.url, server.key) as client:
        run = client.execute(
            "import time\nprint('ready', flush=True)\ntime.sleep(60)", language="python"
        )
        async for event in run:
            if isinstance(event, StdoutEvent) and "ready" in event.data:
                run.interrupt()
        result = await run
    assert result.status == "killed"
    assert "ready" in result.stdout


async def test_compile_error_is_a_result_not_an_exception(server: Server) -> None:
    async with runnel.connect(server.url, server.key) as client:
        result = await client.run("int main( { return 0; }", language="c")
    assert result.status == "compile_error"
    assert result.compile_output


async def test_sessions_keep_state_answer_input_restart_and_close(server: Server) -> None:
    async with runnel.connect(server.url, server.key) as client:
        session = await client.create_session("python")
        assert session.id.startswith("ses-")
        assert "shell" in session.services
        await session.run("counter = 41")
        ask = session.execute("name = input('name? ')\nprint('hello', name)")

        def answer(event: InputRequestEvent) -> None:
            ask.write("ada\n")

        ask.on("input_request", answer)
        events: list[RunEvent] = [event async for event in ask]
        prompts = [event.prompt for event in events if isinstance(event, InputRequestEvent)]
        greeted = await ask
        kept = await session.run("counter += 1\nprint(counter, name)")
        await session.restart()
        lost = await session.run("print(counter)")
        await session.close()
        await session.close()  # twice is harmless
        with pytest.raises(SessionClosedError, match="create_session"):
            session.execute("print(1)")
    assert prompts == ["name? "]
    assert greeted.stdout == "hello ada\n"
    assert kept.stdout == "42 ada\n"
    assert lost.status == "runtime_error"
    assert "NameError" in (lost.message or "")


async def test_session_interrupt_keeps_state(server: Server) -> None:
    async with (
        runnel.connect(server.url, server.key) as client,
        await client.create_session("python") as session,
    ):
        await session.run("kept = 'yes'")
        loop = session.execute("import time\nprint('looping', flush=True)\ntime.sleep(60)")
        async for event in loop:
            # "looping" and its newline may come as two events: interrupt at the first.
            if isinstance(event, StdoutEvent) and "looping" in event.data:
                loop.interrupt()
        interrupted = await loop
        after = await session.run("print(kept)")
    assert interrupted.status == "killed"
    assert interrupted.message == "KeyboardInterrupt"
    assert after.stdout == "yes\n"


async def test_files_upload_list_download(server: Server) -> None:
    async with (
        runnel.connect(server.url, server.key) as client,
        await client.create_session("python") as session,
    ):
        files: dict[str, str | bytes] = {"data/in.txt": "hello\n", "blob.bin": bytes(range(256))}
        await session.upload_files(files)
        await session.upload_file("more.txt", "more")
        produced = await session.run(
            "open('out.txt', 'w').write(open('data/in.txt').read().upper())"
        )
        names = {entry.name: entry.size for entry in await session.list_files()}
        out = await session.download_file("out.txt")
        blob = await session.download_file("blob.bin")
        with pytest.raises(runnel.HttpError) as missing:
            await session.download_file("nope.txt")
    assert produced.ok
    assert names["data/in.txt"] == 6
    assert names["blob.bin"] == 256
    assert names["more.txt"] == 4
    assert out == b"HELLO\n"
    assert blob == bytes(range(256))
    assert missing.value.status == 404


async def test_ping_measures_latency(server: Server) -> None:
    async with runnel.connect(server.url, server.key) as client:
        samples: list[runnel.LatencyStats] = []
        client.on("latency", samples.append)
        rtts = [await client.ping() for _ in range(3)]
        stats = client.latency
    assert all(rtt > 0 for rtt in rtts)
    assert stats.count >= 4  # the handshake ping counts too
    assert stats.current == rtts[-1]
    assert stats.min is not None
    assert stats.max is not None
    assert stats.average is not None
    assert stats.min <= stats.average <= stats.max
    assert len(samples) >= 3


async def test_languages_for_every_key_and_stats_for_operator_keys(server: Server) -> None:
    async with runnel.connect(server.http, server.key) as client:
        languages = await client.languages()
        with pytest.raises(runnel.HttpError) as refused:
            await client.stats()
    assert any(language["id"] == "python" for language in languages)
    assert (refused.value.code, refused.value.status) == ("forbidden", 403)
    async with runnel.connect(server.http, server.create_key("--scope", "operator")) as operator:
        stats = await operator.stats()
    assert "uptime_seconds" in stats


async def test_bad_key_is_an_authentication_error(server: Server) -> None:
    states: list[str] = []
    client = runnel.RunnelClient(server.url, "rk_wrong")
    client.on("state", states.append)
    with pytest.raises(AuthenticationError) as error:
        await client.connect()
    assert error.value.code == "unauthorized"
    assert "RUNNEL_API_KEY" in str(error.value)
    assert states[-1] == "closed"


async def test_missing_key_and_language_say_what_to_set(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNNEL_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="RUNNEL_API_KEY"):
        runnel.RunnelClient(server.url)
    monkeypatch.setenv("RUNNEL_API_KEY", server.key)
    monkeypatch.setenv("RUNNEL_URL", server.http)
    async with runnel.connect() as client:  # both from the environment
        with pytest.raises(ConfigurationError, match="language="):
            client.execute("print(1)")
        run = client.execute("print(1)", language="cobol-77")
        with pytest.raises(ServerError) as error:
            await run
    assert error.value.code == "unknown_language"
    assert "client.languages()" in str(error.value)


async def test_unreachable_server_gives_up_after_the_configured_tries() -> None:
    events: list[Any] = []
    client = runnel.RunnelClient(
        "ws://127.0.0.1:9/ws",
        "rk_x",
        reconnect=ReconnectPolicy(max_retries=2, min_delay=0.01, max_delay=0.02),
    )
    client.on("reconnecting", events.append)
    client.on("giveup", events.append)
    with pytest.raises(ConnectionLostError, match="max_retries"):
        await client.connect()
    assert [type(event).__name__ for event in events] == [
        "ReconnectInfo",
        "ReconnectInfo",
        "GiveUpInfo",
    ]
    assert events[-1].attempts == 3


async def test_connect_as_async_iterator(server: Server) -> None:
    seen = 0
    async for client in runnel.connect(server.url, server.key):
        seen += 1
        assert (await client.run("print('it')", language="python")).stdout == "it\n"
        break
    assert seen == 1


async def test_closed_client_fails_running_runs(server: Server) -> None:
    client = await runnel.connect(server.url, server.key)
    run = client.execute("import time\ntime.sleep(30)", language="python")
    await client.close()
    with pytest.raises(runnel.ClientClosedError):
        await run.result(timeout=PATIENCE)
    with pytest.raises(runnel.ClientClosedError):
        client.execute("print(1)", language="python")


def test_sync_client(server: Server) -> None:
    with runnel.connect_sync(server.url, server.key) as client:
        assert client.run("print('sync')", language="python").stdout == "sync\n"
        run = client.execute("print(input().upper())", language="python")
        run.write("quiet\n")
        types = [event.type for event in run]
        assert run.result(timeout=PATIENCE).stdout == "QUIET\n"
        with client.create_session("python") as session:
            session.run("x = 5")
            session.upload_files({"f.txt": "file"})
            assert session.run("print(x, open('f.txt').read())").stdout == "5 file\n"
            assert session.download_file("f.txt") == b"file"
            assert [entry.name for entry in session.list_files()] == ["f.txt"]
        assert client.ping() > 0
    assert types[0] == "started"
    assert types[-1] == "exit"


async def test_session_stdin_written_before_input_asks_is_not_lost(server: Server) -> None:
    """A line written before the program's ``input()`` asks for it must answer it (a common
    pattern: type ahead). Repeated in fresh sessions, because the loss it guards against is a
    race in the server."""
    async with runnel.connect(server.url, server.key) as client:
        for attempt in range(20):
            async with await client.create_session("python") as session:
                run = session.execute("print('echo', input())")
                run.write(f"{attempt}\n")
                result = await run.result(timeout=10)
                assert result.stdout == f"echo {attempt}\n", f"attempt {attempt}: {result}"


async def test_signal_by_name_kills_a_run(server: Server) -> None:
    async with runnel.connect(server.url, server.key) as client:
        run = client.execute(
            "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "print('stubborn', flush=True)\ntime.sleep(60)",
            language="python",
        )
        async for event in run:
            if isinstance(event, StdoutEvent):
                run.signal("SIGKILL")
        result = await run
    assert result.status == "killed"
    assert result.signal == "SIGKILL"
