"""What a media message says about its file: MIME type, dimensions, duration, thumbnail.

MIME sniffing uses ``filetype`` and thumbnails/dimensions of images use Pillow; both come
with the optional ``media`` extra (``pip install wamd[media]``). Without them these helpers
return ``None`` instead of failing. Durations (MP4/M4A/MOV, Ogg Opus/Vorbis, WAV) and video
dimensions (MP4 ``tkhd``) are read from the container headers in pure Python, without
decoding anything; a file they cannot read gives ``None``.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wamd.media.keys import MediaType

_Source = bytes | bytearray | memoryview | str | os.PathLike[str]

DEFAULT_MIMETYPES = {
    MediaType.IMAGE: "image/jpeg",
    MediaType.STICKER: "image/webp",
    MediaType.VIDEO: "video/mp4",
    MediaType.GIF: "video/mp4",
    MediaType.PTV: "video/mp4",
    MediaType.AUDIO: "audio/mpeg",
    MediaType.PTT: "audio/ogg; codecs=opus",
    MediaType.DOCUMENT: "application/octet-stream",
}
"""MIME type used when sniffing cannot tell (or the ``media`` extra is not installed)."""

SNIFF_BYTES = 8192
"""How many leading bytes :func:`sniff_mimetype` looks at."""


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """Facts about a file for its media message; each is ``None`` when unknown."""

    mimetype: str | None = None
    width: int | None = None
    height: int | None = None
    seconds: int | None = None
    jpeg_thumbnail: bytes | None = field(default=None, repr=False)


def have_media_extras() -> bool:
    """True when the optional ``media`` extra (Pillow and filetype) is importable."""
    try:
        import filetype  # noqa: F401
        import PIL  # noqa: F401
    except ImportError:
        return False
    return True


def sniff_mimetype(head: bytes) -> str | None:
    """MIME type from a file's first bytes (``filetype``), or ``None`` when unknown or absent."""
    try:
        import filetype
    except ImportError:
        return None
    try:
        kind = filetype.guess(bytes(head[:SNIFF_BYTES]))
    except Exception:  # a sniffer bug on odd input must not break an upload
        return None
    mime = getattr(kind, "mime", None)
    return mime if isinstance(mime, str) else None


def image_info(source: _Source, *, thumbnail_width: int = 32) -> MediaInfo:
    """Dimensions and a small JPEG thumbnail of an image (Pillow); empty without Pillow.

    The thumbnail is ``thumbnail_width`` pixels wide (the height keeps the aspect ratio),
    JPEG quality 50 — what WhatsApp clients put in ``jpegThumbnail``.
    """
    try:
        from PIL import Image
    except ImportError:
        return MediaInfo()
    try:
        with Image.open(_open_binary(source)) as img:
            width, height = img.size
            thumb_h = max(1, round(height * thumbnail_width / width)) if width else 1
            img.draft("RGB", (thumbnail_width, thumb_h))
            frame = img.convert("RGB")
            frame.thumbnail((thumbnail_width, thumb_h))
            out = io.BytesIO()
            frame.save(out, "JPEG", quality=50)
            return MediaInfo(width=width, height=height, jpeg_thumbnail=out.getvalue())
    except Exception:  # not an image Pillow can read (or a decompression bomb)
        return MediaInfo()


def _open_binary(source: _Source) -> Any:
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(source))
    return Path(source).open("rb")


