"""Running Baileys' media code (tests/interop/baileys_media.mjs) from the tests."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any


def run_baileys_sync(node_peers: Path, cmds: object) -> Any:
    """Run tests/interop/baileys_media.mjs on one command or a list; returns its JSON answer."""
    proc = subprocess.run(
        ["node", str(node_peers / "baileys_media.mjs"), json.dumps(cmds)],
        cwd=node_peers,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


async def run_baileys(node_peers: Path, cmds: list[dict[str, Any]], ca_file: Path) -> list[Any]:
    """Run tests/interop/baileys_media.mjs with the sandbox CA trusted; returns its results.

    Asynchronous, so that a media host in this process keeps serving while Node talks to it.
    """
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=str(ca_file))
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(node_peers / "baileys_media.mjs"),
        json.dumps(cmds),
        cwd=node_peers,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=300)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, (out + err).decode(errors="replace")
    result: list[Any] = json.loads(out)
    return result
