"""The Client's media facade end to end: two wamd clients on a sandbox send every media kind
as messages (``send_image`` ... ``send_sticker``) and the receiver downloads each one
byte-identical as bytes, into a file and as an iterator; replies, mentions, view-once and
groups; the automatic media retry when the blob is gone.

The clients get the sandbox's media CA from ``wamd.sandbox.testing.server_info`` alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from tests.unit.test_conn_transport import Proxy
from tests.unit.test_media_info import make_image, make_mp4, make_ogg_opus, make_wav
from wamd.binary import Node
from wamd.client import Client
from wamd.errors import MediaError, MediaExpired, MediaRetryError
from wamd.media import MediaRef, MediaType, media_message
from wamd.media.events import MediaRetry
from wamd.media.retry import RetryTarget
from wamd.media.send import SentMedia
from wamd.media.transfer import UploadResult
from wamd.messaging import Message
from wamd.messaging.content import kind_of
from wamd.proto import e2e_pb2
from wamd.sandbox import Sandbox
from wamd.sandbox.media import phone_media_of
from wamd.sandbox.phone_reader import phone_reader_of
from wamd.sandbox.testing import paired_client, server_info
from wamd.types import JID

ALICE = "15550007001"
BOB = "15550007002"
CAROL = "15550007003"
WAIT = 30.0


class Inbox:
    """The Message events a client receives, in order."""

    def __init__(self, client: Client) -> None:
        self.queue: asyncio.Queue[Message] = asyncio.Queue()
        client.on(Message)(self.queue.put)

    async def next(self) -> Message:
        async with asyncio.timeout(WAIT):
            return await self.queue.get()


@contextlib.asynccontextmanager
async def two_clients(sandbox: Sandbox) -> AsyncIterator[tuple[Client, Client, Inbox, Inbox]]:
    """Alice and Bob, connected, with their inboxes (Bob's first)."""
    async with paired_client(sandbox, ALICE) as alice, paired_client(sandbox, BOB) as bob:
        yield alice, bob, Inbox(bob), Inbox(alice)


def user(phone: str) -> JID:
    return JID.parse(f"{phone}@s.whatsapp.net")


def make_webp(size: tuple[int, int] = (512, 512)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (10, 200, 90, 128)).save(out, "WEBP")
    return out.getvalue()


THUMB = make_image("JPEG", (32, 24))


async def assert_downloads(client: Client, evt: Message, expected: bytes, tmp: Path) -> None:
    """bytes, a file path, a file object and an iterator all give ``expected``."""
    assert await client.download(evt) == expected
    target = tmp / f"{evt.id}.bin"
    assert await client.download(evt, to=target) == len(expected)
    assert target.read_bytes() == expected
    sink = io.BytesIO()
    assert await client.download(evt, to=sink) == len(expected)
    assert sink.getvalue() == expected
    chunks = [chunk async for chunk in client.iter_download(evt)]
    assert b"".join(chunks) == expected


async def test_server_info_carries_the_media_ca(sandbox: Sandbox) -> None:
    info = server_info(sandbox)
    assert sandbox.media is not None
    assert info.media_ca == sandbox.media.ca_file.read_text()
    assert "BEGIN CERTIFICATE" in (info.media_ca or "")
    assert "media_ca" not in repr(info)


async def test_every_media_kind_round_trips(sandbox: Sandbox, tmp_path: Path) -> None:
    image = make_image("JPEG", (320, 200))
    video = make_mp4(4200, 640, 360)
    audio = make_wav(2.0)
    voice = make_ogg_opus(3.0)
    sticker = make_webp()
    pdf = b"%PDF-1.4\n" + os.urandom(300_000) + b"\n%%EOF\n"
    doc_path = tmp_path / "report.pdf"
    doc_path.write_bytes(pdf)
    to = user(BOB)
    async with two_clients(sandbox) as (alice, bob, inbox, _):
        sent = await alice.send_image(to, image, caption="a picture")
        assert isinstance(sent, SentMedia)
        assert sent.chat == to
        assert sent.recipients
        evt = await inbox.next()
        assert evt.id == sent.id
        assert kind_of(evt.message) == "image"
        img = evt.message.image_message
        assert img.caption == "a picture"
        assert img.mimetype == "image/jpeg"
        assert (img.width, img.height) == (320, 200)
        assert img.jpeg_thumbnail.startswith(b"\xff\xd8")  # computed with Pillow
        await assert_downloads(bob, evt, image, tmp_path)

        await alice.send_video(to, video, caption="a clip", thumbnail=THUMB)
        evt = await inbox.next()
        vid = evt.message.video_message
        assert (vid.mimetype, vid.seconds, vid.width, vid.height) == ("video/mp4", 4, 640, 360)
        assert vid.jpeg_thumbnail == THUMB
        assert vid.caption == "a clip"
        assert not vid.gif_playback
        await assert_downloads(bob, evt, video, tmp_path)

        await alice.send_video(to, video, gif=True)
        evt = await inbox.next()
        assert evt.message.video_message.gif_playback
        assert await bob.download(evt) == video

        await alice.send_audio(to, audio)
        evt = await inbox.next()
        aud = evt.message.audio_message
        assert (aud.seconds, aud.ptt) == (2, False)
        assert aud.mimetype.startswith("audio/")
        await assert_downloads(bob, evt, audio, tmp_path)

        await alice.send_audio(to, voice, ptt=True)
        evt = await inbox.next()
        note = evt.message.audio_message
        assert (note.ptt, note.seconds, note.mimetype) == (True, 3, "audio/ogg; codecs=opus")
        await assert_downloads(bob, evt, voice, tmp_path)

        await alice.send_document(
            to, doc_path, caption="the report", thumbnail=THUMB, title="Report", page_count=3
        )
        evt = await inbox.next()
        doc = evt.message.document_message
        assert (doc.file_name, doc.mimetype, doc.title, doc.page_count) == (
            "report.pdf",
            "application/pdf",
            "Report",
            3,
        )
        assert doc.caption == "the report"
        assert doc.jpeg_thumbnail == THUMB
        assert doc.file_length == len(pdf)
        await assert_downloads(bob, evt, pdf, tmp_path)

        await alice.send_sticker(to, sticker)
        evt = await inbox.next()
        stk = evt.message.sticker_message
        assert (stk.mimetype, stk.width, stk.height) == ("image/webp", 512, 512)
        await assert_downloads(bob, evt, sticker, tmp_path)

        # the sender gets its own media back from what send_* returned
        assert await alice.download(sent) == image


async def test_sources_replies_mentions_and_view_once(sandbox: Sandbox, tmp_path: Path) -> None:
    data = make_image("PNG", (64, 48))
    to = user(BOB)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 1000):
            yield data[i : i + 1000]

    async with two_clients(sandbox) as (alice, bob, inbox, alice_inbox):
        first = await alice.send_image(to, chunks(), caption="streamed")
        evt = await inbox.next()
        assert evt.message.image_message.mimetype == "image/png"
        assert await bob.download(evt) == data

        with (tmp_path / "pic.png").open("wb") as f:
            f.write(data)
        with (tmp_path / "pic.png").open("rb") as f:
            reply = await bob.send_image(
                user(ALICE), f, caption="back", quote=evt, mentions=[user(ALICE)]
            )
        assert reply.message is not None
        got = await alice_inbox.next()
        ctx = got.message.image_message.context_info
        assert ctx.stanza_id == first.id
        assert ctx.quoted_message.image_message.caption == "streamed"
        assert list(ctx.mentioned_jid) == [f"{ALICE}@s.whatsapp.net"]
        assert await alice.download(got) == data

        await alice.send_image(to, data, view_once=True)
        evt = await inbox.next()
        assert evt.message.view_once_message_v2.message.image_message.view_once
        assert await bob.download(evt) == data  # looks through the wrapper

        with pytest.raises(ValueError, match="no thumbnail"):
            await alice.send_sticker(to, make_webp(), thumbnail=THUMB)
        with pytest.raises(ValueError, match="view-once"):
            await alice.send_document(to, b"x", view_once=True)
        with pytest.raises(MediaError, match="no media"):
            await bob.download(e2e_pb2.Message(conversation="hi"))

        # the other download inputs: a proto, a part, an upload, a reference
        up = await alice.upload(b"raw bytes", "document")
        message = media_message(up, file_name="raw.txt")
        assert await bob.download(message) == b"raw bytes"
        assert await bob.download(message.document_message) == b"raw bytes"
        assert await bob.download(up) == b"raw bytes"
        assert await bob.download(MediaRef.from_message(message)) == b"raw bytes"


