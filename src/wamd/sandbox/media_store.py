"""The sandbox's media blobs on disk: streamed in, hashed on the way, expired on demand.

Layout under the store's root::

    blobs/<id>.enc      the uploaded blob (ciphertext + MAC, as the client sent it)
    blobs/<id>.json     its record: media type, size, SHA-256, creation and expiry times
    tmp/                uploads in progress (removed when they fail)
    archive/<id>.enc    bytes of expired blobs (the phone's copy, for media retries)
    secret.key          the key that signs download paths (persists across restarts)

Memory stays bounded whatever the blob size: bytes go to disk in chunks as they arrive.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import shutil
import time
from collections.abc import AsyncIterable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from wamd.errors import MediaError
from wamd.media.aio import BackgroundWriter

_WRITE_BATCH = 1024 * 1024


class UploadRejected(MediaError):
    """An upload did not match its token or exceeded the size limit (HTTP 400/413)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class BlobRecord:
    """What the store knows about one blob. Times are UNIX seconds."""

    blob_id: str
    mms_type: str
    size: int
    enc_sha256: str  # hex
    created: float
    expires: float | None  # None: never
    expired: bool = False

    def is_gone(self, now: float | None = None) -> bool:
        """True once the blob expired (by its time or by :meth:`MediaStore.expire`)."""
        if self.expired:
            return True
        return self.expires is not None and (time.time() if now is None else now) >= self.expires


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def token_matches(token: str, digest: bytes) -> bool:
    """True when ``token`` is ``digest`` in URL-safe base64 (padded or not; ``+/`` tolerated)."""
    norm = token.replace("+", "-").replace("/", "_").rstrip("=")
    return hmac.compare_digest(norm.encode(), _b64url(digest).encode())


