"""The sans-I/O layer, without sockets."""

from __future__ import annotations

import json
import random

import pytest

from runnel import _protocol as wire
from runnel._settings import endpoints, resolve
from runnel.errors import ConfigurationError, server_error
from runnel.models import ExitEvent, RunEvent, StartedEvent, StderrEvent, StdoutEvent


def test_execute_message_is_streamed_and_omits_unset_fields() -> None:
    message = wire.execute_message("r1", language="python", code="print(1)", stdin="x")
    assert message == {
        "action": "execute",
        "id": "r1",
        "stream": True,
        "language": "python",
        "code": "print(1)",
        "stdin": "x",
    }
    assert json.loads(wire.encode(message)) == message


def test_stdin_message_carries_stdin_seq_and_eof_only_when_set() -> None:
    assert wire.stdin_message("r1", "a\n", eof=False, stdin_seq=3) == {
        "action": "stdin",
        "id": "r1",
        "data": "a\n",
        "stdin_seq": 3,
    }
    assert wire.stdin_message("r1", "", eof=True, stdin_seq=4)["eof"] is True


def test_decode_run_events() -> None:
    started = wire.decode('{"type":"started","id":"r","language":"python","version":"3","seq":1}')
    assert started == StartedEvent(id="r", language="python", version="3", seq=1)
    chunk = wire.decode('{"type":"stdout","id":"r","data":"hé","seq":2}')
    assert isinstance(chunk, StdoutEvent)
    assert chunk.raw == "hé".encode()
    binary = wire.decode('{"type":"stderr","id":"r","data":"/w==","seq":3,"encoding":"base64"}')
    assert isinstance(binary, StderrEvent)
    assert binary.raw == b"\xff"
    exit_event = wire.decode(
        '{"type":"exit","id":"r","exit_code":0,"signal":null,"status":"ok",'
        '"execution_time":1.5,"cpu_time":1.0,"memory":10,"seq":4,"session":"s"}'
    )
    assert isinstance(exit_event, ExitEvent)
    assert (exit_event.status, exit_event.session, exit_event.seq) == ("ok", "s", 4)


def test_decode_control_messages() -> None:
    resumed = wire.decode('{"type":"resumed","id":"r","seq":9,"stdin_seq":2}')
    assert resumed == wire.Resumed(id="r", seq=9, stdin_seq=2)
    notice = wire.decode(
        '{"type":"session","session":"s","event":"resumed","seq":5,"services":["shell"]}'
    )
    assert notice == wire.SessionNotice(session="s", event="resumed", seq=5, services=("shell",))
    error = wire.decode('{"type":"error","code":"not_found","message":"no run","id":"r"}')
    assert error == wire.ErrorNotice(code="not_found", message="no run", id="r")
    assert isinstance(wire.decode('{"type":"future_thing"}'), wire.Unknown)


@pytest.mark.parametrize("frame", ["not json", "[1]", '{"no":"type"}', '{"type":"stdout"}'])
def test_decode_rejects_malformed_frames(frame: str) -> None:
    with pytest.raises(wire.ProtocolError):
        wire.decode(frame)


def test_seq_tracker_drops_repeats_and_old_events() -> None:
    tracker = wire.SeqTracker()
    assert [tracker.accept(seq) for seq in (1, 2, 2, 1, 3, 5, 4)] == [
        True,
        True,
        False,
        False,
        True,
        True,
        False,
    ]
    assert tracker.last == 5


def test_stdin_ledger_numbers_acknowledges_and_resends() -> None:
    ledger = wire.StdinLedger()
    first = ledger.add("r", "a", False)
    second = ledger.add("r", "b", False)
    third = ledger.add("r", "", True)
    assert [w.stdin_seq for w in (first, second, third)] == [1, 2, 3]
    first.sent_on = second.sent_on = 1  # sent on connection 1; third never sent
    # The server applied #1: #2 goes again on connection 2; #3 is still in the outbox.
    assert ledger.to_resend(1, 2) == [second]
    # A server that does not number stdin: nothing is repeated.
    assert ledger.to_resend(None, 2) == []
    ledger.acknowledge(1)
    assert [w.stdin_seq for w in ledger.writes] == [2, 3]
    ledger.forget_run("r")
    assert ledger.writes == []
    assert ledger.add("r", "c", False).stdin_seq == 4


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    policy = wire.ReconnectPolicy(min_delay=0.1, max_delay=1.0, factor=2.0, jitter=0.25)
    rng = random.Random(7)
    for attempt, base in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        for _ in range(20):
            delay = policy.delay(attempt, rng)
            assert base * 0.75 <= delay <= base * 1.25
    no_jitter = wire.ReconnectPolicy(min_delay=0.1, factor=3.0, jitter=0.0)
    assert no_jitter.delay(3) == pytest.approx(0.9)


