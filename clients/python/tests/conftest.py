"""Test harness: a real `runnel serve` on a free loopback port (started once per test run), a
real API key made with `runnel keys create`, and a TCP proxy that can cut connections."""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from proxy import Proxy

REPO = Path(__file__).resolve().parents[3]
#: Bounds any single wait of a test (a hang guard; it measures nothing).
PATIENCE = 60.0


@dataclass(frozen=True)
class Server:
    """A running `runnel serve`."""

    address: str
    key: str
    data_dir: str
    binary: str

    @property
    def url(self) -> str:
        return f"ws://{self.address}/ws"

    @property
    def http(self) -> str:
        return f"http://{self.address}"

    def create_key(self, *args: str) -> str:
        """Another key, made with `runnel keys create ARGS`."""
        created = subprocess.run(
            [self.binary, "keys", "create", "--data-dir", self.data_dir, *args],
            capture_output=True,
            text=True,
            env={**os.environ, "RUNNEL_LOG": "warn"},
            check=True,
        )
        return created.stdout.strip().splitlines()[-1]


def runnel_binary() -> str:
    binary = os.environ.get("RUNNEL_BIN") or str(REPO / "target" / "debug" / "runnel")
    if not Path(binary).is_file():
        pytest.fail(
            f"no runnel binary at {binary}: build it (`cargo build -p runnel-cli`) or set "
            "RUNNEL_BIN to a built `runnel`",
            pytrace=False,
        )
    return binary


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    binary = runnel_binary()
    data_dir = tempfile.mkdtemp(prefix="runnel-py-sdk-")
    env = {**os.environ, "RUNNEL_LOG": "warn"}
    created = subprocess.run(
        [binary, "keys", "create", "--data-dir", data_dir],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    key = created.stdout.strip().splitlines()[-1]
    process = subprocess.Popen(
        [
            binary,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data_dir,
            "--stop-on-stdin-close",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    addresses: queue.Queue[str] = queue.Queue()

    def read_stdout() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("runnel listening on http://"):
                addresses.put(line.removeprefix("runnel listening on http://").split()[0])

    threading.Thread(target=read_stdout, daemon=True).start()
    try:
        address = addresses.get(timeout=120)
    except queue.Empty:
        process.kill()
        pytest.fail("runnel serve did not print `runnel listening on http://ADDR` in 120 s")
    try:
        yield Server(address=address, key=key, data_dir=data_dir, binary=binary)
    finally:
        assert process.stdin is not None
        process.stdin.close()  # --stop-on-stdin-close
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
async def proxy(server: Server) -> AsyncIterator[Proxy]:
    host, port = server.address.rsplit(":", 1)
    running = Proxy(host, int(port))
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def wait_until(predicate: Callable[[], bool], what: str, timeout: float = PATIENCE) -> None:
    """Poll ``predicate()`` until true; fail naming ``what`` after ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None