async def test_media_in_a_group(sandbox: Sandbox) -> None:
    picture = make_image("JPEG", (80, 60))
    async with (
        two_clients(sandbox) as (alice, bob, inbox, alice_inbox),
        paired_client(sandbox, CAROL) as carol,
    ):
        carol_inbox = Inbox(carol)
        group = await alice.create_group("pictures", [user(BOB), user(CAROL)])
        sent = await alice.send_image(group.jid, picture, caption="to all")
        for client, box in ((bob, inbox), (carol, carol_inbox)):
            evt = await box.next()
            while evt.id != sent.id:
                evt = await box.next()
            assert evt.is_group
            assert evt.chat == group.jid
            assert await client.download(evt) == picture
        voice = make_ogg_opus(1.0)
        back = await carol.send_audio(group.jid, voice, ptt=True)
        evt = await alice_inbox.next()
        while evt.id != back.id:
            evt = await alice_inbox.next()
        assert evt.message.audio_message.ptt
        assert await alice.download(evt) == voice


async def test_gone_media_is_asked_again_from_the_phone(sandbox: Sandbox) -> None:
    host = sandbox.media
    assert host is not None
    data = make_image("JPEG", (100, 100))
    async with two_clients(sandbox) as (alice, bob, inbox, _):
        retries: asyncio.Queue[MediaRetry] = asyncio.Queue()
        bob.on(MediaRetry)(retries.put)
        await alice.send_image(user(BOB), data)
        evt = await inbox.next()
        image = evt.message.image_message
        host.expire(image.direct_path)
        with pytest.raises(MediaExpired):
            await bob.download(evt, reupload=False)
        assert await bob.download(evt) == data  # Bob's phone uploads it again
        answer = await asyncio.wait_for(retries.get(), WAIT)
        assert answer.message_id == evt.id
        assert answer.chat == evt.chat
        assert not answer.from_me
        assert answer.error_code is None
        # it came through the durable inbox: stored (with the stanza) before the ack
        assert answer.seq > 0
        assert not answer.redelivered
        entry = await bob.device.account.inbox.get(answer.seq)
        assert entry is not None
        assert entry.kind == "mediaretry"
        fresh = answer.decrypt(image.media_key).direct_path
        assert fresh
        assert fresh != image.direct_path
        # the new path is remembered: no second request to the phone
        before = len(host.log)
        assert b"".join([c async for c in bob.iter_download(evt)]) == data
        assert all(entry.path in fresh for entry in list(host.log)[before:])
        assert retries.empty()

        # media no phone ever saw (uploaded, never sent): MediaRetryError(code 2), and the
        # event says so; a bare upload cannot be asked for at all without retry_target
        up = await alice.upload(b"never sent", MediaType.DOCUMENT)
        host.expire(up.direct_path)
        with pytest.raises(MediaExpired):
            await alice.download(up)
        alice_retries: asyncio.Queue[MediaRetry] = asyncio.Queue()
        alice.on(MediaRetry)(alice_retries.put)
        target = RetryTarget("3EB0NEVERSENT", user(BOB), from_me=True)
        with pytest.raises(MediaRetryError) as info:
            await alice.download(up, retry_target=target)
        assert info.value.code == 2
        refused = await asyncio.wait_for(alice_retries.get(), WAIT)
        assert (refused.message_id, refused.from_me, refused.error_code) == (
            "3EB0NEVERSENT",
            True,
            2,
        )
        # told by hand (a message the phone holds), the same upload comes back
        phone_media_of(sandbox).remember(ALICE, "3EB0NEVERSENT", up.media_key, up.direct_path)
        assert await alice.download(up, retry_target=target) == b"never sent"