@pytest.mark.parametrize(
    "options",
    [{"max_retries": -1}, {"min_delay": 2.0, "max_delay": 1.0}, {"factor": 0.5}, {"jitter": 2}],
)
def test_reconnect_policy_rejects_nonsense(options: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        wire.ReconnectPolicy(**options)  # type: ignore[arg-type]


def test_latency_tracker_keeps_current_average_min_max_and_history() -> None:
    tracker = wire.LatencyTracker()
    for rtt in [4.0, 2.0, 6.0] + [1.0] * 10:
        stats = tracker.record(rtt, 100.5)
    assert stats.current == 1.0
    assert stats.min == 1.0
    assert stats.max == 6.0
    assert stats.count == 13
    assert stats.average == pytest.approx(22.0 / 13)
    assert stats.history == [1.0] * 10


def test_message_rate_counts_the_last_whole_second() -> None:
    tracker = wire.LatencyTracker()
    for i in range(30):
        tracker.message(10.0 + i / 100)  # 30 frames in second 10
    tracker.message(11.2)
    assert tracker.snapshot(11.5).messages_per_second == 30
    assert tracker.snapshot(12.1).messages_per_second == 1
    assert tracker.snapshot(14.0).messages_per_second == 0


def test_build_result_separates_compile_output() -> None:
    events: list[RunEvent] = [
        StartedEvent(id="r", language="c", version="12", seq=1),
        StderrEvent(id="r", data="warning\n", seq=2, stage="compile"),
        StdoutEvent(id="r", data="a", seq=3),
        StdoutEvent(id="r", data="b\n", seq=4),
        StderrEvent(id="r", data="oops\n", seq=5),
        ExitEvent(
            id="r",
            exit_code=3,
            signal=None,
            status="runtime_error",
            execution_time=1.0,
            cpu_time=0.5,
            memory=7,
            seq=6,
        ),
    ]
    result = wire.build_result("r", events)
    assert (result.stdout, result.stderr, result.compile_output) == ("ab\n", "oops\n", "warning\n")
    assert (result.exit_code, result.status, result.language, result.ok) == (
        3,
        "runtime_error",
        "c",
        False,
    )


def test_endpoints_accept_ws_and_http_forms() -> None:
    assert endpoints("http://h:1") == endpoints("ws://h:1/ws")
    assert endpoints("http://h:1").http_base == "http://h:1"
    assert endpoints("https://h/base/").ws_url == "wss://h/base/ws"
    with pytest.raises(ConfigurationError, match="ws://HOST:PORT/ws"):
        endpoints("h:1")


def test_settings_resolve_argument_then_environment() -> None:
    env = {"RUNNEL_URL": "http://env:2", "RUNNEL_API_KEY": "rk_env"}
    from_env = resolve(
        url=None,
        api_key=None,
        reconnect=None,
        ping_interval=None,
        pong_timeout=None,
        request_timeout=None,
        open_timeout=None,
        environ=env,
    )
    assert (from_env.endpoints.ws_url, from_env.api_key) == ("ws://env:2/ws", "rk_env")
    explicit = resolve(
        url="ws://arg:3/ws",
        api_key="rk_arg",
        reconnect=False,
        ping_interval=None,
        pong_timeout=None,
        request_timeout=None,
        open_timeout=None,
        environ=env,
    )
    assert (explicit.endpoints.ws_url, explicit.api_key, explicit.reconnect) == (
        "ws://arg:3/ws",
        "rk_arg",
        None,
    )
    with pytest.raises(ConfigurationError, match="RUNNEL_API_KEY"):
        resolve(
            url=None,
            api_key=None,
            reconnect=None,
            ping_interval=None,
            pong_timeout=None,
            request_timeout=None,
            open_timeout=None,
            environ={},
        )


def test_server_errors_carry_code_and_say_what_to_change() -> None:
    error = server_error("unknown_language", "no language `cobal`")
    assert error.code == "unknown_language"
    assert "client.languages()" in str(error)