class MediaStore:
    """Blob storage of the sandbox media host (one directory)."""

    def __init__(
        self,
        root: Path,
        *,
        blob_ttl: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = root
        self.blob_ttl = blob_ttl
        self.clock = clock
        self._blobs = root / "blobs"
        self._tmp = root / "tmp"
        self._archive = root / "archive"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._archive.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)
        key_file = root / "secret.key"
        if not key_file.exists():
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(32))
        self._secret = key_file.read_bytes()
        for leftover in self._tmp.iterdir():  # uploads a previous run did not finish
            with contextlib.suppress(OSError):
                leftover.unlink()

    def __repr__(self) -> str:
        return f"MediaStore({str(self.root)!r})"

    def blob_path(self, blob_id: str) -> Path:
        """Where the bytes of ``blob_id`` live."""
        return self._blobs / f"{blob_id}.enc"

    def _record_path(self, blob_id: str) -> Path:
        return self._blobs / f"{blob_id}.json"

    # --- signing of download paths -----------------------------------------------------------

    def sign(self, blob_id: str, expires_hex: str) -> str:
        """The ``oh`` parameter of a download path: proves the path was issued by this store."""
        mac = hmac.new(self._secret, f"{blob_id}|{expires_hex}".encode(), hashlib.sha256)
        return _b64url(mac.digest()[:18])

    def verify(self, blob_id: str, expires_hex: str, signature: str) -> bool:
        """True when ``signature`` is :meth:`sign` of these values."""
        return hmac.compare_digest(self.sign(blob_id, expires_hex).encode(), signature.encode())

    # --- blobs -------------------------------------------------------------------------------

    async def receive(
        self,
        chunks: AsyncIterable[bytes],
        *,
        token: str,
        mms_type: str,
        max_size: int,
    ) -> BlobRecord:
        """Stream an upload to disk; keep it only if its SHA-256 matches ``token``.

        Raises :class:`UploadRejected` (status 400 on a hash mismatch, 413 when larger than
        ``max_size``); nothing is kept then.
        """
        blob_id = secrets.token_hex(16)
        tmp = self._tmp / f"{blob_id}.part"
        digest = hashlib.sha256()
        size = 0
        f = await asyncio.to_thread(tmp.open, "wb")
        writer = BackgroundWriter(f, _WRITE_BATCH)
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_size:
                    raise UploadRejected(f"upload larger than {max_size} bytes", 413)
                digest.update(chunk)
                await writer.write(chunk)
            await writer.close()
            await asyncio.to_thread(f.close)
            if not token_matches(token, digest.digest()):
                raise UploadRejected("the upload does not match its token", 400)
            now = self.clock()
            record = BlobRecord(
                blob_id=blob_id,
                mms_type=mms_type,
                size=size,
                enc_sha256=digest.hexdigest(),
                created=now,
                expires=None if self.blob_ttl is None else now + self.blob_ttl,
            )
            await asyncio.to_thread(self._commit, tmp, record)
            return record
        except BaseException:
            await writer.abort()
            await asyncio.to_thread(_discard, f, tmp)
            raise

    def _commit(self, tmp: Path, record: BlobRecord) -> None:
        os.replace(tmp, self.blob_path(record.blob_id))
        self._write_record(record)

    def _write_record(self, record: BlobRecord) -> None:
        path = self._record_path(record.blob_id)
        part = path.with_suffix(".json.part")
        part.write_text(json.dumps(asdict(record)))
        os.replace(part, path)

    def lookup(self, blob_id: str) -> BlobRecord | None:
        """The record of ``blob_id``, or ``None`` when it was never stored."""
        if not blob_id.isalnum() or len(blob_id) > 64:
            return None
        try:
            raw = json.loads(self._record_path(blob_id).read_text())
            return BlobRecord(**raw)
        except (OSError, ValueError, TypeError):
            return None

    def expire(self, blob_id: str) -> bool:
        """Make a blob gone now (downloads get 410). False if unknown.

        Its bytes move to ``archive/``: they stand for the copy the sender's phone keeps, which
        :meth:`republish` uploads again when the phone is asked to (media retry).
        """
        record = self.lookup(blob_id)
        if record is None:
            return False
        with contextlib.suppress(OSError):
            os.replace(self.blob_path(blob_id), self._archive / f"{blob_id}.enc")
        self._write_record(
            BlobRecord(**{**asdict(record), "expired": True, "expires": self.clock()})
        )
        return True

    def republish(self, blob_id: str) -> BlobRecord | None:
        """Store an expired blob's archived bytes again as a new blob (``None`` if none).

        The archive stays: it stands for the copy each phone keeps (the recipient's and the
        sender's), and each of them may be asked to upload it again.
        """
        old = self.lookup(blob_id)
        archived = self._archive / f"{blob_id}.enc"
        if old is None or not archived.exists():
            return None
        now = self.clock()
        record = BlobRecord(
            blob_id=secrets.token_hex(16),
            mms_type=old.mms_type,
            size=old.size,
            enc_sha256=old.enc_sha256,
            created=now,
            expires=None if self.blob_ttl is None else now + self.blob_ttl,
        )
        copy = self._tmp / f"{record.blob_id}.part"
        shutil.copyfile(archived, copy)
        self._commit(copy, record)
        return record

    def expire_all(self) -> int:
        """Expire every stored blob; returns how many were live."""
        count = 0
        for path in self._blobs.glob("*.json"):
            record = self.lookup(path.stem)
            if record is not None and not record.expired and self.expire(record.blob_id):
                count += 1
        return count

    def sweep(self) -> int:
        """Delete the bytes of blobs whose time ran out; returns how many were deleted."""
        count = 0
        now = self.clock()
        for path in self._blobs.glob("*.json"):
            record = self.lookup(path.stem)
            if record is not None and not record.expired and record.is_gone(now):
                self.expire(record.blob_id)
                count += 1
        return count


def _discard(f: IO[bytes], tmp: Path) -> None:
    with contextlib.suppress(OSError):
        f.close()
    with contextlib.suppress(OSError):
        tmp.unlink()
