"""Media for a :class:`~wamd.client.Client`: the object behind ``client.upload``,
``client.download`` and the ``client.send_image`` family.

:class:`ClientMedia` builds the :class:`~wamd.media.transfer.MediaClient` on first use from the
client's connection options: media hosts from the ``w:m`` IQ over the client's connection
(:func:`~wamd.media.media_conn_fetcher`), the extra CA of the server
(:attr:`wamd.conn.options.ServerInfo.media_ca`, set for a sandbox by
:func:`wamd.sandbox.testing.server_info`) and the client's proxy. It owns the
:class:`~wamd.media.reupload.MediaReuploader` that turns every
``<notification type="mediaretry">`` into a :class:`~wamd.media.events.MediaRetry` event.

Media retry (decided here, see docs/media.md): downloading a *received* message — a
:class:`~wamd.messaging.Message` event — or a :class:`~wamd.media.send.SentMedia` of ours knows
which message it is (id, chat, direction, sender), so when the host answers that the blob is
gone (:class:`~wamd.errors.MediaExpired`) the download asks our phone to upload it again and
downloads the new copy, transparently (``reupload=False`` turns that off). The new direct path
is kept (per chat and message id, the most recent :data:`FRESH_REFS` of them) so later downloads
of the same message go straight to it. A bare protobuf or :class:`~wamd.media.ref.MediaRef`
does not say which message it belongs to: its download raises ``MediaExpired`` unless
``retry_target=`` names the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import IO, TYPE_CHECKING, Any, TypeVar

from wamd.errors import MediaError, MediaExpired
from wamd.media import media_conn_fetcher
from wamd.media.events import MediaRetry
from wamd.media.keys import MediaType
from wamd.media.ref import MEDIA_FIELDS, MediaRef
from wamd.media.retry import RetryTarget, parse_retry_notification
from wamd.media.reupload import MediaReuploader, reuploaded
from wamd.media.send import SentMedia, check_options, compose, default_file_name
from wamd.media.transfer import MediaClient, UploadResult, UploadSource
from wamd.messaging.builders import Quotable, content_field, quote_context
from wamd.messaging.events import Message
from wamd.messaging.notices import StanzaKind
from wamd.proto import e2e_pb2
from wamd.types import JID

if TYPE_CHECKING:
    from wamd.binary import Node
    from wamd.client import Client

__all__ = ["FRESH_REFS", "MEDIA_RETRY_KIND", "ClientMedia", "Downloadable"]

MEDIA_RETRY_KIND = "mediaretry"
"""The inbox kind of ``<notification type="mediaretry">``."""


def _media_retry_event(node: Node) -> MediaRetry:
    return MediaRetry.from_notice(parse_retry_notification(node))


FRESH_REFS = 512
"""How many re-uploaded media references a client keeps (by chat and message id)."""

Downloadable = Message | SentMedia | UploadResult | MediaRef | e2e_pb2.Message | Any
"""What :meth:`ClientMedia.download` accepts: a received message event, a sent media
message, an upload, a reference, a whole ``e2e_pb2.Message`` or one media part of it."""


T = TypeVar("T")


def _media_part(message: e2e_pb2.Message) -> Any:
    """The media part of a message, looking through its wrappers (view once, ephemeral...)."""
    found = content_field(message)
    if found is None or found[0] not in MEDIA_FIELDS:
        kind = "nothing" if found is None else found[0]
        raise MediaError(f"the message holds no media ({kind})")
    return found[1]


def resolve(
    item: Downloadable, media_type: MediaType | None = None
) -> tuple[MediaRef, RetryTarget | None]:
    """What to download for ``item``, and which message to name in a media-retry request.

    Raises :class:`~wamd.errors.MediaError` when ``item`` holds no downloadable media.
    """
    if isinstance(item, Message):
        participant = item.sender.to_non_ad() if item.is_group else None
        target = RetryTarget(item.id, item.chat, item.from_me, participant)
        return MediaRef.from_message(_media_part(item.message), media_type), target
    if isinstance(item, SentMedia):
        if item.message is None or item.chat is None:
            raise MediaError("this send result carries no media message")
        target = RetryTarget(item.id, item.chat, True)
        return MediaRef.from_message(_media_part(item.message), media_type), target
    if isinstance(item, UploadResult):
        return item.ref(), None
    if isinstance(item, MediaRef):
        return item, None
    if isinstance(item, e2e_pb2.Message):
        return MediaRef.from_message(_media_part(item), media_type), None
    return MediaRef.from_message(item, media_type), None


class ClientMedia:
    """Uploads, downloads and media messages for one client (see the module docstring).

    ``retry_timeout`` is how long a download waits for the phone's re-upload.
    """

    def __init__(self, client: Client, *, retry_timeout: float = 30.0) -> None:
        self._client = client
        self._media: MediaClient | None = None
        self._fresh: OrderedDict[tuple[str, str], MediaRef] = OrderedDict()
        self.retry_timeout = retry_timeout
        self.kind = StanzaKind(MEDIA_RETRY_KIND, _media_retry_event)
        """How mediaretry notifications go through the durable inbox."""
        client.messaging.register_kind(self.kind)
        self.reuploader = MediaReuploader(
            client, record=lambda node: client.messaging.record(node, self.kind)
        )
        """The media-retry requester (advanced use: ask for media of messages you stored)."""

    def __repr__(self) -> str:
        return f"ClientMedia(started={self._media is not None}, fresh={len(self._fresh)})"

    # --- the transfer client -----------------------------------------------------------------

    @property
    def transfer(self) -> MediaClient:
        """The :class:`MediaClient` (made on first use from the client's options)."""
        if self._media is None:
            self._media = self._build()
        return self._media

    def use(self, media: MediaClient) -> None:
        """Use ``media`` (e.g. with other TLS or retry settings) instead of the default one.

        The client closes it on :meth:`aclose`.
        """
        self._media = media

    def _build(self) -> MediaClient:
        options = self._client.options
        return MediaClient(
            media_conn_fetcher(self._client.request),
            ca_pem=options.server.media_ca,
            proxy=options.proxy,
        )

    async def aclose(self) -> None:
        """Close the HTTP session (a new one opens on next use)."""
        if self._media is not None:
            await self._media.close()

    # --- upload ------------------------------------------------------------------------------

    async def upload(
        self,
        source: UploadSource,
        kind: MediaType | str,
        *,
        mimetype: str | None = None,
        media_key: bytes | None = None,
        describe: bool = True,
    ) -> UploadResult:
        """Encrypt and upload ``source`` (see :meth:`MediaClient.upload`)."""
        return await self.transfer.upload(
            source, MediaType(kind), mimetype=mimetype, media_key=media_key, describe=describe
        )

    # --- download ----------------------------------------------------------------------------

    async def _retrying(
        self,
        item: Downloadable,
        operation: Callable[[MediaRef], Awaitable[T]],
        *,
        media_type: MediaType | None,
        reupload: bool,
        retry_target: RetryTarget | None,
    ) -> T:
        ref, target = resolve(item, media_type)
        target = retry_target or target
        key = (str(target.chat), target.message_id) if target is not None else None
        if key is not None and key in self._fresh:
            ref = self._fresh[key]
        try:
            return await operation(ref)
        except MediaExpired:
            if not reupload or target is None or key is None or ref.media_key is None:
                raise
        fresh = await reuploaded(self.reuploader, ref, target, timeout=self.retry_timeout)
        self._remember(key, fresh)
        return await operation(fresh)

    def _remember(self, key: tuple[str, str], ref: MediaRef) -> None:
        self._fresh[key] = ref
        self._fresh.move_to_end(key)
        while len(self._fresh) > FRESH_REFS:
            self._fresh.popitem(last=False)

    async def download(
        self,
        item: Downloadable,
        *,
        media_type: MediaType | None = None,
        reupload: bool = True,
        retry_target: RetryTarget | None = None,
    ) -> bytes:
        """Download, decrypt and verify ``item``'s media into memory."""
        media = self.transfer
        return await self._retrying(
            item,
            lambda ref: media.download(ref),
            media_type=media_type,
            reupload=reupload,
            retry_target=retry_target,
        )

    async def download_to(
        self,
        item: Downloadable,
        to: str | os.PathLike[str] | IO[bytes],
        *,
        media_type: MediaType | None = None,
        reupload: bool = True,
        retry_target: RetryTarget | None = None,
    ) -> int:
        """Download into a file path (replaced only once verified) or a binary file object
        (written as the data arrives: verified only when this returns); returns the size."""
        media = self.transfer
        if isinstance(to, str | os.PathLike):
            path = to
            return await self._retrying(
                item,
                lambda ref: media.download_to_file(ref, path),
                media_type=media_type,
                reupload=reupload,
                retry_target=retry_target,
            )
        written = 0
        async with contextlib.aclosing(
            self.iter_download(
                item, media_type=media_type, reupload=reupload, retry_target=retry_target
            )
        ) as chunks:
            async for chunk in chunks:
                await asyncio.to_thread(to.write, chunk)
                written += len(chunk)
        return written

    async def iter_download(
        self,
        item: Downloadable,
        *,
        media_type: MediaType | None = None,
        reupload: bool = True,
        retry_target: RetryTarget | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """Yield ``item``'s plaintext in chunks (verified only when the iteration ends: the
        last step raises :class:`~wamd.errors.IntegrityError` on tampering)."""
        media = self.transfer

        async def first(ref: MediaRef) -> tuple[AsyncGenerator[bytes, None], bytes | None]:
            # Opening the stream up to its first chunk is what can fail with MediaExpired.
            stream = media.iter_download(ref)
            try:
                return stream, await anext(stream)
            except StopAsyncIteration:
                return stream, None
            except BaseException:
                await stream.aclose()
                raise

        stream, head = await self._retrying(
            item, first, media_type=media_type, reupload=reupload, retry_target=retry_target
        )
        async with contextlib.aclosing(stream):
            if head is None:
                return
            yield head
            async for chunk in stream:
                yield chunk

    # --- sending -----------------------------------------------------------------------------

    async def send(
        self,
        to: JID,
        source: UploadSource,
        kind: MediaType,
        *,
        caption: str | None = None,
        quote: Quotable | None = None,
        mentions: Iterable[JID | str] = (),
        expiration: int | None = None,
        view_once: bool = False,
        thumbnail: bytes | None = None,
        seconds: int | None = None,
        mimetype: str | None = None,
        file_name: str | None = None,
        title: str | None = None,
        page_count: int | None = None,
        id: str | None = None,
    ) -> SentMedia:
        """Upload ``source`` as ``kind`` and send the media message to ``to`` (a user or a
        group); see :func:`wamd.media.send.compose` for the options."""
        if kind is MediaType.DOCUMENT and file_name is None:
            file_name = default_file_name(source)
        context = None
        if quote is not None:
            own = self._client.jid
            context = quote_context(quote, chat=to, own=own.to_non_ad() if own else None)
        # Check the options before spending an upload on a message that cannot be built.
        check_options(kind, thumbnail=thumbnail, view_once=view_once)
        upload = await self.upload(source, kind, mimetype=mimetype)
        message = compose(
            upload,
            caption=caption,
            file_name=file_name,
            title=title,
            page_count=page_count,
            thumbnail=thumbnail,
            seconds=seconds,
            quote=context,
            mentions=mentions,
            expiration=expiration,
            view_once=view_once,
        )
        result = await self._client.send_message(to, message, id=id)
        return SentMedia.of(result, to, message, upload)
