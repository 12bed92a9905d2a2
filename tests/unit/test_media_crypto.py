"""Media key schedule and streaming encryption, checked against Baileys and against tampering.

The known answers come from Baileys' own ``getMediaKeys`` and ``encryptedStream``
(tests/interop/baileys_media.mjs, with the random media key pinned): wamd must produce
byte-identical keys and blobs, and decrypt Baileys' blobs.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.media.peers import run_baileys_sync
from wamd.errors import IntegrityError, MediaError
from wamd.media.cipher import (
    MAC_LENGTH,
    MediaDecryptor,
    MediaEncryptor,
    PlainMediaVerifier,
    blob_length,
    decrypt_media,
    encrypt_media,
)
from wamd.media.keys import MediaKeys, MediaType, derive_media_keys, generate_media_key

KEY = bytes(range(32))

# Recorded from Baileys 7.0.0-rc14 getMediaKeys(bytes(range(32)), type): (iv, cipherKey, macKey).
# The live check against the installed Baileys is test_keys_match_baileys.
RECORDED = {
    MediaType.IMAGE: (
        "aa6a127218397cbd2383e4ccf7176a79",
        "008c9aea9b7c5d81eb56b3f530f87d42dcc92d27b11ad6b5bd66f0560d0d8c46",
        "91d09ffec108833c1699574c52657923fb6e3e161d9698bc6b3a05fbc508a515",
    ),
    MediaType.VIDEO: (
        "f1dee5782cc4e2e7b07233b1e25de59b",
        "8564567ee06fa7006edab56a13c2b0a1431beb8efe698efad0f258e65feb5395",
        "259ad46118adcf3cd134ae881831c6865db31a8fa0bbce7bc3bcb9fcf369fcda",
    ),
}

HKDF_INFO = {
    MediaType.IMAGE: b"WhatsApp Image Keys",
    MediaType.STICKER: b"WhatsApp Image Keys",
    MediaType.VIDEO: b"WhatsApp Video Keys",
    MediaType.GIF: b"WhatsApp Video Keys",
    MediaType.PTV: b"WhatsApp Video Keys",
    MediaType.AUDIO: b"WhatsApp Audio Keys",
    MediaType.PTT: b"WhatsApp Audio Keys",
    MediaType.DOCUMENT: b"WhatsApp Document Keys",
    MediaType.HISTORY: b"WhatsApp History Keys",
    MediaType.APP_STATE: b"WhatsApp App State Keys",
    MediaType.LINK_THUMBNAIL: b"WhatsApp Link Thumbnail Keys",
}


def test_hkdf_infos_are_whatsapps() -> None:
    for kind, info in HKDF_INFO.items():
        assert kind.hkdf_info == info


def test_mms_types() -> None:
    assert MediaType.IMAGE.mms_type == "image"
    assert MediaType.STICKER.mms_type == "image"
    assert MediaType.PTT.mms_type == "audio"
    assert MediaType.GIF.mms_type == "video"
    assert MediaType.DOCUMENT.mms_type == "document"
    assert MediaType.HISTORY.mms_type == "md-msg-hist"


@pytest.mark.parametrize("kind", list(RECORDED))
def test_recorded_known_answers(kind: MediaType) -> None:
    keys = derive_media_keys(KEY, kind)
    assert (keys.iv.hex(), keys.cipher_key.hex(), keys.mac_key.hex()) == RECORDED[kind]


def test_media_keys_split_and_secret_repr() -> None:
    keys = derive_media_keys(KEY, MediaType.IMAGE)
    assert (len(keys.iv), len(keys.cipher_key), len(keys.mac_key), len(keys.ref_key)) == (
        16,
        32,
        32,
        32,
    )
    assert keys.cipher_key.hex() not in repr(keys)
    assert repr(keys) == "MediaKeys(<secret>)"
    assert isinstance(keys, MediaKeys)
    assert derive_media_keys(KEY, MediaType.VIDEO) != keys
    assert derive_media_keys(KEY, MediaType.STICKER) == keys


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33])
def test_media_key_length_checked(bad: bytes) -> None:
    with pytest.raises(MediaError):
        derive_media_keys(bad, MediaType.IMAGE)


KEY_CASES = [
    (MediaType.IMAGE, "image"),
    (MediaType.STICKER, "sticker"),
    (MediaType.VIDEO, "video"),
    (MediaType.GIF, "gif"),
    (MediaType.PTV, "ptv"),
    (MediaType.AUDIO, "audio"),
    (MediaType.PTT, "ptt"),
    (MediaType.DOCUMENT, "document"),
    (MediaType.HISTORY, "md-msg-hist"),
    (MediaType.APP_STATE, "md-app-state"),
    (MediaType.LINK_THUMBNAIL, "thumbnail-link"),
    (MediaType.IMAGE_THUMBNAIL, "thumbnail-image"),
    (MediaType.VIDEO_THUMBNAIL, "thumbnail-video"),
    (MediaType.DOCUMENT_THUMBNAIL, "thumbnail-document"),
]


def test_keys_match_baileys(node_peers: Path) -> None:
    cmds = [
        {"op": "keys", "type": name, "mediaKey": hashlib.sha256(name.encode()).hexdigest()}
        for _, name in KEY_CASES
    ]
    results = run_baileys_sync(node_peers, cmds)
    for (kind, name), theirs in zip(KEY_CASES, results, strict=True):
        ours = derive_media_keys(hashlib.sha256(name.encode()).digest(), kind)
        assert ours.iv.hex() == theirs["iv"], kind
        assert ours.cipher_key.hex() == theirs["cipherKey"], kind
        assert ours.mac_key.hex() == theirs["macKey"], kind


BLOB_CASES = [
    (MediaType.IMAGE, "image", 0),
    (MediaType.IMAGE, "image", 1),
    (MediaType.VIDEO, "video", 15),
    (MediaType.AUDIO, "audio", 16),
    (MediaType.PTT, "ptt", 17),
    (MediaType.DOCUMENT, "document", 100_003),
    (MediaType.STICKER, "sticker", 1_048_576),
    (MediaType.HISTORY, "md-msg-hist", 4097),
]


def test_blobs_byte_identical_to_baileys(node_peers: Path, tmp_path: Path) -> None:
    cases = []
    for i, (kind, name, size) in enumerate(BLOB_CASES):
        plaintext = os.urandom(size)
        src = tmp_path / f"plain{i}.bin"
        src.write_bytes(plaintext)
        cases.append((kind, plaintext, generate_media_key(), name, src))
    cmds = [
        {"op": "encrypt", "type": name, "mediaKey": key.hex(), "input": str(src)}
        for _, _, key, name, src in cases
    ]
    results = run_baileys_sync(node_peers, cmds)
    for (kind, plaintext, media_key, _, _), theirs in zip(cases, results, strict=True):
        enc_file = Path(theirs["encFile"])
        try:
            their_blob = enc_file.read_bytes()
        finally:
            enc_file.unlink()
        blob, info = encrypt_media(plaintext, kind, media_key)
        assert blob == their_blob, kind
        assert info.mac.hex() == theirs["mac"]
        assert info.file_enc_sha256.hex() == theirs["fileEncSha256"]
        assert info.file_sha256.hex() == theirs["fileSha256"]
        assert info.file_length == theirs["fileLength"] == len(plaintext)
        assert len(blob) == blob_length(len(plaintext)) == info.blob_length
        # and wamd decrypts and verifies Baileys' blob
        assert (
            decrypt_media(
                their_blob,
                kind,
                media_key,
                file_sha256=bytes.fromhex(theirs["fileSha256"]),
                file_enc_sha256=bytes.fromhex(theirs["fileEncSha256"]),
                file_length=len(plaintext),
            )
            == plaintext
        )


def test_blob_layout() -> None:
    """blob = AES-256-CBC(PKCS7) | HMAC-SHA256(macKey, iv|ct)[:10], computed independently."""
    import hmac as std_hmac

    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    plaintext = b"known answer plaintext" * 5
    keys = derive_media_keys(KEY, MediaType.DOCUMENT)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.AES(keys.cipher_key), modes.CBC(keys.iv)).encryptor()
    ct = enc.update(padded) + enc.finalize()
    mac = std_hmac.new(keys.mac_key, keys.iv + ct, hashlib.sha256).digest()[:MAC_LENGTH]
    blob, info = encrypt_media(plaintext, MediaType.DOCUMENT, KEY)
    assert blob == ct + mac
    assert info.file_enc_sha256 == hashlib.sha256(ct + mac).digest()
    assert info.file_sha256 == hashlib.sha256(plaintext).digest()


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    parts, prev = [], 0
    for p in points:
        parts.append(data[prev:p])
        prev = p
    parts.append(data[prev:])
    return parts


@settings(max_examples=60, deadline=None)
@given(
    plaintext=st.binary(max_size=300),
    enc_cuts=st.lists(st.integers(min_value=0, max_value=320), max_size=8),
    dec_cuts=st.lists(st.integers(min_value=0, max_value=340), max_size=8),
)
def test_any_chunking_gives_the_same_result(
    plaintext: bytes, enc_cuts: list[int], dec_cuts: list[int]
) -> None:
    whole, info = encrypt_media(plaintext, MediaType.VIDEO, KEY)
    enc = MediaEncryptor(KEY, MediaType.VIDEO)
    streamed = b"".join(enc.update(p) for p in _split(plaintext, enc_cuts)) + enc.finalize()
    assert streamed == whole
    assert enc.result == info
    dec = MediaDecryptor(
        KEY,
        MediaType.VIDEO,
        file_sha256=info.file_sha256,
        file_enc_sha256=info.file_enc_sha256,
        file_length=len(plaintext),
    )
    out = b"".join(dec.update(p) for p in _split(whole, dec_cuts)) + dec.finalize()
    assert out == plaintext
    assert dec.bytes_received == len(whole)


def _checked(blob: bytes, info: Any, **overrides: Any) -> bytes:
    fields = {
        "file_sha256": info.file_sha256,
        "file_enc_sha256": info.file_enc_sha256,
        "file_length": info.file_length,
    }
    fields.update(overrides)
    return decrypt_media(blob, MediaType.IMAGE, KEY, **fields)


@pytest.fixture
def sample() -> tuple[bytes, bytes, Any]:
    plaintext = os.urandom(1000)
    blob, info = encrypt_media(plaintext, MediaType.IMAGE, KEY)
    return plaintext, blob, info


@pytest.mark.parametrize("where", [0, 500, -11])  # first ct byte, middle, last ct byte
def test_corrupted_ciphertext_byte(sample: tuple[bytes, bytes, Any], where: int) -> None:
    _, blob, info = sample
    bad = bytearray(blob)
    bad[where] ^= 0x01
    with pytest.raises(IntegrityError, match="MAC"):
        _checked(bytes(bad), info)
    # even with no expected hashes at all, the MAC still catches it
    with pytest.raises(IntegrityError, match="MAC"):
        decrypt_media(bytes(bad), MediaType.IMAGE, KEY)


@pytest.mark.parametrize("where", [-10, -1])
def test_corrupted_mac_byte(sample: tuple[bytes, bytes, Any], where: int) -> None:
    _, blob, info = sample
    bad = bytearray(blob)
    bad[where] ^= 0x80
    with pytest.raises(IntegrityError, match="MAC"):
        _checked(bytes(bad), info)


def test_wrong_key_or_kind(sample: tuple[bytes, bytes, Any]) -> None:
    _, blob, _info = sample
    with pytest.raises(IntegrityError):
        decrypt_media(blob, MediaType.VIDEO, KEY)
    with pytest.raises(IntegrityError):
        decrypt_media(blob, MediaType.IMAGE, bytes(32))


def test_hash_and_length_mismatches(sample: tuple[bytes, bytes, Any]) -> None:
    plaintext, blob, info = sample
    assert _checked(blob, info) == plaintext
    with pytest.raises(IntegrityError, match="file_enc_sha256"):
        _checked(blob, info, file_enc_sha256=bytes(32))
    with pytest.raises(IntegrityError, match="file_sha256"):
        _checked(blob, info, file_sha256=bytes(32))
    with pytest.raises(IntegrityError, match="longer"):
        _checked(blob, info, file_length=999)
    with pytest.raises(IntegrityError, match="length mismatch"):
        _checked(blob, info, file_length=1001)
    with pytest.raises(MediaError):
        _checked(blob, info, file_sha256=b"short")


@pytest.mark.parametrize("cut", [0, 5, 10, 25, 26, 100, -1])
def test_truncated_blob(sample: tuple[bytes, bytes, Any], cut: int) -> None:
    _, blob, _info = sample
    with pytest.raises(IntegrityError):
        decrypt_media(blob[:cut], MediaType.IMAGE, KEY)


def test_too_long_blob_refused_while_streaming(sample: tuple[bytes, bytes, Any]) -> None:
    _, blob, info = sample
    dec = MediaDecryptor(KEY, MediaType.IMAGE, file_length=info.file_length)
    dec.update(blob)
    with pytest.raises(IntegrityError, match="longer"):
        dec.update(b"x")


def test_bad_padding_behind_a_good_mac() -> None:
    """A sender that MACs garbage padding: the MAC passes, the padding check does not."""
    import hmac as std_hmac

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    keys = derive_media_keys(KEY, MediaType.IMAGE)
    enc = Cipher(algorithms.AES(keys.cipher_key), modes.CBC(keys.iv)).encryptor()
    ct = enc.update(b"A" * 15 + b"\x00") + enc.finalize()  # last byte 0: invalid PKCS7
    mac = std_hmac.new(keys.mac_key, keys.iv + ct, hashlib.sha256).digest()[:10]
    with pytest.raises(IntegrityError, match="padding"):
        decrypt_media(ct + mac, MediaType.IMAGE, KEY)


def test_finalized_objects_refuse_more() -> None:
    enc = MediaEncryptor(KEY, MediaType.IMAGE)
    with pytest.raises(MediaError):
        _ = enc.result
    enc.finalize()
    with pytest.raises(MediaError):
        enc.update(b"x")
    with pytest.raises(MediaError):
        enc.finalize()
    dec = MediaDecryptor(KEY, MediaType.IMAGE)
    with pytest.raises(IntegrityError):
        dec.finalize()
    with pytest.raises(MediaError):
        dec.update(b"x")


def test_secrets_not_in_reprs() -> None:
    _, info = encrypt_media(b"x", MediaType.IMAGE, KEY)
    assert KEY.hex() not in repr(info)
    assert repr(KEY) not in repr(info)
    assert "media_key" not in repr(info)
    assert "MediaEncryptor(image" in repr(MediaEncryptor(KEY, MediaType.IMAGE))


def test_plain_verifier() -> None:
    data = b"newsletter media"
    v = PlainMediaVerifier(file_sha256=hashlib.sha256(data).digest(), file_length=len(data))
    assert v.update(data[:5]) + v.update(data[5:]) + v.finalize() == data
    v = PlainMediaVerifier(file_sha256=bytes(32))
    v.update(data)
    with pytest.raises(IntegrityError):
        v.finalize()
    v = PlainMediaVerifier(file_length=3)
    with pytest.raises(IntegrityError):
        v.update(data)


def test_big_stream_in_bounded_pieces() -> None:
    """8 MiB through 64 KiB pieces: outputs track inputs (nothing accumulates inside)."""
    chunk = os.urandom(65536)
    enc = MediaEncryptor(KEY, MediaType.VIDEO)
    dec = MediaDecryptor(KEY, MediaType.VIDEO)
    plain_sha = hashlib.sha256()
    out_sha = hashlib.sha256()
    for _ in range(128):
        ct = enc.update(chunk)
        assert abs(len(ct) - len(chunk)) <= 16
        plain_sha.update(chunk)
        out = dec.update(ct)
        assert len(out) >= len(chunk) - 64
        out_sha.update(out)
    out_sha.update(dec.update(enc.finalize()))
    out_sha.update(dec.finalize())
    assert out_sha.digest() == plain_sha.digest() == enc.result.file_sha256
