"""media_message: the announcing message of an upload, and back to a download reference."""

from __future__ import annotations

import pytest

from wamd.errors import MediaError
from wamd.media import MediaRef, MediaType, UploadResult, media_message
from wamd.media.keys import derive_media_keys


def upload(kind: MediaType, **extra: object) -> UploadResult:
    fields: dict[str, object] = {
        "url": "https://h:1/v/t62/x.enc?oh=1",
        "direct_path": "/v/t62/x.enc?oh=1",
        "media_key": bytes(range(32)),
        "file_enc_sha256": b"\x01" * 32,
        "file_sha256": b"\x02" * 32,
        "file_length": 1234,
        "media_type": kind,
        "mimetype": "x/y",
        "width": 640,
        "height": 480,
        "seconds": 7,
        "jpeg_thumbnail": b"\xff\xd8\xff",
    }
    fields.update(extra)
    return UploadResult(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        (MediaType.IMAGE, "image_message"),
        (MediaType.STICKER, "sticker_message"),
        (MediaType.VIDEO, "video_message"),
        (MediaType.GIF, "video_message"),
        (MediaType.PTV, "ptv_message"),
        (MediaType.AUDIO, "audio_message"),
        (MediaType.PTT, "audio_message"),
        (MediaType.DOCUMENT, "document_message"),
    ],
)
def test_fields_and_back(kind: MediaType, field: str) -> None:
    up = upload(kind)
    message = media_message(up, caption="hi", file_name="a.pdf", media_key_timestamp=1700)
    assert message.HasField(field)
    part = getattr(message, field)
    assert (part.url, part.direct_path, part.media_key) == (up.url, up.direct_path, up.media_key)
    assert (part.file_sha256, part.file_enc_sha256, part.file_length) == (
        up.file_sha256,
        up.file_enc_sha256,
        1234,
    )
    assert part.media_key_timestamp == 1700
    assert part.mimetype == "x/y"
    ref = MediaRef.from_message(message)
    assert derive_media_keys(ref.media_key or b"", ref.media_type) == derive_media_keys(
        up.media_key, kind
    )
    assert (ref.direct_path, ref.file_length) == (up.direct_path, 1234)
    if kind in (MediaType.IMAGE, MediaType.VIDEO, MediaType.DOCUMENT):
        assert part.caption == "hi"
        assert part.jpeg_thumbnail == b"\xff\xd8\xff"
    if kind in (MediaType.VIDEO, MediaType.AUDIO, MediaType.PTT):
        assert part.seconds == 7
    if kind in (MediaType.IMAGE, MediaType.STICKER, MediaType.VIDEO):
        assert (part.width, part.height) == (640, 480)


def test_kind_specific_flags() -> None:
    assert media_message(upload(MediaType.PTT)).audio_message.ptt
    assert not media_message(upload(MediaType.AUDIO)).audio_message.ptt
    assert media_message(upload(MediaType.GIF)).video_message.gif_playback
    doc = media_message(upload(MediaType.DOCUMENT), title="T", page_count=3).document_message
    assert (doc.file_name, doc.title, doc.page_count) == ("file", "T", 3)
    bare = media_message(upload(MediaType.IMAGE, width=None, height=None, jpeg_thumbnail=None))
    assert not bare.image_message.HasField("width")
    assert not bare.image_message.HasField("jpeg_thumbnail")


@pytest.mark.parametrize("kind", [MediaType.HISTORY, MediaType.APP_STATE, MediaType.LINK_THUMBNAIL])
def test_not_message_kinds(kind: MediaType) -> None:
    with pytest.raises(MediaError):
        media_message(upload(kind))
