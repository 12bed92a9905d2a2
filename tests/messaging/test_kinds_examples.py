"""The messaging examples run against their in-process sandbox."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, subprocess_env

pytestmark = pytest.mark.slow


def test_echo_bot_example_runs() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "echo_bot.py")],
        capture_output=True,
        text=True,
        timeout=120,
        env=subprocess_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "[user] bot: 'you said: hello bot' (replying to 3EB0" in out
    assert "[user] the bot reacted 🤖" in out
    assert "[user] the bot chose ['Python']" in out
