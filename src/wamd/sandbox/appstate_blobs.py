"""App-state and history blobs on the sandbox's media host.

The server side of "external blobs": a snapshot (or a large patch, or a history chunk) is
encrypted under a fresh media key with the kind's keys ("WhatsApp App State Keys" /
"WhatsApp History Keys"), stored on the :class:`~wamd.sandbox.media_http.MediaServer` like an
upload, and named by an ``ExternalBlobReference`` (key, signed direct path, both SHA-256s,
size). Clients fetch and verify it with :meth:`wamd.media.MediaClient.download`.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

from wamd.media import MediaType, encrypt_media, generate_media_key
from wamd.proto import appstate_pb2 as pb
from wamd.sandbox.media_http import MediaServer


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def store_encrypted(
    media: MediaServer, plaintext: bytes, media_type: MediaType
) -> tuple[bytes, str, bytes, bytes]:
    """Encrypt and store ``plaintext``: ``(media_key, direct_path, sha256, enc_sha256)``."""
    key = generate_media_key()
    blob, info = encrypt_media(plaintext, media_type, key)
    token = base64.urlsafe_b64encode(info.file_enc_sha256).decode().rstrip("=")
    record = await media.store.receive(
        _once(blob), token=token, mms_type=media_type.mms_type, max_size=len(blob)
    )
    return key, media.direct_path(record), info.file_sha256, info.file_enc_sha256


class MediaBlobPublisher:
    """``publish_blob`` for :class:`wamd.appstate.server.AppStateServer` over a media host."""

    def __init__(self, media: MediaServer) -> None:
        self._media = media

    async def __call__(self, plaintext: bytes) -> pb.ExternalBlobReference:
        key, path, sha256, enc_sha256 = await store_encrypted(
            self._media, plaintext, MediaType.APP_STATE
        )
        return pb.ExternalBlobReference(
            media_key=key,
            direct_path=path,
            file_size_bytes=len(plaintext),
            file_sha256=sha256,
            file_enc_sha256=enc_sha256,
        )
