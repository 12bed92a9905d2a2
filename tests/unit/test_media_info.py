"""MIME sniffing, image dimensions/thumbnails and container durations.

Durations are cross-checked with Baileys' own ``getAudioDuration`` (music-metadata), an
independent parser, on the same files.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import wave
import zlib
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import subprocess_env
from tests.media.peers import run_baileys_sync
from wamd.media.info import (
    DEFAULT_MIMETYPES,
    MediaInfo,
    describe_media,
    have_media_extras,
    image_info,
    media_duration_and_size,
    sniff_mimetype,
)
from wamd.media.keys import MediaType


def make_image(fmt: str, size: tuple[int, int] = (640, 480)) -> bytes:
    img = Image.new("RGB", size, (200, 30, 30))
    for x in range(0, size[0], 7):
        img.putpixel((x, x % size[1]), (0, 255, 0))
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


def make_wav(seconds: float, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x01\x00" * int(seconds * rate))
    return out.getvalue()


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _full(version: int, payload: bytes) -> bytes:
    return bytes([version, 0, 0, 0]) + payload


def make_mp4(duration_ms: int, width: int, height: int, *, version: int = 0) -> bytes:
    """An MP4 laid out per ISO/IEC 14496-12: ftyp, moov(mvhd, trak(tkhd, mdia(...))), mdat.

    With ``width``/``height`` 0 the track is an AAC audio track (an .m4a), else a video one.
    """
    audio = not (width and height)
    ftyp = _box(b"ftyp", (b"M4A " if audio else b"isom") + struct.pack(">I", 512) + b"isomM4A mp41")
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    if version == 1:
        mvhd_times = struct.pack(">QQIQ", 0, 0, 1000, duration_ms)
    else:
        mvhd_times = struct.pack(">IIII", 0, 0, 1000, duration_ms)
    mvhd = _box(
        b"mvhd",
        _full(version, mvhd_times + struct.pack(">IH", 0x10000, 0x100) + bytes(10) + matrix)
        + bytes(24)
        + struct.pack(">I", 2),
    )
    tkhd = _box(
        b"tkhd",
        _full(
            0,
            struct.pack(">IIIII", 0, 0, 1, 0, duration_ms)
            + bytes(8)
            + struct.pack(">hhhH", 0, 0, 0x100 if audio else 0, 0)
            + matrix
            + struct.pack(">II", width << 16, height << 16),
        ),
    )
    rate = 44100
    mdhd = _box(
        b"mdhd", _full(0, struct.pack(">IIIIHH", 0, 0, rate, duration_ms * rate // 1000, 0x55C4, 0))
    )
    handler = b"soun" if audio else b"vide"
    hdlr = _box(b"hdlr", _full(0, bytes(4) + handler + bytes(12) + b"wamd\x00"))
    if audio:
        entry = _box(
            b"mp4a",
            bytes(6)
            + struct.pack(">H", 1)
            + bytes(8)
            + struct.pack(">HHHHI", 2, 16, 0, 0, rate << 16),
        )
    else:
        entry = _box(
            b"avc1",
            bytes(6)
            + struct.pack(">H", 1)
            + bytes(16)
            + struct.pack(">HH", width, height)
            + struct.pack(">IIIH", 0x480000, 0x480000, 0, 1)
            + bytes(32)
            + struct.pack(">Hh", 24, -1),
        )
    stbl = _box(
        b"stbl",
        _box(b"stsd", _full(0, struct.pack(">I", 1) + entry))
        + _box(b"stts", _full(0, struct.pack(">I", 0)))
        + _box(b"stsc", _full(0, struct.pack(">I", 0)))
        + _box(b"stsz", _full(0, struct.pack(">II", 0, 0)))
        + _box(b"stco", _full(0, struct.pack(">I", 0))),
    )
    media_header = _box(b"smhd", _full(0, bytes(4))) if audio else _box(b"vmhd", _full(0, bytes(8)))
    mdia = _box(b"mdia", mdhd + hdlr + _box(b"minf", media_header + stbl))
    moov = _box(b"moov", mvhd + _box(b"trak", tkhd + mdia))
    return ftyp + moov + _box(b"mdat", bytes(1000))


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _ogg_page(body: bytes, granule: int, seq: int, flags: int) -> bytes:
    segs = [255] * (len(body) // 255) + [len(body) % 255]
    header = (
        b"OggS"
        + bytes([0, flags])
        + struct.pack("<qII", granule, 0x1234, seq)
        + b"\x00\x00\x00\x00"
        + bytes([len(segs)])
        + bytes(segs)
    )
    crc = _ogg_crc(header + body)
    return header[:22] + struct.pack("<I", crc) + header[26:] + body


def make_ogg_opus(seconds: float, pre_skip: int = 312) -> bytes:
    head = b"OpusHead" + bytes([1, 1]) + struct.pack("<HIhB", pre_skip, 48000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 4) + b"wamd" + struct.pack("<I", 0)
    audio = bytes([0xFC]) + bytes(40)  # one silent CELT frame per packet; content irrelevant
    end = int(seconds * 48000) + pre_skip
    return (
        _ogg_page(head, 0, 0, 0x02)
        + _ogg_page(tags, 0, 1, 0)
        + _ogg_page(audio, end // 2, 2, 0)
        + _ogg_page(audio, end, 3, 0x04)
    )


def test_extras_installed_here() -> None:
    assert have_media_extras()


@pytest.mark.parametrize(
    ("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_sniff_images(fmt: str, mime: str) -> None:
    assert sniff_mimetype(make_image(fmt)) == mime


def test_sniff_others() -> None:
    assert sniff_mimetype(make_mp4(1000, 2, 2)) == "video/mp4"
    assert sniff_mimetype(make_ogg_opus(1)) == "audio/ogg"
    assert sniff_mimetype(make_wav(0.1)) == "audio/x-wav"
    assert sniff_mimetype(b"%PDF-1.7\n") == "application/pdf"
    assert sniff_mimetype(b"") is None
    assert sniff_mimetype(b"\x00random") is None


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_image_info_and_thumbnail(fmt: str, tmp_path: Path) -> None:
    data = make_image(fmt, (640, 480))
    info = image_info(data)
    assert (info.width, info.height) == (640, 480)
    assert info.jpeg_thumbnail is not None
    with Image.open(io.BytesIO(info.jpeg_thumbnail)) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.size == (32, 24)
    path = tmp_path / "pic"
    path.write_bytes(data)
    assert image_info(path, thumbnail_width=64).width == 640


def test_image_info_of_garbage_is_empty() -> None:
    assert image_info(b"not an image") == MediaInfo()
    assert image_info(make_image("PNG")[:40]) == MediaInfo()


def test_durations_and_video_size(tmp_path: Path) -> None:
    assert media_duration_and_size(make_mp4(5400, 640, 360)) == MediaInfo(
        seconds=5, width=640, height=360
    )
    assert media_duration_and_size(make_mp4(12_600, 1280, 720, version=1)).seconds == 13
    assert media_duration_and_size(make_ogg_opus(7.2)).seconds == 7
    assert media_duration_and_size(make_wav(3.0)).seconds == 3
    path = tmp_path / "v.mp4"
    path.write_bytes(make_mp4(61_000, 320, 240))
    assert media_duration_and_size(path).seconds == 61


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\x00\x00\x08ftyp",
        make_mp4(5400, 640, 360)[:60],
        b"\xff\xff\xff\xffmoov" + bytes(100),
        b"OggS" + bytes(30),
        make_ogg_opus(2)[:40],
        b"RIFF\x00\x00\x00\x00WAVE" + bytes(8),
        make_wav(1)[:30],
        bytes(100),
    ],
)
def test_damaged_containers_give_nothing(data: bytes) -> None:
    info = media_duration_and_size(data)
    assert info.seconds is None or info.seconds >= 0


def test_describe_media(tmp_path: Path) -> None:
    jpeg = make_image("JPEG", (100, 50))
    info = describe_media(jpeg, MediaType.IMAGE)
    assert (info.mimetype, info.width, info.height) == ("image/jpeg", 100, 50)
    assert info.jpeg_thumbnail is not None
    ptt = describe_media(make_ogg_opus(4), MediaType.PTT)
    assert (ptt.mimetype, ptt.seconds) == ("audio/ogg; codecs=opus", 4)
    video = tmp_path / "clip.mp4"
    video.write_bytes(make_mp4(9000, 480, 270))
    v = describe_media(video, MediaType.VIDEO)
    assert (v.mimetype, v.seconds, v.width, v.height) == ("video/mp4", 9, 480, 270)
    doc = describe_media(b"\x00\x01unknown", MediaType.DOCUMENT)
    assert doc.mimetype == DEFAULT_MIMETYPES[MediaType.DOCUMENT]
    assert describe_media(b"x", MediaType.DOCUMENT, mimetype="text/plain").mimetype == "text/plain"


def test_graceful_without_the_extras() -> None:
    """With Pillow and filetype unimportable, the helpers return empty answers, no errors."""
    code = (
        "import sys\n"
        "sys.modules['PIL'] = None\n"
        "sys.modules['filetype'] = None\n"
        "from wamd.media.info import describe_media, have_media_extras, sniff_mimetype\n"
        "from wamd.media.keys import MediaType\n"
        f"data = {make_image('PNG', (20, 10))!r}\n"
        "i = describe_media(data, MediaType.IMAGE)\n"
        "print(have_media_extras(), sniff_mimetype(data), i.mimetype, i.width, i.jpeg_thumbnail)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env()
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "None", "image/jpeg", "None", "None"]


def test_durations_agree_with_baileys(node_peers: Path, tmp_path: Path) -> None:
    """Audio durations (what Baileys computes: it has no video duration) agree."""
    files = {
        "a.wav": make_wav(3.0),
        "b.ogg": make_ogg_opus(7.2),
        "c.m4a": make_mp4(5400, 0, 0),
        "d.m4a": make_mp4(61_000, 0, 0, version=1),
    }
    cmds = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        cmds.append({"op": "duration", "input": str(tmp_path / name)})
    theirs = run_baileys_sync(node_peers, cmds)
    for (name, data), their in zip(files.items(), theirs, strict=True):
        ours = media_duration_and_size(data).seconds
        assert ours == round(their["seconds"]), (name, ours, their)


def test_ogg_crc_is_the_ogg_one() -> None:
    # Ogg's CRC-32 is the unreflected 0x04C11DB7 polynomial (zlib's is the reflected one).
    assert _ogg_crc(b"") == 0
    assert _ogg_crc(b"OggS") != zlib.crc32(b"OggS")
