"""The client's media glue without a network: building the sent message (``compose``), what a
download resolves to (``resolve``), default document names, ``SentMedia``, ``MediaRetry``."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wamd.errors import AttributeInvalid, MediaError, MediaRetryError
from wamd.media import MediaRef, MediaType, UploadResult, media_message
from wamd.media.events import MediaRetry
from wamd.media.retry import (
    RetryTarget,
    build_retry_notification,
    parse_retry_notification,
)
from wamd.media.send import SentMedia, compose, default_file_name
from wamd.media.service import resolve
from wamd.messaging import Message, SendResult
from wamd.messaging.builders import message_key, quote_context
from wamd.proto import e2e_pb2
from wamd.types import JID

KEY = bytes(range(32))
CHAT = JID.parse("15550001@s.whatsapp.net")
GROUP = JID.parse("1203630001@g.us")
SENDER = JID.parse("15550002:3@s.whatsapp.net")


def upload(kind: MediaType, **extra: object) -> UploadResult:
    fields: dict[str, object] = {
        "url": "https://host.example/v/t62/x.enc",
        "direct_path": "/v/t62/x.enc?ccb=11-4",
        "media_key": KEY,
        "file_enc_sha256": b"e" * 32,
        "file_sha256": b"p" * 32,
        "file_length": 1234,
        "media_type": kind,
        "mimetype": "image/jpeg",
        "width": 10,
        "height": 20,
        "seconds": 7,
        "jpeg_thumbnail": b"computed",
    }
    fields.update(extra)
    return UploadResult(**fields)  # type: ignore[arg-type]


def received(message: e2e_pb2.Message, *, group: bool = False, from_me: bool = False) -> Message:
    return Message(
        id="3EB0AAAA",
        chat=GROUP if group else CHAT,
        sender=SENDER,
        from_me=from_me,
        timestamp=datetime.now(UTC),
        message=message,
        is_group=group,
    )


def test_compose_is_media_message_plus_overrides() -> None:
    plain = compose(upload(MediaType.IMAGE), caption="hi")
    assert plain == media_message(
        upload(MediaType.IMAGE),
        caption="hi",
        media_key_timestamp=plain.image_message.media_key_timestamp,
    )
    custom = compose(upload(MediaType.VIDEO), thumbnail=b"given", seconds=99, width=1, height=2)
    video = custom.video_message
    assert (video.jpeg_thumbnail, video.seconds, video.width, video.height) == (b"given", 99, 1, 2)
    doc = compose(
        upload(MediaType.DOCUMENT), file_name="a.pdf", title="A", page_count=4, caption="read"
    )
    assert (
        doc.document_message.file_name,
        doc.document_message.title,
        doc.document_message.page_count,
        doc.document_message.caption,
    ) == ("a.pdf", "A", 4, "read")
    assert compose(upload(MediaType.PTT)).audio_message.ptt
    assert compose(upload(MediaType.GIF)).video_message.gif_playback


def test_compose_context_and_view_once() -> None:
    quoted = received(e2e_pb2.Message(conversation="the question"))
    ctx = quote_context(quoted, chat=CHAT)
    msg = compose(upload(MediaType.IMAGE), quote=ctx, mentions=[CHAT], expiration=86400)
    info = msg.image_message.context_info
    assert info.stanza_id == "3EB0AAAA"
    assert info.quoted_message.conversation == "the question"
    assert list(info.mentioned_jid) == [str(CHAT)]
    assert info.expiration == 86400
    once = compose(upload(MediaType.AUDIO), view_once=True)
    assert once.view_once_message_v2.message.audio_message.view_once


@pytest.mark.parametrize("kind", [MediaType.STICKER, MediaType.AUDIO, MediaType.PTT])
def test_no_thumbnail_on_kinds_without_one(kind: MediaType) -> None:
    with pytest.raises(ValueError, match="no thumbnail"):
        compose(upload(kind), thumbnail=b"x")


@pytest.mark.parametrize("kind", [MediaType.STICKER, MediaType.DOCUMENT, MediaType.GIF])
def test_view_once_only_for_image_video_audio(kind: MediaType) -> None:
    with pytest.raises(ValueError, match="view-once"):
        compose(upload(kind), view_once=True)


def test_history_blobs_are_not_messages() -> None:
    with pytest.raises(MediaError):
        compose(upload(MediaType.HISTORY))


def test_default_file_name(tmp_path: Path) -> None:
    assert default_file_name(tmp_path / "report.pdf") == "report.pdf"
    assert default_file_name(str(tmp_path / "x.txt")) == "x.txt"
    assert default_file_name(b"bytes") is None
    path = tmp_path / "opened.bin"
    path.write_bytes(b"1")
    with path.open("rb") as f:
        assert default_file_name(f) == "opened.bin"
    assert default_file_name(io.BytesIO(b"x")) is None


def test_sent_media_is_a_send_result() -> None:
    result = SendResult(
        id="3EB0X", timestamp=datetime.now(UTC), recipients=(SENDER,), phash="2:abc"
    )
    message = compose(upload(MediaType.IMAGE))
    sent = SentMedia.of(result, CHAT, message, upload(MediaType.IMAGE))
    assert isinstance(sent, SendResult)
    assert (sent.id, sent.recipients, sent.phash, sent.chat) == ("3EB0X", (SENDER,), "2:abc", CHAT)
    assert "media_key" not in repr(sent)
    assert KEY.hex() not in repr(sent)


def test_resolve_every_input() -> None:
    message = compose(upload(MediaType.IMAGE))
    ref = MediaRef.from_message(message)
    evt = received(message)
    got, target = resolve(evt)
    assert got == ref
    assert target == RetryTarget("3EB0AAAA", CHAT, False, None)
    got, target = resolve(received(message, group=True, from_me=False))
    assert target == RetryTarget("3EB0AAAA", GROUP, False, SENDER.to_non_ad())
    sent = SentMedia.of(
        SendResult("3EB0S", datetime.now(UTC), (), ""), CHAT, message, upload(MediaType.IMAGE)
    )
    assert resolve(sent) == (ref, RetryTarget("3EB0S", CHAT, True))
    assert resolve(message) == (ref, None)
    assert resolve(message.image_message) == (ref, None)
    assert resolve(ref) == (ref, None)
    assert resolve(upload(MediaType.IMAGE))[0] == upload(MediaType.IMAGE).ref()
    # wrappers are looked through
    wrapped = e2e_pb2.Message()
    wrapped.ephemeral_message.message.view_once_message_v2.message.CopyFrom(message)
    assert resolve(wrapped) == (ref, None)
    doc = compose(upload(MediaType.DOCUMENT))
    with_caption = e2e_pb2.Message()
    with_caption.document_with_caption_message.message.CopyFrom(doc)
    assert resolve(received(with_caption))[0] == MediaRef.from_message(doc)


def test_resolve_refuses_what_holds_no_media() -> None:
    with pytest.raises(MediaError, match="no media"):
        resolve(received(e2e_pb2.Message(conversation="hi")))
    with pytest.raises(MediaError, match="no media"):
        resolve(e2e_pb2.Message())
    with pytest.raises(MediaError):
        resolve(
            SentMedia.of(
                SendResult("3EB0S", datetime.now(UTC), (), ""),
                CHAT,
                e2e_pb2.Message(),
                upload(MediaType.IMAGE),
            )
        )
    with pytest.raises(MediaError):
        resolve(
            dataclasses.replace(
                SentMedia.of(
                    SendResult("3EB0S", datetime.now(UTC), (), ""),
                    CHAT,
                    compose(upload(MediaType.IMAGE)),
                    upload(MediaType.IMAGE),
                ),
                message=None,
            )
        )


def test_media_retry_event() -> None:
    target = RetryTarget("3EB0R", CHAT, True, None)
    answer = build_retry_notification(target, KEY, direct_path="/v/new", timestamp=1_700_000_000)
    evt = MediaRetry.from_notice(parse_retry_notification(answer))
    assert (evt.message_id, evt.chat, evt.from_me, evt.participant, evt.error_code) == (
        "3EB0R",
        CHAT,
        True,
        None,
        None,
    )
    assert evt.timestamp == datetime.fromtimestamp(1_700_000_000, UTC)
    assert evt.decrypt(KEY).direct_path == "/v/new"
    with pytest.raises(MediaRetryError):
        evt.decrypt(bytes(32))
    refused = MediaRetry.from_notice(
        parse_retry_notification(build_retry_notification(target, None, error_code=2))
    )
    assert refused.error_code == 2
    assert refused.timestamp is None
    with pytest.raises(MediaRetryError) as info:
        refused.decrypt(KEY)
    assert info.value.code == 2


@given(st.integers(min_value=-(2**70), max_value=2**70))
def test_media_retry_event_survives_any_time(seconds: int) -> None:
    target = RetryTarget("3EB0R", CHAT, False, SENDER.to_non_ad())
    node = build_retry_notification(target, None, error_code=2, timestamp=seconds)
    try:
        notice = parse_retry_notification(node)
    except AttributeInvalid:  # beyond 64 bits: refused typed (and ignored by the client)
        assert abs(seconds) >= 2**63 - 1
        return
    evt = MediaRetry.from_notice(notice)
    assert evt.participant == SENDER.to_non_ad()
    assert evt.timestamp is None or isinstance(evt.timestamp, datetime)


def test_message_key_of_a_sent_media_chat() -> None:
    # SentMedia.chat/id name the message like any other (for reactions, revokes...)
    sent = SentMedia.of(
        SendResult("3EB0K", datetime.now(UTC), (), ""),
        CHAT,
        compose(upload(MediaType.IMAGE)),
        upload(MediaType.IMAGE),
    )
    assert sent.chat is not None
    key = message_key(sent.chat, sent.id, from_me=True)
    assert (key.remote_jid, key.id, key.from_me) == (str(CHAT), "3EB0K", True)
