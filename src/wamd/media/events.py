"""The media event: :class:`MediaRetry`, the phone's answer to a media-retry request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from wamd.events import Event
from wamd.media.retry import MediaRetryAnswer, MediaRetryNotice, decrypt_retry_notification
from wamd.types import JID

__all__ = ["MediaRetry"]


def _time(seconds: int | None) -> datetime | None:
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):  # a hostile "t": no time rather than a crash
        return None


@dataclass(frozen=True, slots=True)
class MediaRetry(Event):
    """A ``<notification type="mediaretry">`` arrived: a phone answered a media-retry request.

    It is emitted for every such answer, including those that :meth:`wamd.client.Client.download`
    waits for itself (which then already downloaded from the new path). An application that
    keeps its own messages (and asked with
    :meth:`wamd.media.reupload.MediaReuploader.request`, or whose request timed out) reads the
    new direct path with :meth:`decrypt`, using the media key of the message ``message_id``.

    Attributes:
        message_id: the id of the message whose media was asked for.
        chat: the chat of that message.
        from_me: whether that message was sent by this account.
        participant: its sender, in groups.
        timestamp: when the phone answered (``None`` when it did not say).
        error_code: the phone's ``<error code>`` when it refused (2: it no longer has the
            media); ``None`` when it answered with an encrypted result.
        redelivered: dispatched before a crash or restart (it comes from the durable inbox).
        seq: its inbox entry (finish it with ``client.inbox_transaction(evt)`` to store the
            new path exactly once).
    """

    message_id: str
    chat: JID
    from_me: bool
    participant: JID | None
    timestamp: datetime | None
    error_code: int | None
    notice: MediaRetryNotice = field(repr=False)
    redelivered: bool = False
    seq: int = 0

    @classmethod
    def from_notice(cls, notice: MediaRetryNotice) -> MediaRetry:
        """The event for a parsed notification."""
        target = notice.target
        when = _time(notice.timestamp)
        return cls(
            message_id=target.message_id,
            chat=target.chat,
            from_me=target.from_me,
            participant=target.participant,
            timestamp=when,
            error_code=notice.error_code,
            notice=notice,
        )

    def decrypt(self, media_key: bytes) -> MediaRetryAnswer:
        """The answer, opened with the message's media key (``answer.direct_path`` on success).

        Raises :class:`~wamd.errors.MediaRetryError` for a refusal (``code`` 2: the phone no
        longer has the media) or an answer that does not decrypt with ``media_key``.
        """
        return decrypt_retry_notification(self.notice, media_key)
