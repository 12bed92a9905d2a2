"""What a download needs to know about a media blob, read from a message or given by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wamd.errors import MediaError
from wamd.media.keys import MediaType

# Message class name -> kind of its keys (the proto's own name, from its descriptor).
_CLASS_TO_TYPE = {
    "ImageMessage": MediaType.IMAGE,
    "StickerMessage": MediaType.STICKER,
    "StickerMetadata": MediaType.STICKER,
    "VideoMessage": MediaType.VIDEO,
    "AudioMessage": MediaType.AUDIO,
    "DocumentMessage": MediaType.DOCUMENT,
    "HistorySyncNotification": MediaType.HISTORY,
    "ExternalBlobReference": MediaType.APP_STATE,
}

# Fields of the top-level Message that hold a downloadable part, in the order tried.
_MESSAGE_FIELDS = (
    ("image_message", "imageMessage"),
    ("video_message", "videoMessage"),
    ("audio_message", "audioMessage"),
    ("document_message", "documentMessage"),
    ("sticker_message", "stickerMessage"),
    ("ptv_message", "ptvMessage"),
)

MEDIA_FIELDS = frozenset(name for name, _ in _MESSAGE_FIELDS)
"""The fields of an ``e2e_pb2.Message`` that hold downloadable media."""


@dataclass(frozen=True, slots=True)
class MediaRef:
    """Where a blob lives and how to open and check it.

    ``media_key`` is ``None`` for unencrypted media (newsletters); it is secret and kept out of
    ``repr``. At least one of ``direct_path`` and ``url`` is needed.
    """

    media_type: MediaType
    media_key: bytes | None = field(repr=False)
    direct_path: str | None = None
    url: str | None = None
    file_sha256: bytes | None = None
    file_enc_sha256: bytes | None = None
    file_length: int | None = None
    mimetype: str | None = None

    def __post_init__(self) -> None:
        if not self.direct_path and not self.url:
            raise MediaError("the media has neither a direct path nor a URL")
        if self.direct_path and not self.direct_path.startswith("/"):
            raise MediaError("a direct path starts with '/'")

    @classmethod
    def from_message(cls, message: Any, media_type: MediaType | None = None) -> MediaRef:
        """Read the download fields of a media message protobuf.

        ``message`` is an ImageMessage, VideoMessage, AudioMessage, DocumentMessage,
        StickerMessage (or HistorySyncNotification / ExternalBlobReference), or a whole
        ``Message`` holding one of the first five. The kind comes from the class (a voice note
        is an AudioMessage with ``ptt`` set; it uses the audio keys); ``media_type`` overrides
        it. Raises :class:`~wamd.errors.MediaError` when nothing downloadable is found.
        """
        part = _downloadable_part(message)
        name = _proto_name(part)
        kind = media_type or _CLASS_TO_TYPE.get(name)
        if kind is None:
            raise MediaError(f"cannot tell the media kind of a {name or type(part).__name__}")
        if kind is MediaType.AUDIO and _field(part, "ptt"):
            kind = MediaType.PTT
        length = _field(part, "file_length", "fileLength", "file_size_bytes", "fileSizeBytes")
        return cls(
            media_type=kind,
            media_key=_bytes_or_none(_field(part, "media_key", "mediaKey")),
            direct_path=_field(part, "direct_path", "directPath") or None,
            url=_field(part, "url") or None,
            file_sha256=_bytes_or_none(_field(part, "file_sha256", "fileSha256", "fileSHA256")),
            file_enc_sha256=_bytes_or_none(
                _field(part, "file_enc_sha256", "fileEncSha256", "fileEncSHA256")
            ),
            file_length=int(length) if length is not None else None,
            mimetype=_field(part, "mimetype") or None,
        )


def _proto_name(obj: Any) -> str:
    descriptor = getattr(obj, "DESCRIPTOR", None)
    name = getattr(descriptor, "name", None)
    return name if isinstance(name, str) else type(obj).__name__


def _has(obj: Any, name: str) -> bool:
    if not hasattr(obj, name):
        return False
    has_field = getattr(obj, "HasField", None)
    if has_field is None:
        return getattr(obj, name) is not None
    try:
        return bool(has_field(name))
    except ValueError:  # proto3 scalar or repeated: no presence; count non-default as set
        return bool(getattr(obj, name))


def _field(obj: Any, *names: str) -> Any:
    for name in names:
        if _has(obj, name):
            return getattr(obj, name)
    return None


def _downloadable_part(message: Any) -> Any:
    if _proto_name(message) in _CLASS_TO_TYPE:
        return message
    for names in _MESSAGE_FIELDS:
        part = _field(message, *names)
        if part is not None:
            return part
    raise MediaError(f"nothing downloadable in a {_proto_name(message)}")


def _bytes_or_none(value: Any) -> bytes | None:
    if value is None or len(value) == 0:
        return None
    return bytes(value)
