"""Baileys, paired with the sandbox, exchanges an image with a paired wamd Client.

Both ask for media_conn over their own connection (the sandbox's ``w:m`` IQ), upload to the
sandbox's HTTPS media host and download what the other uploaded, from the encoded proto
``Message`` the other built (Baileys: ``prepareWAMessageMedia`` with its socket's
``waUploadToServer``; wamd: ``MediaClient.upload`` + ``media_message``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.unit.test_media_info import make_image
from wamd.media import MediaClient, MediaType, media_conn_fetcher, media_message
from wamd.proto import e2e_pb2
from wamd.sandbox import Sandbox

if TYPE_CHECKING:
    from tests.media.conftest import PairClient

pytestmark = pytest.mark.interop

TIMEOUT = 60.0


async def read_event(proc: asyncio.subprocess.Process, log: Path) -> dict[str, Any]:
    assert proc.stdout is not None
    async with asyncio.timeout(TIMEOUT):
        line = await proc.stdout.readline()
    if not line:
        await proc.wait()
        tail = (await asyncio.to_thread(log.read_text))[-3000:]
        raise AssertionError(f"Baileys exited ({proc.returncode}): {tail}")
    event: dict[str, Any] = json.loads(line)
    assert event.get("event") != "error", event
    return event


async def test_image_both_ways(
    node_peers: Path, sandbox: Sandbox, pair_client: PairClient, tmp_path: Path
) -> None:
    assert sandbox.media is not None
    picture = make_image("JPEG", (320, 240))
    src = tmp_path / "baileys.jpg"
    src.write_bytes(picture)
    args = {
        "url": sandbox.url,
        "rootPublicKey": sandbox.root_public_key.hex(),
        "authDir": str(tmp_path / "baileys-auth"),
        "input": str(src),
        "type": "image",
    }
    log = tmp_path / "baileys.log"
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=str(sandbox.media.ca_file))
    with log.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            "node",
            str(node_peers / "baileys_media_socket.mjs"),
            json.dumps(args),
            cwd=node_peers,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
    client = await pair_client(tmp_path / "wamd.sqlite", "15550007001")
    try:
        event = await read_event(proc, log)
        assert event["event"] == "qr"
        await sandbox.admin.scan_qr(event["qr"], phone="15550007002")
        while (event := await read_event(proc, log))["event"] == "restart":
            pass
        assert event["event"] == "uploaded"
        theirs = e2e_pb2.Message.FromString(bytes.fromhex(event["message"]))
        image = theirs.image_message
        assert (image.width, image.height, image.caption) == (320, 240, "from baileys")
        assert image.url.startswith(f"https://{sandbox.media.https_hostnames[0]}/")

        async with MediaClient(
            media_conn_fetcher(client.request), ca_file=sandbox.media.ca_file
        ) as media:
            assert await media.download(theirs) == picture
            mine = make_image("PNG", (64, 48))
            up = await media.upload(mine, MediaType.IMAGE)
        assert (up.width, up.height, up.mimetype) == (64, 48, "image/png")
        outgoing = media_message(up, caption="from wamd").SerializeToString()
        assert proc.stdin is not None
        proc.stdin.write(json.dumps({"message": outgoing.hex()}).encode() + b"\n")
        await proc.stdin.drain()
        event = await read_event(proc, log)
        assert event == {
            "event": "downloaded",
            "bytes": len(mine),
            "sha256": hashlib.sha256(mine).hexdigest(),
        }
        async with asyncio.timeout(TIMEOUT):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
