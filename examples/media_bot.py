"""A media bot: it receives an image, downloads (and decrypts, and verifies) it, and sends it
back with a caption, as a reply to the original.

    .venv/bin/python examples/media_bot.py [IMAGE_FILE]

What it shows:

* ``evt.kind == "image"`` and the image's fields (``evt.message.image_message``: mimetype,
  size, caption);
* ``await client.download(evt)``: the media host's encrypted copy, decrypted and checked
  against the message's hashes (``to=path`` writes a file instead of returning bytes);
* ``await client.send_image(chat, data, caption=..., quote=evt)``: encrypt, upload, send.

It starts an in-process sandbox (state in memory; its HTTPS media host on loopback), links the
bot and a user through the sandbox's simulated phones, and the user sends the image (the file
given, else one drawn with Pillow, from the ``media`` extra). The user then downloads the echo
and checks it is byte for byte what they sent. Against WhatsApp, build the bot's ``Client``
without ``server`` and link it once with ``wamd login``.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import sys
from pathlib import Path

from wamd.client import Client
from wamd.messaging import Message
from wamd.sandbox.testing import paired_client, running_sandbox

BOT_PHONE = "15550000401"
USER_PHONE = "15550000402"
MAX_BYTES = 16 * 1024 * 1024
"""The bot ignores larger images (check the announced size before downloading)."""


def make_media_bot(client: Client) -> None:
    """Register the bot's handler on ``client``: echo every image back with a caption."""

    @client.on(Message)
    async def echo_image(evt: Message) -> None:
        if evt.from_me or evt.kind != "image":
            return
        image = evt.message.image_message
        if image.file_length > MAX_BYTES:
            await client.send_text(evt.chat, "that image is too large for me", quote=evt)
            return
        data = await client.download(evt)
        caption = (
            f"got your {image.mimetype} image: {len(data)} bytes, "
            f"sha256 {hashlib.sha256(data).hexdigest()[:12]}"
        )
        if image.caption:
            caption += f", caption {image.caption!r}"
        await client.send_image(evt.chat, data, caption=caption, quote=evt)


def drawn_image() -> bytes:
    """A small JPEG drawn with Pillow (the ``media`` extra)."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (160, 90), (30, 120, 200))
    ImageDraw.Draw(picture).ellipse((50, 15, 110, 75), fill=(250, 200, 40))
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=85)
    return out.getvalue()


async def main(image: bytes) -> None:
    async with (
        running_sandbox() as sandbox,
        paired_client(sandbox, BOT_PHONE) as bot,
        paired_client(sandbox, USER_PHONE) as user,
    ):
        make_media_bot(bot)
        replies: asyncio.Queue[Message] = asyncio.Queue()
        user.on(Message)(lambda evt: replies.put_nowait(evt) if evt.kind == "image" else None)

        assert bot.jid is not None
        sent = await user.send_image(bot.jid.to_non_ad(), image, caption="my picture")
        print(f"[user] sent image {sent.id} ({len(image)} bytes)")
        async with asyncio.timeout(30):
            echo = await replies.get()
        quoted = echo.quoted
        print(f"[user] the bot answered: {echo.message.image_message.caption!r}")
        print(f"[user] replying to my image: {quoted is not None and quoted.id == sent.id}")
        back = await user.download(echo)
        print(f"[user] downloaded {len(back)} bytes; identical to mine: {back == image}")
        if back != image:
            raise SystemExit("the echoed image differs")


if __name__ == "__main__":
    data = Path(sys.argv[1]).read_bytes() if len(sys.argv) > 1 else drawn_image()
    asyncio.run(main(data))