class _Reader:
    """Random access to bytes or a file, for the container parsers."""

    def __init__(self, source: _Source) -> None:
        if isinstance(source, bytes | bytearray | memoryview):
            self._data: bytes | None = bytes(source)
            self._file: Any = None
            self.size = len(self._data)
        else:
            self._data = None
            self._file = Path(source).open("rb")  # noqa: SIM115 (closed by close())
            self.size = os.fstat(self._file.fileno()).st_size

    def read(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0:
            return b""
        if self._data is not None:
            return self._data[offset : offset + n]
        self._file.seek(offset)
        data: bytes = self._file.read(n)
        return data

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def media_duration_and_size(source: _Source) -> MediaInfo:
    """Duration (whole seconds, rounded) and, for video, dimensions from container headers.

    Knows MP4/MOV/M4A (``mvhd``/``tkhd``), Ogg (Opus, Vorbis) and WAV. Anything else, or a
    damaged file, gives an empty :class:`MediaInfo`.
    """
    try:
        reader = _Reader(source)
    except OSError:
        return MediaInfo()
    try:
        head = reader.read(0, 12)
        if head[4:8] == b"ftyp" or head[4:8] in (b"moov", b"mdat", b"free", b"wide"):
            return _mp4_info(reader)
        if head[:4] == b"OggS":
            return _ogg_info(reader)
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            return _wav_info(reader)
        return MediaInfo()
    except (struct.error, ValueError, ZeroDivisionError, OSError):
        return MediaInfo()
    finally:
        reader.close()


# --- ISO base media (MP4, MOV, M4A) ----------------------------------------------------------


def _boxes(reader: _Reader, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each box in [start, end)."""
    pos = start
    count = 0
    while pos + 8 <= end and count < 10_000:
        count += 1
        size, kind = struct.unpack(">I4s", reader.read(pos, 8))
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", reader.read(pos + 8, 8))
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind, pos + header, pos + size
        pos += size


def _mp4_info(reader: _Reader) -> MediaInfo:
    seconds: int | None = None
    width: int | None = None
    height: int | None = None
    for kind, start, end in _boxes(reader, 0, reader.size):
        if kind != b"moov":
            continue
        for sub, s_start, s_end in _boxes(reader, start, end):
            if sub == b"mvhd":
                seconds = _mvhd_seconds(reader.read(s_start, min(s_end - s_start, 32)))
            elif sub == b"trak" and width is None:
                dims = _trak_dimensions(reader, s_start, s_end)
                if dims is not None:
                    width, height = dims
        break
    return MediaInfo(seconds=seconds, width=width, height=height)


def _mvhd_seconds(payload: bytes) -> int | None:
    version = payload[0]
    timescale: int
    duration: int
    if version == 1:
        timescale, duration = struct.unpack(">IQ", payload[20:32])
    else:
        timescale, duration = struct.unpack(">II", payload[12:20])
    if not timescale:
        return None
    return round(duration / timescale)


def _trak_dimensions(reader: _Reader, start: int, end: int) -> tuple[int, int] | None:
    for kind, b_start, b_end in _boxes(reader, start, end):
        if kind != b"tkhd":
            continue
        payload = reader.read(b_start, b_end - b_start)
        if len(payload) < 84:
            return None
        w_fixed, h_fixed = struct.unpack(">II", payload[-8:])
        w, h = w_fixed >> 16, h_fixed >> 16
        return (w, h) if w and h else None
    return None


# --- Ogg (Opus, Vorbis) ----------------------------------------------------------------------


def _ogg_info(reader: _Reader) -> MediaInfo:
    first = reader.read(0, 512)
    nsegs = first[26]
    body = first[27 + nsegs :]
    if body.startswith(b"OpusHead"):
        rate = 48000
        (pre_skip,) = struct.unpack("<H", body[10:12])
    elif body.startswith(b"\x01vorbis"):
        (rate,) = struct.unpack("<I", body[12:16])
        pre_skip = 0
    else:
        return MediaInfo()
    tail_start = max(0, reader.size - 65536)
    tail = reader.read(tail_start, reader.size - tail_start)
    at = tail.rfind(b"OggS")
    while at >= 0:
        if at + 14 <= len(tail) and tail[at + 4] == 0:  # stream structure version 0
            (granule,) = struct.unpack("<q", tail[at + 6 : at + 14])
            if granule >= 0:
                return MediaInfo(seconds=round(max(0, granule - pre_skip) / rate))
        at = tail.rfind(b"OggS", 0, at)
    return MediaInfo()


# --- WAV -------------------------------------------------------------------------------------


def _wav_info(reader: _Reader) -> MediaInfo:
    pos = 12
    byte_rate = 0
    for _ in range(64):
        hdr = reader.read(pos, 8)
        if len(hdr) < 8:
            break
        kind, size = struct.unpack("<4sI", hdr)
        if kind == b"fmt ":
            (byte_rate,) = struct.unpack("<I", reader.read(pos + 16, 4))
        elif kind == b"data":
            if not byte_rate:
                return MediaInfo()
            size = min(size, reader.size - pos - 8)
            return MediaInfo(seconds=round(size / byte_rate))
        pos += 8 + size + (size & 1)
    return MediaInfo()


def describe_media(
    source: _Source,
    media_type: MediaType,
    *,
    mimetype: str | None = None,
    thumbnail_width: int = 32,
) -> MediaInfo:
    """Everything :class:`MediaInfo` can say about ``source`` for a message of ``media_type``.

    Blocking (reads and decodes): run it in a thread from async code.
    """
    if mimetype is None:
        if isinstance(source, bytes | bytearray | memoryview):
            head = bytes(source[:SNIFF_BYTES])
        else:
            with Path(source).open("rb") as f:
                head = f.read(SNIFF_BYTES)
        mimetype = sniff_mimetype(head)
        if media_type is MediaType.PTT and mimetype == "audio/ogg":
            mimetype = "audio/ogg; codecs=opus"
    width = height = seconds = None
    thumb = None
    if media_type in (MediaType.IMAGE, MediaType.STICKER):
        pic = image_info(source, thumbnail_width=thumbnail_width)
        width, height, thumb = pic.width, pic.height, pic.jpeg_thumbnail
    elif media_type in (
        MediaType.VIDEO,
        MediaType.GIF,
        MediaType.PTV,
        MediaType.AUDIO,
        MediaType.PTT,
    ):
        av = media_duration_and_size(source)
        width, height, seconds = av.width, av.height, av.seconds
    return MediaInfo(
        mimetype=mimetype or DEFAULT_MIMETYPES.get(media_type),
        width=width,
        height=height,
        seconds=seconds,
        jpeg_thumbnail=thumb,
    )
