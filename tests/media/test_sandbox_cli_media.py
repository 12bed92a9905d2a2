"""``wamd sandbox`` prints the CA file of its HTTPS media host (for ``NODE_EXTRA_CA_CERTS``);
the client subcommands pointed at a sandbox trust that CA (from its admin API)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from tests.conftest import subprocess_env
from wamd.cli.client_options import server_info
from wamd.sandbox import Sandbox


async def test_wamd_sandbox_prints_the_media_ca(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wamd",
        "sandbox",
        "--port",
        "0",
        "--state-dir",
        str(state),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=subprocess_env(),
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not any(line.startswith("media CA") for line in lines):
                raw = await proc.stdout.readline()
                assert raw, f"wamd sandbox exited: {lines}"
                lines.append(raw.decode().rstrip("\n"))
    finally:
        proc.terminate()
        await proc.wait()
    check_ca_line(next(line for line in lines if line.startswith("media CA")), state)


def check_ca_line(line: str, state: Path) -> None:
    ca = Path(line.rsplit(": ", 1)[1])
    assert ca.is_file()
    assert ca.is_relative_to(state)
    assert "BEGIN CERTIFICATE" in ca.read_text()


async def test_cli_clients_trust_the_sandbox_media_ca(sandbox: Sandbox) -> None:
    assert sandbox.media is not None
    info = await server_info(argparse.Namespace(sandbox=sandbox.url, root_key=None))
    assert info is not None
    assert info.root_key == sandbox.root_public_key
    assert info.media_ca == sandbox.media.ca_file.read_text()
    # a sandbox whose admin API does not answer: the given root key, no media CA
    key = sandbox.root_public_key.hex()
    info = await server_info(argparse.Namespace(sandbox="ws://127.0.0.1:9/ws/chat", root_key=key))
    assert info is not None
    assert info.media_ca is None
