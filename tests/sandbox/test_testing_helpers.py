"""wamd.sandbox.testing: what users get to test their bots offline, used as users would."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import subprocess_env
from wamd.sandbox.testing import paired_client, running_sandbox

PHONE = "15550010"


async def test_paired_client_helper() -> None:
    async with running_sandbox() as sandbox, paired_client(sandbox, PHONE) as bot:
        assert bot.is_connected
        assert bot.jid is not None
        assert bot.jid.user == PHONE
        assert [str(jid) for jid in sandbox.sessions] == [str(bot.jid)]


@pytest.mark.slow
def test_pytest_plugin_in_a_users_project(tmp_path: Path) -> None:
    """A user's test suite enabling the plugin gets paired, connected clients."""
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["wamd.sandbox.testing"]\n')
    (tmp_path / "test_bot.py").write_text(
        "async def test_two_bots(wamd_sandbox, wamd_client_factory):\n"
        "    alice = await wamd_client_factory('15550011')\n"
        "    bob = await wamd_client_factory('15550012')\n"
        "    assert alice.is_connected and bob.is_connected\n"
        "    assert alice.jid.user == '15550011' and bob.jid.user == '15550012'\n"
        "    assert len(wamd_sandbox.sessions) == 2\n"
    )
    import subprocess

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
