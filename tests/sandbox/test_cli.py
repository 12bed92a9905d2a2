"""``wamd sandbox`` starts the server and prints its URL, admin URL and root key."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp

from tests.conftest import subprocess_env
from wamd.cli import build_parser


def test_sandbox_subcommand_is_registered() -> None:
    args = build_parser().parse_args(["sandbox", "--port", "0", "--state-dir", "x"])
    assert args.command == "sandbox"
    assert args.port == 0
    assert args.state_dir == Path("x")


async def test_wamd_sandbox_runs_until_terminated(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wamd",
        "sandbox",
        "--port",
        "0",
        "--state-dir",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        env=subprocess_env(),
    )
    try:
        assert proc.stdout is not None
        lines = []
        async with asyncio.timeout(30):
            while len(lines) < 4:
                lines.append((await proc.stdout.readline()).decode().strip())
        url = lines[0].rsplit(" ", 1)[1]
        admin = lines[1].rsplit(" ", 1)[1]
        root = lines[2].rsplit(" ", 1)[1]
        assert url.startswith("ws://127.0.0.1:")
        assert url.endswith("/ws/chat")
        assert len(bytes.fromhex(root)) == 32
        async with aiohttp.ClientSession() as http, http.get(f"{admin}/info") as response:
            info = await response.json()
        assert info["root_public_key"] == root
        assert (tmp_path / "sandbox.sqlite3").exists()
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
