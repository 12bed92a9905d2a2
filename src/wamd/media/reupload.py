"""Asking the phone to upload gone media again, over a live :class:`~wamd.client.Client`.

The asyncio driver over :mod:`wamd.media.retry`: :class:`MediaReuploader` sends the
``<receipt type="server-error">`` and waits for the matching
``<notification type="mediaretry">`` (with ``record``, the client's durable inbox stores it
before it is acknowledged; without, it is acknowledged when it arrives);
:func:`download_or_reupload` downloads, and on :class:`~wamd.errors.MediaExpired` asks for
a re-upload and downloads from the new direct path.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from wamd.binary import AttrValue, Node
from wamd.errors import MediaExpired, MediaRetryError, NotConnected, WamdError
from wamd.media.keys import MediaType
from wamd.media.ref import MediaRef
from wamd.media.retry import (
    MediaRetryAnswer,
    MediaRetryNotice,
    RetryResult,
    RetryTarget,
    build_retry_receipt,
    decrypt_retry_notification,
    parse_retry_notification,
)

if TYPE_CHECKING:
    from wamd.client import Client
    from wamd.media.transfer import MediaClient

log = logging.getLogger("wamd.media")


def _is_media_retry(node: Node) -> bool:
    return node.attrs.get("type") == "mediaretry"


class MediaReuploader:
    """Sends media-retry requests for ``client`` and matches the phone's answers to them.

    One per client: it registers the client's handler of those notifications (a
    :class:`~wamd.client.Client` has its own, ``client.media_service.reuploader``).
    ``on_notice`` is called with every well-formed answer, awaited or not. ``record``, when
    given, takes the notification instead of the ack and ``on_notice``: it stores it, acks it
    after the commit and dispatches its event (the client passes its durable inbox, which
    emits :class:`~wamd.media.events.MediaRetry`, again after a crash).
    """

    def __init__(
        self,
        client: Client,
        *,
        on_notice: Callable[[MediaRetryNotice], Awaitable[None]] | None = None,
        record: Callable[[Node], Awaitable[None]] | None = None,
    ) -> None:
        self._client = client
        self._on_notice = on_notice
        self._record = record
        self._waiting: dict[str, asyncio.Future[MediaRetryNotice]] = {}
        client.add_node_handler("notification", self._on_notification, _is_media_retry)

    def __repr__(self) -> str:
        return f"MediaReuploader(waiting={len(self._waiting)})"

    async def _on_notification(self, node: Node) -> None:
        try:
            notice: MediaRetryNotice | None = parse_retry_notification(node)
        except WamdError as exc:
            notice = None
            if self._record is None:
                log.warning("ignoring a malformed mediaretry notification: %s", exc)
        if notice is not None:
            waiter = self._waiting.get(notice.target.message_id)
            if waiter is not None and not waiter.done():
                waiter.set_result(notice)
        if self._record is not None:
            await self._record(node)  # stored, acked after the commit, then dispatched
            return
        attrs: dict[str, AttrValue] = {"class": "notification", "type": "mediaretry"}
        for name, target in (("id", "id"), ("from", "to")):
            value = node.attrs.get(name)
            if value is not None:
                attrs[target] = value
        await self._client.send_node(Node("ack", attrs))
        if notice is not None and self._on_notice is not None:
            await self._on_notice(notice)

    async def request(
        self,
        target: RetryTarget,
        media_key: bytes,
        *,
        timeout: float = 30.0,  # noqa: ASYNC109
    ) -> MediaRetryAnswer:
        """Ask the phone to upload the media of ``target`` again; returns its decrypted answer.

        Raises :class:`~wamd.errors.MediaRetryError` when the phone refuses (``code`` 2: it no
        longer has the media) or does not answer within ``timeout`` seconds, and
        :class:`~wamd.errors.NotConnected` when the client is not logged in.
        """
        own = self._client.jid
        if own is None:
            raise NotConnected("media retry needs a logged-in client")
        if target.message_id in self._waiting:
            raise MediaRetryError(f"a media retry for {target.message_id} is already waiting")
        waiter: asyncio.Future[MediaRetryNotice] = asyncio.get_running_loop().create_future()
        self._waiting[target.message_id] = waiter
        try:
            await self._client.send_node(build_retry_receipt(target, media_key, own))
            async with asyncio.timeout(timeout):
                notice = await waiter
        except TimeoutError:
            raise MediaRetryError("the phone did not answer the media retry request") from None
        finally:
            self._waiting.pop(target.message_id, None)
        return decrypt_retry_notification(notice, media_key)


async def download_or_reupload(
    media: MediaClient,
    reuploader: MediaReuploader,
    message: MediaRef | Any,
    target: RetryTarget,
    *,
    media_type: MediaType | None = None,
    timeout: float = 30.0,  # noqa: ASYNC109
) -> tuple[bytes, MediaRef]:
    """Download ``message``'s media; if it is gone, have the phone upload it again first.

    Returns the plaintext and the reference it came from (with the new direct path after a
    re-upload: store it in place of the old one). Raises :class:`~wamd.errors.MediaRetryError`
    when the phone cannot re-upload, and the usual download errors otherwise.
    """
    ref = message if isinstance(message, MediaRef) else MediaRef.from_message(message, media_type)
    try:
        return await media.download(ref), ref
    except MediaExpired:
        if ref.media_key is None:
            raise
    fresh = await reuploaded(reuploader, ref, target, timeout=timeout)
    return await media.download(fresh), fresh


async def reuploaded(
    reuploader: MediaReuploader,
    ref: MediaRef,
    target: RetryTarget,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109
) -> MediaRef:
    """Have the phone upload ``ref``'s media again; returns the reference to the new copy.

    Raises :class:`~wamd.errors.MediaRetryError` when the phone cannot (or the media is not
    encrypted, so there is no key to ask with).
    """
    if ref.media_key is None:
        raise MediaRetryError("unencrypted media cannot be asked for again")
    answer = await reuploader.request(target, ref.media_key, timeout=timeout)
    if answer.result is not RetryResult.SUCCESS or not answer.direct_path:
        raise MediaRetryError(f"the phone could not upload the media again ({answer.result.name})")
    return dataclasses.replace(ref, direct_path=answer.direct_path, url=None)