async def test_the_phones_learn_media_from_real_messages(sandbox: Sandbox) -> None:
    """No hand-fed phone: the sandbox's phones read the media messages sent to them (device 0
    copies), so gone media of real messages is uploaded again for the recipient and the
    sender, in 1:1 chats and groups."""
    host = sandbox.media
    assert host is not None
    reader = phone_reader_of(sandbox)
    data = make_image("JPEG", (90, 90))
    voice = make_ogg_opus(2.0)
    async with (
        two_clients(sandbox) as (alice, bob, inbox, _),
        paired_client(sandbox, CAROL) as carol,
    ):
        carol_inbox = Inbox(carol)
        sent = await alice.send_image(user(BOB), data, caption="remember me")
        evt = await inbox.next()
        assert reader.learned == 2  # Bob's phone (the message) and Alice's (her own copy)
        assert phone_media_of(sandbox).lookup(BOB, sent.id) is not None
        assert phone_media_of(sandbox).lookup(ALICE, sent.id) is not None
        host.expire(evt.message.image_message.direct_path)
        assert await bob.download(evt) == data
        assert await alice.download(sent) == data  # her phone had her own copy

        group = await alice.create_group("retry", [user(BOB), user(CAROL)])
        shared = await alice.send_audio(group.jid, voice, ptt=True)
        got = await carol_inbox.next()
        while got.id != shared.id:
            got = await carol_inbox.next()
        for phone in (ALICE, BOB, CAROL):
            assert phone_media_of(sandbox).lookup(phone, shared.id) is not None, phone
        host.expire(got.message.audio_message.direct_path)
        assert await carol.download(got) == voice

        # text and other non-media messages are not read at all
        before = reader.learned
        await alice.send_message(user(BOB), e2e_pb2.Message(conversation="plain"))
        await inbox.next()
        assert reader.learned == before


