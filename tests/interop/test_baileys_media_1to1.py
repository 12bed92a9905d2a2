"""Baileys (the real peer) and wamd exchange media 1:1 through the sandbox and its HTTPS media
host: Baileys sends an image that wamd downloads byte-identical, wamd sends an image (and a
document) that Baileys downloads byte-identical. Then the blobs expire and each side gets its
media back through the media-retry flow: the request goes to its own (simulated) phone, which
learned the media from its copy of the message, and the answer is decrypted by the asker —
wamd's request and decryption, and Baileys' own ``updateMediaMessage`` (its
``encryptMediaRetryRequest`` / ``decryptMediaRetryData``), against the same kind of phone.

The Baileys side is the shared long-lived driver tests/interop/baileys_msg_peer.mjs (``send``
with media content, ``download``, ``reupload``), started with ``NODE_EXTRA_CA_CERTS`` set to
the sandbox's media CA.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.interop.baileys_msg_peer import BaileysPeer
from tests.unit.test_media_info import make_image
from wamd.messaging import Message
from wamd.sandbox import Sandbox
from wamd.sandbox.media import phone_media_of
from wamd.sandbox.testing import paired_client, running_sandbox
from wamd.types import JID

pytestmark = pytest.mark.interop

BAILEYS_PHONE = "15550009"
WAMD_PHONE = "15550002"


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with running_sandbox(tmp_path / "sandbox") as running:
        yield running


async def test_baileys_and_wamd_exchange_media(
    node_peers: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    host = sandbox.media
    assert host is not None
    baileys = await BaileysPeer.paired(
        node_peers,
        sandbox,
        tmp_path / "auth",
        BAILEYS_PHONE,
        env={"NODE_EXTRA_CA_CERTS": str(host.ca_file)},
    )
    try:
        async with paired_client(sandbox, WAMD_PHONE) as wamd:
            received: asyncio.Queue[Message] = asyncio.Queue()
            wamd.on(Message)(received.put)
            to_baileys = JID(BAILEYS_PHONE, "s.whatsapp.net")
            to_wamd = f"{WAMD_PHONE}@s.whatsapp.net"

            # Baileys -> wamd: an image (Baileys encrypts, uploads over HTTPS, thumbnails
            # with sharp); wamd downloads and verifies it
            theirs = make_image("PNG", (120, 90))
            sent = await baileys.command(
                "send",
                to=to_wamd,
                content={
                    "image": {"b64": base64.b64encode(theirs).decode()},
                    "caption": "from baileys",
                },
            )
            async with asyncio.timeout(40):
                evt = await received.get()
            assert evt.id == sent["id"]
            image = evt.message.image_message
            assert image.caption == "from baileys"
            assert (image.width, image.height) == (120, 90)
            assert await wamd.download(evt) == theirs
            chunks = [chunk async for chunk in wamd.iter_download(evt)]
            assert b"".join(chunks) == theirs
            target = tmp_path / "from-baileys.png"
            assert await wamd.download(evt, to=target) == len(theirs)
            assert target.read_bytes() == theirs

            # wamd -> Baileys: an image and a document; Baileys downloads both
            ours = make_image("JPEG", (200, 150))
            mine = await wamd.send_image(to_baileys, ours, caption="from wamd")
            got = await baileys.message(lambda e: e["id"] == mine.id)
            assert got["type"] == "imageMessage", baileys.report()
            assert got["message"]["imageMessage"]["caption"] == "from wamd"
            assert got["message"]["imageMessage"]["width"] == 200
            downloaded = await baileys.command("download", id=mine.id)
            assert base64.b64decode(downloaded["b64"]) == ours
            assert downloaded["sha256"] == hashlib.sha256(ours).hexdigest()

            paper = os.urandom(70_000)
            doc = await wamd.send_document(
                to_baileys, paper, file_name="paper.bin", mimetype="application/octet-stream"
            )
            got = await baileys.message(lambda e: e["id"] == doc.id)
            assert got["message"]["documentMessage"]["fileName"] == "paper.bin"
            downloaded = await baileys.command("download", id=doc.id)
            assert base64.b64decode(downloaded["b64"]) == paper

            # Both blobs gone: each side asks its own phone, which learned the media from its
            # copy of the message (Baileys' and wamd's encryption for device 0 alike).
            phones = phone_media_of(sandbox)
            assert phones.lookup(WAMD_PHONE, evt.id) is not None
            assert phones.lookup(BAILEYS_PHONE, mine.id) is not None
            host.expire(image.direct_path)
            assert await wamd.download(evt) == theirs
            assert mine.message is not None
            old_path = mine.message.image_message.direct_path
            host.expire(old_path)
            with pytest.raises(AssertionError, match="Failed to fetch"):
                await baileys.command("download", id=mine.id)  # 410
            answer = await baileys.command("reupload", id=mine.id)
            assert answer["directPath"].startswith("/v/")
            assert answer["directPath"] != old_path
            downloaded = await baileys.command("download", id=mine.id)
            assert base64.b64decode(downloaded["b64"]) == ours, baileys.report()
    finally:
        await baileys.close()
