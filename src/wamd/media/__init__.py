"""WhatsApp media: encryption, upload and download, media retry, file facts.

>>> media = MediaClient(media_conn_fetcher(client.request), ca_file=sandbox_ca)  # doctest: +SKIP
>>> up = await media.upload(Path("cat.jpg"), MediaType.IMAGE)                    # doctest: +SKIP
>>> data = await media.download(image_message)                                   # doctest: +SKIP

Layers: :mod:`~wamd.media.keys` (key schedule), :mod:`~wamd.media.cipher` (sans-I/O streaming
encryptor/decryptor), :mod:`~wamd.media.conn` (media_conn answer and cache),
:mod:`~wamd.media.transfer` (HTTP upload/download), :mod:`~wamd.media.retry` (asking the
phone to re-upload), :mod:`~wamd.media.info` (MIME type, dimensions, duration, thumbnail);
:mod:`~wamd.media.service` and :mod:`~wamd.media.send` are what the
:class:`~wamd.client.Client`'s ``upload``, ``download`` and ``send_image``... use. See
docs/media.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from wamd.binary import Node
from wamd.media.cipher import (
    EncryptedMedia,
    MediaDecryptor,
    MediaEncryptor,
    PlainMediaVerifier,
    decrypt_media,
    encrypt_media,
)
from wamd.media.conn import (
    MediaConn,
    MediaConnCache,
    MediaConnFetcher,
    MediaHost,
    media_conn_request,
    parse_media_conn,
)
from wamd.media.events import MediaRetry
from wamd.media.info import MediaInfo, describe_media, have_media_extras
from wamd.media.keys import MediaKeys, MediaType, derive_media_keys, generate_media_key
from wamd.media.message import media_message
from wamd.media.ref import MediaRef
from wamd.media.retry import RetryTarget
from wamd.media.send import SentMedia
from wamd.media.transfer import MediaClient, RetryPolicy, UploadResult, tls_context


def media_conn_fetcher(request: Callable[[Node], Awaitable[Node]]) -> MediaConnFetcher:
    """A :data:`MediaConnFetcher` over an IQ sender such as :meth:`wamd.client.Client.request`."""

    async def fetch() -> MediaConn:
        return parse_media_conn(await request(media_conn_request()))

    return fetch


__all__ = [
    "EncryptedMedia",
    "MediaClient",
    "MediaConn",
    "MediaConnCache",
    "MediaConnFetcher",
    "MediaDecryptor",
    "MediaEncryptor",
    "MediaHost",
    "MediaInfo",
    "MediaKeys",
    "MediaRef",
    "MediaRetry",
    "MediaType",
    "PlainMediaVerifier",
    "RetryPolicy",
    "RetryTarget",
    "SentMedia",
    "UploadResult",
    "decrypt_media",
    "derive_media_keys",
    "describe_media",
    "encrypt_media",
    "generate_media_key",
    "have_media_extras",
    "media_conn_fetcher",
    "media_conn_request",
    "media_message",
    "parse_media_conn",
    "tls_context",
]