async def test_the_phone_reader_survives_hostile_messages(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """Garbage addressed to a phone is skipped; the routing goes on and later media is learned."""
    reader = phone_reader_of(sandbox)
    phone = JID(BOB, "s.whatsapp.net", device=0)
    encs = [
        Node("enc", {"v": "2", "type": "pkmsg", "mediatype": "image"}, b"garbage"),
        Node("enc", {"v": "2", "type": "msg", "mediatype": "image"}, os.urandom(80)),
        Node("enc", {"v": "2", "type": "pkmsg", "mediatype": "image"}, None),
        Node("enc", {"v": "2", "type": "bogus", "mediatype": "image"}, b"x"),
    ]
    async with two_clients(sandbox) as (alice, _bob, inbox, _):
        for i, enc in enumerate(encs):
            stanza = Node(
                "message",
                {"id": f"3EB0BAD{i}", "to": user(BOB), "type": "media"},
                [
                    Node(
                        "participants",
                        {},
                        [
                            Node("to", {"jid": phone}, [enc]),
                            Node("to", {"jid": JID("19990000", "s.whatsapp.net", device=0)}, [enc]),
                            Node("to", {"jid": "not a jid"}, [enc]),
                        ],
                    )
                ],
            )
            ack = await alice.request(stanza)
            assert ack.tag == "ack"
        group_garbage = Node(
            "message",
            {"id": "3EB0BADG", "to": JID("1203630009", "g.us"), "type": "media"},
            [Node("enc", {"v": "2", "type": "skmsg", "mediatype": "image"}, b"garbage")],
        )
        await alice.request(group_garbage)
        # a real media message whose path is not one of the sandbox's: decrypted, not kept
        foreign = media_message(
            UploadResult(
                url="https://elsewhere.example/x",
                direct_path="/elsewhere/x",
                media_key=bytes(32),
                file_enc_sha256=bytes(32),
                file_sha256=bytes(32),
                file_length=1,
                media_type=MediaType.IMAGE,
            )
        )
        await alice.send_message(user(BOB), foreign)
        while (await inbox.next()).message.image_message.direct_path != "/elsewhere/x":
            pass
        assert reader.learned == 0
        sent = await alice.send_image(user(BOB), make_image("PNG", (8, 8)))
        evt = await inbox.next()
        assert evt.id == sent.id
        assert reader.learned == 2
    assert not [r for r in caplog.records if r.name == "wamd.sandbox.phone" and r.exc_info]


@pytest.mark.parametrize("kind", ["http", "socks5"])
async def test_media_goes_through_the_client_proxy(sandbox: Sandbox, kind: str) -> None:
    host = sandbox.media
    assert host is not None
    proxy = Proxy(kind)
    await proxy.start()
    data = make_image("PNG", (20, 20))
    await sandbox.admin.create_account(BOB)
    try:
        async with paired_client(sandbox, ALICE, proxy=f"{kind}://127.0.0.1:{proxy.port}") as alice:
            sent = await alice.send_image(user(BOB), data)
            assert await alice.download(sent) == data
        media_port = int(host.https_hostnames[0].rsplit(":", 1)[1])
        assert ("127.0.0.1", media_port) in proxy.targets  # upload and download
        assert any(port != media_port for _, port in proxy.targets)  # the WebSocket too
    finally:
        await proxy.stop()
