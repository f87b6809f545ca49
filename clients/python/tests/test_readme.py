"""The README's Python examples run as written (against the test server, configured through
RUNNEL_URL and RUNNEL_API_KEY as the README says)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Server

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
#: What each example prints, in README order.
EXPECTED = [
    "hello from runnel",
    "2: hello Ada\nexit code 0\n0\n1\n2\nexit ok\nkilled",
    "Hi Grace",
    " languages\n",
    "SHOUT",
    "still here",
]


def test_every_python_block_is_checked() -> None:
    assert len(BLOCKS) == len(EXPECTED)


@pytest.mark.parametrize(("index", "expected"), list(enumerate(EXPECTED)))
def test_readme_example_runs(server: Server, index: int, expected: str) -> None:
    env = {**os.environ, "RUNNEL_URL": server.http, "RUNNEL_API_KEY": server.key}
    done = subprocess.run(
        [sys.executable, "-c", BLOCKS[index]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"example {index} failed:\n{done.stdout}\n{done.stderr}"
    assert expected in done.stdout
