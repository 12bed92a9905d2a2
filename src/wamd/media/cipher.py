"""Streaming encryption and decryption of media blobs (sans-I/O).

A blob is ``AES-256-CBC(cipher_key, iv, PKCS7(plaintext)) | mac`` where
``mac = HMAC-SHA256(mac_key, iv | ciphertext)[:10]``. ``file_sha256`` is the SHA-256 of the
plaintext and ``file_enc_sha256`` the SHA-256 of the whole blob (MAC included).

:class:`MediaEncryptor` and :class:`MediaDecryptor` are fed chunks and hand back chunks; they
never hold more than one chunk plus a few bytes, so a gigabyte file costs bounded memory.
Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from wamd.errors import IntegrityError, MediaError
from wamd.media.keys import MediaType, derive_media_keys

MAC_LENGTH = 10
"""Length in bytes of the truncated HMAC that ends every blob."""

BLOCK = 16


def blob_length(file_length: int) -> int:
    """Length of the encrypted blob (ciphertext with its PKCS7 padding, plus the MAC)."""
    return (file_length // BLOCK + 1) * BLOCK + MAC_LENGTH


@dataclass(frozen=True, slots=True)
class EncryptedMedia:
    """What an encryption produced besides the blob itself.

    ``media_key`` is secret and left out of ``repr``.
    """

    media_key: bytes = field(repr=False)
    media_type: MediaType
    file_sha256: bytes
    file_enc_sha256: bytes
    file_length: int
    mac: bytes = field(repr=False)

    @property
    def blob_length(self) -> int:
        """Number of bytes of the blob that goes to the media host."""
        return blob_length(self.file_length)


class _Transform:
    """Shared buffer handling: ``update_into`` with a reusable output buffer."""

    def __init__(self, ctx: CipherContext) -> None:
        self._ctx = ctx
        self._out = bytearray(64 * 1024 + BLOCK)

    def run(self, data: bytes | memoryview) -> bytes:
        if not data:
            return b""
        need = len(data) + BLOCK - 1
        if len(self._out) < need:
            self._out = bytearray(need)
        n = self._ctx.update_into(data, self._out)
        return bytes(self._out[:n])


class MediaEncryptor:
    """Encrypts a media stream chunk by chunk.

    >>> enc = MediaEncryptor(media_key, MediaType.IMAGE)
    >>> blob = enc.update(part1) + enc.update(part2) + enc.finalize()
    >>> enc.result.file_enc_sha256  # sha256(blob)

    ``update`` returns ciphertext as it becomes available; ``finalize`` returns the last block
    and the MAC. Afterwards :attr:`result` holds the hashes and length.
    """

    def __init__(self, media_key: bytes, media_type: MediaType) -> None:
        keys = derive_media_keys(media_key, media_type)
        self._media_key = bytes(media_key)
        self._media_type = media_type
        cipher = Cipher(algorithms.AES(keys.cipher_key), modes.CBC(keys.iv))
        self._aes = _Transform(cipher.encryptor())
        self._hmac = hmac.new(keys.mac_key, keys.iv, hashlib.sha256)
        self._plain_sha = hashlib.sha256()
        self._enc_sha = hashlib.sha256()
        self._pending = b""  # plaintext bytes short of a whole block
        self._length = 0
        self._result: EncryptedMedia | None = None

    def __repr__(self) -> str:
        return f"MediaEncryptor({self._media_type.value}, {self._length} bytes in)"

    def update(self, plaintext: bytes | bytearray | memoryview) -> bytes:
        """Feed plaintext; return the ciphertext produced so far (a multiple of 16 bytes)."""
        if self._result is not None:
            raise MediaError("the encryptor is finalized")
        if not plaintext:
            return b""
        self._length += len(plaintext)
        self._plain_sha.update(plaintext)
        if self._pending:
            data: bytes | memoryview = self._pending + bytes(plaintext)
        else:
            data = memoryview(plaintext).cast("B")
        whole = len(data) - len(data) % BLOCK
        self._pending = bytes(data[whole:])
        out = self._aes.run(data[:whole])
        self._hmac.update(out)
        self._enc_sha.update(out)
        return out

    def finalize(self) -> bytes:
        """Pad, encrypt the last block and return it followed by the 10-byte MAC."""
        if self._result is not None:
            raise MediaError("the encryptor is finalized")
        pad = BLOCK - len(self._pending)
        out = self._aes.run(self._pending + bytes([pad]) * pad)
        self._pending = b""
        self._hmac.update(out)
        mac = self._hmac.digest()[:MAC_LENGTH]
        tail = out + mac
        self._enc_sha.update(tail)
        self._result = EncryptedMedia(
            media_key=self._media_key,
            media_type=self._media_type,
            file_sha256=self._plain_sha.digest(),
            file_enc_sha256=self._enc_sha.digest(),
            file_length=self._length,
            mac=mac,
        )
        return tail

    @property
    def result(self) -> EncryptedMedia:
        """Hashes, length and MAC of the encrypted media (after :meth:`finalize`)."""
        if self._result is None:
            raise MediaError("the encryptor is not finalized yet")
        return self._result


class MediaDecryptor:
    """Decrypts a media blob fed chunk by chunk, and checks it.

    ``update`` returns plaintext as soon as it can be produced; that plaintext is **not yet
    verified**. ``finalize`` checks, in order, the MAC, ``file_enc_sha256``, the padding,
    ``file_sha256`` and ``file_length`` (the last three only when given) and raises
    :class:`~wamd.errors.IntegrityError` on any mismatch; only then is the whole plaintext
    authentic. When ``file_length`` is given, a blob longer than it can be is refused as soon
    as the excess arrives (a hostile server cannot make the caller buffer without end).
    """

    def __init__(
        self,
        media_key: bytes,
        media_type: MediaType,
        *,
        file_sha256: bytes | None = None,
        file_enc_sha256: bytes | None = None,
        file_length: int | None = None,
    ) -> None:
        keys = derive_media_keys(media_key, media_type)
        self._media_type = media_type
        cipher = Cipher(algorithms.AES(keys.cipher_key), modes.CBC(keys.iv))
        self._aes = _Transform(cipher.decryptor())
        self._hmac = hmac.new(keys.mac_key, keys.iv, hashlib.sha256)
        self._enc_sha = hashlib.sha256()
        self._plain_sha = hashlib.sha256()
        self._want_plain_sha = _check_hash("file_sha256", file_sha256)
        self._want_enc_sha = _check_hash("file_enc_sha256", file_enc_sha256)
        if file_length is not None and file_length < 0:
            raise MediaError("file_length cannot be negative")
        self._file_length = file_length
        self._max_blob = None if file_length is None else blob_length(file_length)
        self._received = 0
        # Bytes not decrypted yet: always at least the last ciphertext block (it holds the
        # padding) and the last 10 bytes (they may be the MAC) stay here until finalize.
        self._buf = bytearray()
        self._emitted = 0
        self._done = False

    def __repr__(self) -> str:
        return f"MediaDecryptor({self._media_type.value}, {self._received} bytes in)"

    @property
    def bytes_received(self) -> int:
        """How many blob bytes were fed so far (a download resumes from here)."""
        return self._received

    def update(self, chunk: bytes | bytearray | memoryview) -> bytes:
        """Feed blob bytes; return the plaintext produced so far (unverified until finalize)."""
        if self._done:
            raise MediaError("the decryptor is finalized")
        if not chunk:
            return b""
        self._received += len(chunk)
        if self._max_blob is not None and self._received > self._max_blob:
            raise IntegrityError(f"the blob is longer than a {self._file_length}-byte file can be")
        self._enc_sha.update(chunk)
        buf = self._buf
        buf += chunk
        ready = len(buf) - MAC_LENGTH - BLOCK
        ready -= ready % BLOCK
        if ready <= 0:
            return b""
        with memoryview(buf) as view, view[:ready] as ct:
            self._hmac.update(ct)
            out = self._aes.run(ct)
        del buf[:ready]
        self._emit(out)
        return out

    def _emit(self, out: bytes) -> None:
        self._emitted += len(out)
        self._plain_sha.update(out)
        if self._file_length is not None and self._emitted > self._file_length:
            raise IntegrityError(f"the plaintext is longer than {self._file_length} bytes")

    def finalize(self) -> bytes:
        """Verify the blob and return the last plaintext bytes (padding removed).

        Raises :class:`~wamd.errors.IntegrityError` when any check fails.
        """
        if self._done:
            raise MediaError("the decryptor is finalized")
        self._done = True
        buf = self._buf
        if len(buf) < MAC_LENGTH + BLOCK or (len(buf) - MAC_LENGTH) % BLOCK:
            raise IntegrityError(f"a {self._received}-byte blob is not a whole media blob")
        last_ct, mac = bytes(buf[:-MAC_LENGTH]), bytes(buf[-MAC_LENGTH:])
        self._buf = bytearray()
        self._hmac.update(last_ct)
        if not hmac.compare_digest(self._hmac.digest()[:MAC_LENGTH], mac):
            raise IntegrityError("media MAC mismatch")
        if self._want_enc_sha is not None and not hmac.compare_digest(
            self._enc_sha.digest(), self._want_enc_sha
        ):
            raise IntegrityError("file_enc_sha256 mismatch")
        last = self._aes.run(last_ct)
        pad = last[-1]
        if not 1 <= pad <= BLOCK or last[-pad:] != bytes([pad]) * pad:
            raise IntegrityError("bad padding in the decrypted media")
        out = last[:-pad]
        self._emit(out)
        if self._want_plain_sha is not None and not hmac.compare_digest(
            self._plain_sha.digest(), self._want_plain_sha
        ):
            raise IntegrityError("file_sha256 mismatch")
        if self._file_length is not None and self._emitted != self._file_length:
            raise IntegrityError(
                f"file length mismatch: expected {self._file_length}, got {self._emitted}"
            )
        return out


def _check_hash(name: str, value: bytes | None) -> bytes | None:
    if value is None or len(value) == 0:
        return None
    if len(value) != 32:
        raise MediaError(f"{name} must be 32 bytes, not {len(value)}")
    return bytes(value)


def encrypt_media(
    plaintext: bytes, media_type: MediaType, media_key: bytes
) -> tuple[bytes, EncryptedMedia]:
    """Encrypt a whole plaintext at once; returns ``(blob, info)``."""
    enc = MediaEncryptor(media_key, media_type)
    blob = enc.update(plaintext) + enc.finalize()
    return blob, enc.result


def decrypt_media(
    blob: bytes,
    media_type: MediaType,
    media_key: bytes,
    *,
    file_sha256: bytes | None = None,
    file_enc_sha256: bytes | None = None,
    file_length: int | None = None,
) -> bytes:
    """Decrypt and verify a whole blob at once (raises :class:`~wamd.errors.IntegrityError`)."""
    dec = MediaDecryptor(
        media_key,
        media_type,
        file_sha256=file_sha256,
        file_enc_sha256=file_enc_sha256,
        file_length=file_length,
    )
    return dec.update(blob) + dec.finalize()


class PlainMediaVerifier:
    """The check of unencrypted media (newsletters): the bytes pass through unchanged.

    Same interface as :class:`MediaDecryptor`; ``finalize`` checks ``file_sha256`` (the hash
    of the bytes served) and ``file_length`` when given.
    """

    def __init__(self, *, file_sha256: bytes | None = None, file_length: int | None = None) -> None:
        self._want = _check_hash("file_sha256", file_sha256)
        if file_length is not None and file_length < 0:
            raise MediaError("file_length cannot be negative")
        self._file_length = file_length
        self._sha = hashlib.sha256()
        self._received = 0
        self._done = False

    @property
    def bytes_received(self) -> int:
        """How many bytes were fed so far."""
        return self._received

    def update(self, chunk: bytes | bytearray | memoryview) -> bytes:
        """Feed bytes; return them (unverified until :meth:`finalize`)."""
        if self._done:
            raise MediaError("the verifier is finalized")
        self._received += len(chunk)
        if self._file_length is not None and self._received > self._file_length:
            raise IntegrityError(f"the media is longer than {self._file_length} bytes")
        self._sha.update(chunk)
        return bytes(chunk)

    def finalize(self) -> bytes:
        """Check the hash and length (raises :class:`~wamd.errors.IntegrityError`)."""
        if self._done:
            raise MediaError("the verifier is finalized")
        self._done = True
        if self._want is not None and not hmac.compare_digest(self._sha.digest(), self._want):
            raise IntegrityError("file_sha256 mismatch")
        if self._file_length is not None and self._received != self._file_length:
            raise IntegrityError(
                f"file length mismatch: expected {self._file_length}, got {self._received}"
            )
        return b""
