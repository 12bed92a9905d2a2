"""The newcomer examples run against their in-process sandbox and print what they promise."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, subprocess_env
from wamd.sandbox.testing import running_sandbox

pytestmark = pytest.mark.slow

EXAMPLES = ROOT / "examples"


def run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
        env=subprocess_env(),
        cwd=cwd,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_group_bot_adds_promotes_greets_and_removes() -> None:
    out = run(EXAMPLES / "group_bot.py").stdout
    for expected in (
        "[bot] created ",
        "[bob] I am in the group 'wamd book club' now",
        "[carol] alice: !add +15550000303",
        "[bob] bot: Welcome, @15550000303!",
        "[alice] bot: @15550000303 is an admin now.",
        "[alice] bot: Goodbye, @15550000303!",
        "[bot] members now: ['15550000301', '15550000302']",
    ):
        assert expected in out, out


@pytest.mark.parametrize("own_file", [False, True])
def test_media_bot_echoes_the_image_byte_for_byte(own_file: bool, tmp_path: Path) -> None:
    args: list[str | Path] = [EXAMPLES / "media_bot.py"]
    if own_file:
        image = tmp_path / "tiny.png"
        from wamd.cli.demo import sample_png

        image.write_bytes(sample_png(8, 8))
        args.append(image)
    out = run(*args).stdout
    mimetype = "image/png" if own_file else "image/jpeg"
    assert f'[user] the bot answered: "got your {mimetype} image: ' in out, out
    assert "caption 'my picture'" in out
    assert "[user] replying to my image: True" in out
    assert "identical to mine: True" in out


def test_gateway_sends_over_http_and_writes_json_lines() -> None:
    proc = run(EXAMPLES / "gateway.py")
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) == 1, proc.stdout
    (line,) = lines
    assert (line["event"], line["kind"], line["text"]) == ("message", "text", "hi gateway")
    assert line["sender"].startswith("15550000502:")
    assert "# POST /send -> 200 {'id': '3EB0" in proc.stderr
    sent_id = proc.stderr.split("{'id': '")[1].split("'")[0]
    assert line["quoted"] == sent_id
    assert "# the user got 'hello from HTTP'" in proc.stderr
    assert "# POST /send -> 400 {'error': \"bad request: not a JID" in proc.stderr


def test_pytest_example_passes() -> None:
    proc = run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=EXAMPLES / "pytest_bot")
    assert "3 passed" in proc.stdout, proc.stdout


async def test_watch_connection_prints_the_pairing_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    async with running_sandbox() as sandbox:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(EXAMPLES / "watch_connection.py"),
            "--url",
            sandbox.url,
            "--root-key",
            sandbox.root_public_key.hex(),
            "--store",
            str(tmp_path / "watch.sqlite"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=subprocess_env(),
        )
        assert proc.stdout is not None
        seen: list[str] = []
        try:
            async with asyncio.timeout(60):
                while not any(line.startswith("Connected(") for line in seen):
                    line = (await proc.stdout.readline()).decode()
                    assert line, "".join(seen[-20:])
                    seen.append(line)
                    if line.startswith("QR 1 (valid 60 s): "):
                        await sandbox.admin.scan_qr(line.split(": ", 1)[1].strip(), "15550000801")
            proc.send_signal(signal.SIGINT)
            async with asyncio.timeout(30):
                _, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert any(line.startswith("PairSuccess(jid=JID('15550000801:") for line in seen), seen
    assert b"Traceback" not in err


def test_watch_connection_wants_url_and_root_key_together() -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "watch_connection.py"), "--url", "ws://127.0.0.1:9/ws"],
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(),
        check=False,
    )
    assert proc.returncode == 2
    assert "--url and --root-key go together" in proc.stderr
