"""docs/quickstart.md says what works: its first bot runs (against a sandbox) and answers, and
every `wamd ...` command line it shows parses."""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, subprocess_env
from wamd.cli import build_parser
from wamd.client import Client
from wamd.messaging import Message
from wamd.sandbox.testing import pair, paired_client, running_sandbox, server_info
from wamd.types import JID, USER_SERVER

BOT = "15550000701"

QUICKSTART = (ROOT / "docs" / "quickstart.md").read_text()


def blocks(language: str) -> list[str]:
    """The fenced code blocks of the quickstart in ``language`` ("" for untagged ones)."""
    found: list[str] = []
    current: list[str] | None = None
    tag = ""
    for line in QUICKSTART.splitlines():
        if line.startswith("```"):
            if current is None:
                current, tag = [], line[3:].strip()
            else:
                if tag == language:
                    found.append("\n".join(current) + "\n")
                current = None
        elif current is not None:
            current.append(line)
    return found


def test_every_command_line_shown_parses() -> None:
    parser = build_parser()
    commands = []
    for block in blocks(""):
        for line in block.splitlines():
            line = line.split(" #")[0].rstrip(" &")
            if line.startswith("wamd "):
                commands.append(shlex.split(line)[1:])
    assert len(commands) >= 12
    for argv in commands:
        args = parser.parse_args(argv)
        assert args.command in {"demo", "sandbox", "login", "send", "listen"}, argv


def test_the_first_bot_has_twenty_lines_of_code() -> None:
    bot = blocks("python")[0]
    assert 'client = Client("bot.db")' in bot
    assert len([line for line in bot.splitlines() if line.strip()]) <= 20


@pytest.mark.slow
async def test_the_first_bot_answers_ping(tmp_path: Path) -> None:
    bot_code = blocks("python")[0]
    async with running_sandbox() as sandbox:
        # link bot.db once (what `wamd login --store bot.db` does), then run the doc's code
        # with only the server swapped for the sandbox
        linking = Client(tmp_path / "bot.db", server=server_info(sandbox))
        await pair(sandbox, linking, BOT)
        await linking.close()
        server = server_info(sandbox)
        swapped = bot_code.replace(
            'Client("bot.db")',
            f'Client("bot.db", server=ServerInfo(url={server.url!r}, '
            f"root_key=bytes.fromhex({server.root_key.hex()!r})))",
        )
        script = tmp_path / "bot.py"
        script.write_text("from wamd.conn.options import ServerInfo\n" + swapped)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            cwd=tmp_path,
            env=subprocess_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with paired_client(sandbox, "15550000702") as user:
                for _ in range(300):  # until the bot is logged in
                    await asyncio.sleep(0.1)
                    if any(s.jid.user == BOT for s in sandbox.active_sessions()):
                        break
                pong = asyncio.ensure_future(
                    user.wait_for(Message, lambda m: m.text == "pong", timeout=30)
                )
                reaction = asyncio.ensure_future(
                    user.wait_for(Message, lambda m: m.reaction is not None, timeout=30)
                )
                sent = await user.send_text(JID(BOT, USER_SERVER), " Ping ")
                answer = await pong
                assert answer.quoted is not None
                assert answer.quoted.id == sent.id
                got = (await reaction).reaction
                assert got is not None
                assert (got.target_id, got.emoji) == (sent.id, "🏓")
        finally:
            proc.terminate()
            out, err = await proc.communicate()
        assert b"Traceback" not in err, err.decode()
        assert out == b""  # linked already: no QR code drawn


@pytest.mark.slow
def test_the_testing_snippets_pass_as_a_project(tmp_path: Path) -> None:
    conftest, test_bot = blocks("python")[1:3]
    assert 'pytest_plugins = ["wamd.sandbox.testing"]' in conftest
    (tmp_path / "conftest.py").write_text(conftest)
    (tmp_path / "test_bot.py").write_text(test_bot)
    example = ROOT / "examples" / "pytest_bot"
    for name in ("bot.py", "pytest.ini"):
        (tmp_path / name).write_text((example / name).read_text())
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
