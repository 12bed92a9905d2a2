"""From an upload to the media message that announces it (sans-I/O).

:func:`media_message` fills the ``ImageMessage``, ``VideoMessage`` (also GIFs and round
videos), ``AudioMessage`` (voice notes: ``ptt``), ``DocumentMessage`` or ``StickerMessage`` of
an ``e2e_pb2.Message`` with the fields an :class:`~wamd.media.transfer.UploadResult` holds,
the way WhatsApp's clients send them.
"""

from __future__ import annotations

import time
from typing import Any

from wamd.errors import MediaError
from wamd.media.keys import MediaType
from wamd.media.transfer import UploadResult
from wamd.proto import e2e_pb2

_FIELD = {
    MediaType.IMAGE: "image_message",
    MediaType.STICKER: "sticker_message",
    MediaType.VIDEO: "video_message",
    MediaType.GIF: "video_message",
    MediaType.PTV: "ptv_message",
    MediaType.AUDIO: "audio_message",
    MediaType.PTT: "audio_message",
    MediaType.DOCUMENT: "document_message",
}


def media_message(
    upload: UploadResult,
    *,
    caption: str | None = None,
    file_name: str | None = None,
    title: str | None = None,
    page_count: int | None = None,
    media_key_timestamp: int | None = None,
) -> e2e_pb2.Message:
    """The message announcing ``upload`` (its kind picks the field).

    ``caption`` applies to images, videos and documents; ``file_name``, ``title`` and
    ``page_count`` to documents. Raises :class:`~wamd.errors.MediaError` for kinds that are not
    sent as messages (history, app state, thumbnails).
    """
    field = _FIELD.get(upload.media_type)
    if field is None:
        raise MediaError(f"{upload.media_type.value} media is not sent as a message")
    message = e2e_pb2.Message()
    part: Any = getattr(message, field)
    part.url = upload.url
    part.direct_path = upload.direct_path
    part.media_key = upload.media_key
    part.file_sha256 = upload.file_sha256
    part.file_enc_sha256 = upload.file_enc_sha256
    part.file_length = upload.file_length
    part.media_key_timestamp = (
        int(time.time()) if media_key_timestamp is None else media_key_timestamp
    )
    if upload.mimetype:
        part.mimetype = upload.mimetype
    kind = upload.media_type
    if kind in (MediaType.IMAGE, MediaType.STICKER, MediaType.VIDEO, MediaType.GIF, MediaType.PTV):
        if upload.width:
            part.width = upload.width
        if upload.height:
            part.height = upload.height
    timed = (MediaType.VIDEO, MediaType.GIF, MediaType.PTV, MediaType.AUDIO, MediaType.PTT)
    if kind in timed and upload.seconds is not None:
        part.seconds = upload.seconds
    if kind in (MediaType.IMAGE, MediaType.VIDEO, MediaType.GIF, MediaType.PTV, MediaType.DOCUMENT):
        if upload.jpeg_thumbnail:
            part.jpeg_thumbnail = upload.jpeg_thumbnail
        if caption is not None and kind is not MediaType.PTV:
            part.caption = caption
    if kind is MediaType.GIF:
        part.gif_playback = True
    if kind is MediaType.PTT:
        part.ptt = True
    if kind is MediaType.DOCUMENT:
        part.file_name = file_name or "file"
        if title is not None:
            part.title = title
        if page_count is not None:
            part.page_count = page_count
    return message
