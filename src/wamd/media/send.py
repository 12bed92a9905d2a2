"""Media messages as the client's send helpers build them (sans-I/O).

:func:`compose` turns an :class:`~wamd.media.transfer.UploadResult` into the message that
announces it: :func:`~wamd.media.message.media_message` for the media fields, the caller's
overrides (thumbnail, duration, dimensions), then reply / mention / disappearing-timer
context (:func:`wamd.messaging.builders.with_context`) and the view-once wrapper.
:class:`SentMedia` is what the helpers return.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from wamd.media.keys import MediaType
from wamd.media.message import media_message
from wamd.media.transfer import UploadResult, UploadSource
from wamd.messaging.builders import view_once as view_once_wrapper
from wamd.messaging.builders import with_context
from wamd.messaging.send import SendResult
from wamd.proto import e2e_pb2
from wamd.types import JID

__all__ = ["SentMedia", "check_options", "compose", "default_file_name"]

_VIEW_ONCE_KINDS = frozenset({MediaType.IMAGE, MediaType.VIDEO, MediaType.AUDIO, MediaType.PTT})
_NO_THUMBNAIL = frozenset({MediaType.STICKER, MediaType.AUDIO, MediaType.PTT})


@dataclass(frozen=True, slots=True)
class SentMedia(SendResult):
    """A :class:`~wamd.messaging.SendResult` for a media message, with what was sent.

    ``chat`` is where it went, ``message`` the ``e2e_pb2.Message`` sent (pass the whole
    ``SentMedia`` to :meth:`wamd.client.Client.download` to get the file back, or forward
    ``message``), ``upload`` the upload it announces (its ``media_key`` is secret).
    """

    chat: JID | None = None
    message: e2e_pb2.Message | None = dataclasses.field(default=None, repr=False)
    upload: UploadResult | None = dataclasses.field(default=None, repr=False)

    @classmethod
    def of(
        cls, result: SendResult, chat: JID, message: e2e_pb2.Message, upload: UploadResult
    ) -> SentMedia:
        """Wrap ``result`` (of sending ``message`` to ``chat``)."""
        base = {f.name: getattr(result, f.name) for f in dataclasses.fields(SendResult)}
        return cls(**base, chat=chat, message=message, upload=upload)


def default_file_name(source: UploadSource) -> str | None:
    """The file name a document gets by default: the base name of a path source."""
    if isinstance(source, str | os.PathLike):
        name = PurePath(os.fspath(source)).name
        return name or None
    opened = getattr(source, "name", None)  # an open file
    if isinstance(opened, str) and opened:
        return PurePath(opened).name or None
    return None


def check_options(kind: MediaType, *, thumbnail: bytes | None, view_once: bool) -> None:
    """Raise :class:`ValueError` when ``kind`` cannot carry a thumbnail or be view-once."""
    if thumbnail is not None and kind in _NO_THUMBNAIL:
        raise ValueError(f"{kind.value} messages carry no thumbnail")
    if view_once and kind not in _VIEW_ONCE_KINDS:
        raise ValueError(f"{kind.value} messages cannot be view-once")


def compose(
    upload: UploadResult,
    *,
    caption: str | None = None,
    file_name: str | None = None,
    title: str | None = None,
    page_count: int | None = None,
    thumbnail: bytes | None = None,
    seconds: int | None = None,
    width: int | None = None,
    height: int | None = None,
    quote: e2e_pb2.ContextInfo | None = None,
    mentions: Iterable[JID | str] = (),
    expiration: int | None = None,
    view_once: bool = False,
) -> e2e_pb2.Message:
    """The message announcing ``upload``, ready for :meth:`wamd.client.Client.send_message`.

    ``thumbnail`` (a small JPEG), ``seconds``, ``width`` and ``height`` replace what the
    upload computed (see :mod:`wamd.media.info`; videos get no thumbnail unless given).
    ``quote`` is a reply context (:func:`wamd.messaging.builders.quote_context`).
    ``view_once`` wraps images, videos and audio in ``viewOnceMessageV2``. Raises
    :class:`ValueError` for ``view_once`` on another kind, and
    :class:`~wamd.errors.MediaError` for kinds that are not messages.
    """
    check_options(upload.media_type, thumbnail=thumbnail, view_once=view_once)
    overrides: dict[str, Any] = {}
    if thumbnail is not None:
        overrides["jpeg_thumbnail"] = bytes(thumbnail)
    if seconds is not None:
        overrides["seconds"] = seconds
    if width is not None:
        overrides["width"] = width
    if height is not None:
        overrides["height"] = height
    if overrides:
        upload = dataclasses.replace(upload, **overrides)
    message = media_message(
        upload, caption=caption, file_name=file_name, title=title, page_count=page_count
    )
    message = with_context(message, quote=quote, mentions=mentions, expiration=expiration)
    if view_once:
        message = view_once_wrapper(message)
    return message
