"""Media kinds and the key schedule of WhatsApp media.

Every media blob is encrypted under a fresh random 32-byte *media key*. HKDF-SHA256 (no salt)
expands it to 112 bytes with an ``info`` string that depends on the kind of media::

    iv = okm[0:16]   cipher_key = okm[16:48]   mac_key = okm[48:80]   ref_key = okm[80:112]

The same media key under two different infos gives unrelated keys, so a receiver must know
the kind (an image message uses "WhatsApp Image Keys", a sticker too; a voice note uses the
audio keys...).
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass

from wamd.crypto import hkdf_sha256
from wamd.errors import MediaError

MEDIA_KEY_LENGTH = 32
"""Length in bytes of a media key."""

_EXPANDED_LENGTH = 112


class MediaType(enum.Enum):
    """A kind of media: picks the HKDF info of its keys and the upload path on the media host.

    The value is the name WhatsApp clients use for the kind (``"image"``, ``"ptt"``...).
    """

    IMAGE = "image"
    STICKER = "sticker"
    VIDEO = "video"
    GIF = "gif"
    PTV = "ptv"
    AUDIO = "audio"
    PTT = "ptt"
    DOCUMENT = "document"
    HISTORY = "md-msg-hist"
    APP_STATE = "md-app-state"
    LINK_THUMBNAIL = "thumbnail-link"
    IMAGE_THUMBNAIL = "thumbnail-image"
    VIDEO_THUMBNAIL = "thumbnail-video"
    DOCUMENT_THUMBNAIL = "thumbnail-document"

    @property
    def hkdf_info(self) -> bytes:
        """The HKDF ``info`` of this kind, e.g. ``b"WhatsApp Image Keys"``."""
        return _HKDF_INFO[self]

    @property
    def mms_type(self) -> str:
        """The path segment of uploads: ``POST /mms/{mms_type}/{token}`` (and the download hint)."""
        return _MMS_TYPE[self]


_HKDF_NAME = {
    MediaType.IMAGE: "Image",
    MediaType.STICKER: "Image",
    MediaType.VIDEO: "Video",
    MediaType.GIF: "Video",
    MediaType.PTV: "Video",
    MediaType.AUDIO: "Audio",
    MediaType.PTT: "Audio",
    MediaType.DOCUMENT: "Document",
    MediaType.HISTORY: "History",
    MediaType.APP_STATE: "App State",
    MediaType.LINK_THUMBNAIL: "Link Thumbnail",
    MediaType.IMAGE_THUMBNAIL: "Image Thumbnail",
    MediaType.VIDEO_THUMBNAIL: "Video Thumbnail",
    MediaType.DOCUMENT_THUMBNAIL: "Document Thumbnail",
}
_HKDF_INFO = {kind: f"WhatsApp {name} Keys".encode() for kind, name in _HKDF_NAME.items()}

_MMS_TYPE = {
    MediaType.IMAGE: "image",
    MediaType.STICKER: "image",
    MediaType.VIDEO: "video",
    MediaType.GIF: "video",
    MediaType.PTV: "video",
    MediaType.AUDIO: "audio",
    MediaType.PTT: "audio",
    MediaType.DOCUMENT: "document",
    MediaType.HISTORY: "md-msg-hist",
    MediaType.APP_STATE: "md-app-state",
    MediaType.LINK_THUMBNAIL: "thumbnail-link",
    MediaType.IMAGE_THUMBNAIL: "thumbnail-image",
    MediaType.VIDEO_THUMBNAIL: "thumbnail-video",
    MediaType.DOCUMENT_THUMBNAIL: "thumbnail-document",
}


@dataclass(frozen=True, slots=True)
class MediaKeys:
    """The four keys expanded from one media key (secret: never shown in ``repr``)."""

    iv: bytes
    cipher_key: bytes
    mac_key: bytes
    ref_key: bytes

    def __repr__(self) -> str:
        return "MediaKeys(<secret>)"


def derive_media_keys(media_key: bytes, media_type: MediaType) -> MediaKeys:
    """Expand ``media_key`` into the iv, cipher, MAC and reference keys for ``media_type``.

    Raises :class:`~wamd.errors.MediaError` when the media key is not 32 bytes.
    """
    if len(media_key) != MEDIA_KEY_LENGTH:
        raise MediaError(f"a media key has {MEDIA_KEY_LENGTH} bytes, not {len(media_key)}")
    okm = hkdf_sha256(bytes(media_key), _EXPANDED_LENGTH, info=media_type.hkdf_info)
    return MediaKeys(iv=okm[:16], cipher_key=okm[16:48], mac_key=okm[48:80], ref_key=okm[80:])


def generate_media_key() -> bytes:
    """A fresh random media key."""
    return os.urandom(MEDIA_KEY_LENGTH)
