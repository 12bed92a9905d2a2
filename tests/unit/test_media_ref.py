"""Reading download fields from the generated message protobufs."""

from __future__ import annotations

import pytest

from wamd.errors import MediaError
from wamd.media.keys import MediaType
from wamd.media.ref import MediaRef
from wamd.proto import appstate_pb2, e2e_pb2

KEY = bytes(range(32))
SHA = bytes(32)
ENC = bytes([1]) * 32


def _fill(msg: object) -> None:
    msg.media_key = KEY  # type: ignore[attr-defined]
    msg.direct_path = "/v/t62/abc.enc?x=1"  # type: ignore[attr-defined]
    msg.file_sha256 = SHA  # type: ignore[attr-defined]
    msg.file_enc_sha256 = ENC  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("field", "kind"),
    [
        ("image_message", MediaType.IMAGE),
        ("video_message", MediaType.VIDEO),
        ("audio_message", MediaType.AUDIO),
        ("document_message", MediaType.DOCUMENT),
        ("sticker_message", MediaType.STICKER),
    ],
)
def test_whole_message_and_part(field: str, kind: MediaType) -> None:
    message = e2e_pb2.Message()
    part = getattr(message, field)
    _fill(part)
    part.url = "https://host/v/t62/abc.enc?x=1"
    part.mimetype = "x/y"
    part.file_length = 1234
    for source in (message, part):
        ref = MediaRef.from_message(source)
        assert ref.media_type is kind
        assert ref.media_key == KEY
        assert ref.direct_path == "/v/t62/abc.enc?x=1"
        assert ref.url == "https://host/v/t62/abc.enc?x=1"
        assert (ref.file_sha256, ref.file_enc_sha256, ref.file_length) == (SHA, ENC, 1234)
        assert ref.mimetype == "x/y"
        assert KEY.hex() not in repr(ref)


def test_voice_note_is_ptt() -> None:
    audio = e2e_pb2.AudioMessage(ptt=True)
    _fill(audio)
    assert MediaRef.from_message(audio).media_type is MediaType.PTT


def test_history_and_app_state_blobs() -> None:
    note = e2e_pb2.HistorySyncNotification(file_length=99)
    _fill(note)
    ref = MediaRef.from_message(note)
    assert (ref.media_type, ref.file_length) == (MediaType.HISTORY, 99)
    blob = appstate_pb2.ExternalBlobReference(file_size_bytes=77)
    _fill(blob)
    ref = MediaRef.from_message(blob)
    assert (ref.media_type, ref.file_length) == (MediaType.APP_STATE, 77)


def test_absent_fields_are_none() -> None:
    image = e2e_pb2.ImageMessage(direct_path="/p")
    ref = MediaRef.from_message(image)
    assert ref.media_key is None
    assert (ref.file_sha256, ref.file_enc_sha256, ref.file_length, ref.url) == (
        None,
        None,
        None,
        None,
    )


def test_override_kind() -> None:
    image = e2e_pb2.ImageMessage(direct_path="/p")
    assert MediaRef.from_message(image, MediaType.LINK_THUMBNAIL).media_type is (
        MediaType.LINK_THUMBNAIL
    )


@pytest.mark.parametrize(
    "message",
    [
        e2e_pb2.Message(conversation="hi"),
        e2e_pb2.ImageMessage(),
        e2e_pb2.ImageMessage(direct_path="no-slash"),
        e2e_pb2.ExtendedTextMessage(text="x"),
    ],
)
def test_nothing_downloadable(message: object) -> None:
    with pytest.raises(MediaError):
        MediaRef.from_message(message)
