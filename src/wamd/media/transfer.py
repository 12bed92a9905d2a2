"""Upload and download of media blobs over HTTP(S), streamed, with retries and host fallback.

Upload: the source (bytes, a file path, a binary file object or an async iterator of bytes)
is encrypted chunk by chunk into a spool (memory up to ``spool_memory`` bytes, then a
temporary file), because the URL needs the SHA-256 of the whole blob before the first byte
is sent; the spool is then streamed as the body of
``POST {scheme}://{host}/mms/{type}/{token}?auth={auth}&token={token}`` with
``token = base64url(file_enc_sha256)``. The host answers JSON ``{"url", "direct_path"}``.

Download: ``GET {scheme}://{host}{direct_path}`` (each media host in turn, then the message's
``url``), decrypted and verified as it streams. A dropped connection resumes where it stopped
with a ``Range`` request, so the decryptor sees one continuous blob.

Errors: 403/404/410 -> :class:`~wamd.errors.MediaExpired` (ask the phone to re-upload, see
:mod:`wamd.media.retry`); failed MAC or hashes -> :class:`~wamd.errors.IntegrityError`; 5xx,
429, timeouts and connection failures are retried with exponential backoff and jitter, then
the next host is tried; when every host failed -> :class:`~wamd.errors.MediaError`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import re
import ssl
import tempfile
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
from aiohttp_socks import ProxyConnector

from wamd.errors import IntegrityError, MediaError, MediaExpired
from wamd.media.aio import BackgroundWriter, prefetched_reads
from wamd.media.cipher import (
    EncryptedMedia,
    MediaDecryptor,
    MediaEncryptor,
    PlainMediaVerifier,
    blob_length,
)
from wamd.media.conn import MediaConn, MediaConnCache, MediaConnFetcher
from wamd.media.info import SNIFF_BYTES, MediaInfo, describe_media
from wamd.media.keys import MediaType, generate_media_key
from wamd.media.ref import MediaRef

UploadSource = (
    bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes] | AsyncIterable[bytes]
)
"""What :meth:`MediaClient.upload` accepts."""

ORIGIN = "https://web.whatsapp.com"
EXPIRED_STATUSES = frozenset({403, 404, 410})
_MAX_JSON = 64 * 1024
_DEFAULT_MAX_DOWNLOAD = 4 * 1024**3
_SOCKS_SCHEMES = ("socks4://", "socks4a://", "socks5://", "socks5h://")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How transfers retry: ``attempts`` tries per host, pauses doubling from ``backoff``.

    ``connect_timeout`` bounds connecting; ``read_timeout`` bounds any silence while reading
    an answer. A ``Retry-After`` header is honoured up to ``max_backoff``.
    """

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Pause before try number ``attempt + 1`` (full jitter over the exponential step)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_backoff)
        step = min(self.backoff * 2.0**attempt, self.max_backoff)
        return step / 2 + random.uniform(0, step / 2)

    def timeout(self) -> aiohttp.ClientTimeout:
        """The aiohttp timeout of one request."""
        return aiohttp.ClientTimeout(
            total=None, sock_connect=self.connect_timeout, sock_read=self.read_timeout
        )


@dataclass(frozen=True, slots=True)
class UploadResult:
    """Everything a media message needs after an upload.

    ``media_key`` is secret (kept out of ``repr``). ``mimetype``, ``width``, ``height``,
    ``seconds`` and ``jpeg_thumbnail`` are filled when they could be computed (see
    :mod:`wamd.media.info`).
    """

    url: str
    direct_path: str
    media_key: bytes = field(repr=False)
    file_enc_sha256: bytes
    file_sha256: bytes
    file_length: int
    media_type: MediaType
    mimetype: str | None = None
    width: int | None = None
    height: int | None = None
    seconds: int | None = None
    jpeg_thumbnail: bytes | None = field(default=None, repr=False)
    handle: str | None = None

    def ref(self) -> MediaRef:
        """A :class:`MediaRef` to download what was uploaded."""
        return MediaRef(
            media_type=self.media_type,
            media_key=self.media_key,
            direct_path=self.direct_path,
            url=self.url,
            file_sha256=self.file_sha256,
            file_enc_sha256=self.file_enc_sha256,
            file_length=self.file_length,
            mimetype=self.mimetype,
        )


def b64url(data: bytes, *, pad: bool = False) -> str:
    """URL-safe base64 (without ``=`` padding unless ``pad``)."""
    text = base64.urlsafe_b64encode(data).decode()
    return text if pad else text.rstrip("=")


def tls_context(
    *, ca_file: str | os.PathLike[str] | None = None, ca_pem: str | bytes | None = None
) -> ssl.SSLContext:
    """A verifying TLS context that also trusts an extra CA (e.g. the sandbox's certificate)."""
    ctx = ssl.create_default_context()
    if ca_file is not None:
        ctx.load_verify_locations(cafile=os.fspath(ca_file))
    if ca_pem is not None:
        ctx.load_verify_locations(cadata=ca_pem.decode() if isinstance(ca_pem, bytes) else ca_pem)
    return ctx


class _RetryableStatus(Exception):
    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


def _retry_after(headers: Any) -> float | None:
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return float(str(raw))
    except ValueError:
        return None


def _is_retryable(status: int) -> bool:
    return status >= 500 or status in (408, 429)


class _Spool:
    """The encrypted blob while it waits to be sent: memory first, a temporary file past a size."""

    def __init__(self, memory_limit: int) -> None:
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=memory_limit)  # noqa: SIM115
        self.size = 0

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self.size += len(data)

    def read_at(self, offset: int, n: int) -> bytes:
        self._file.seek(offset)
        return self._file.read(n)

    def close(self) -> None:
        self._file.close()


class MediaClient:
    """Uploads and downloads media through the hosts of a media connection.

    ``media_conn`` is a :class:`MediaConnCache` or an async callable returning a fresh
    :class:`MediaConn` (the client wires it to the ``w:m`` IQ). TLS: ``ssl_context`` replaces
    the default verifying context; ``ca_file``/``ca_pem`` add a trusted CA to it (the sandbox's
    self-signed CA). ``scheme="http"`` talks plain HTTP (sandbox only). ``proxy``:
    ``http://host:port`` or ``socks5://[user:pass@]host:port`` (``socks4://`` too).
    ``session`` reuses an aiohttp session (not closed by :meth:`close`). Uploads from file
    objects and async iterators keep up to ``describe_limit`` bytes of plaintext to describe
    the file (dimensions, duration, thumbnail); beyond that only the MIME type is sniffed.

    Use as ``async with MediaClient(...) as media:`` or call :meth:`close`.
    """

    def __init__(
        self,
        media_conn: MediaConnCache | MediaConnFetcher,
        *,
        session: aiohttp.ClientSession | None = None,
        ssl_context: ssl.SSLContext | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        ca_pem: str | bytes | None = None,
        scheme: str = "https",
        proxy: str | None = None,
        retry: RetryPolicy | None = None,
        chunk_size: int = 1024 * 1024,
        spool_memory: int = 8 * 1024 * 1024,
        max_download: int = _DEFAULT_MAX_DOWNLOAD,
        thumbnail_width: int = 32,
        describe_limit: int = 16 * 1024 * 1024,
    ) -> None:
        if scheme not in ("https", "http"):
            raise ValueError("scheme is 'https' or 'http'")
        self._conns = (
            media_conn if isinstance(media_conn, MediaConnCache) else MediaConnCache(media_conn)
        )
        if ssl_context is None and (ca_file is not None or ca_pem is not None):
            ssl_context = tls_context(ca_file=ca_file, ca_pem=ca_pem)
        self._ssl = ssl_context
        self._scheme = scheme
        # HTTP proxies go with each request; SOCKS ones need their own connector.
        self._socks = proxy if proxy and proxy.lower().startswith(_SOCKS_SCHEMES) else None
        self._proxy = None if self._socks else proxy
        self._retry = retry or RetryPolicy()
        self._chunk = max(16, chunk_size)
        self._spool_memory = spool_memory
        self._max_download = max_download
        self._thumb_width = thumbnail_width
        self._describe_limit = describe_limit
        self._session = session
        self._own_session = session is None
        self._headers = {"Origin": ORIGIN, "Referer": ORIGIN + "/"}

    def __repr__(self) -> str:
        return f"MediaClient(scheme={self._scheme!r}, conns={self._conns!r})"

    @property
    def media_conns(self) -> MediaConnCache:
        """The media connection cache in use."""
        return self._conns

    async def __aenter__(self) -> MediaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session this client opened."""
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            ssl_option: ssl.SSLContext | bool = self._ssl if self._ssl is not None else True
            connector: aiohttp.BaseConnector
            if self._socks is not None:
                connector = ProxyConnector.from_url(self._socks, ssl=ssl_option)
            else:
                connector = aiohttp.TCPConnector(ssl=ssl_option)
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, read_bufsize=self._chunk
            )
            self._own_session = True
        return self._session

    # --- upload -------------------------------------------------------------------------------

    async def upload(
        self,
        source: UploadSource,
        media_type: MediaType,
        *,
        media_key: bytes | None = None,
        mimetype: str | None = None,
        describe: bool = True,
    ) -> UploadResult:
        """Encrypt ``source`` and upload it; return the fields of the media message.

        ``media_key`` defaults to a fresh random key. With ``describe`` (the default) the MIME
        type, dimensions, duration and thumbnail are computed when possible. Raises
        :class:`~wamd.errors.MediaError` when every host refused or failed.
        """
        key = media_key if media_key is not None else generate_media_key()
        spool = _Spool(self._spool_memory)
        try:
            encrypted, info = await self._encrypt(
                source, media_type, key, spool, describe, mimetype
            )
            answer, hostname = await self._post(spool, encrypted)
        finally:
            await asyncio.to_thread(spool.close)
        url = answer.get("url")
        direct_path = answer.get("direct_path")
        if not isinstance(direct_path, str) or not direct_path.startswith("/"):
            raise MediaError("the media host answered without a valid direct_path")
        if not isinstance(url, str) or not url:
            url = f"{self._scheme}://{hostname}{direct_path}"
        handle = answer.get("handle")
        return UploadResult(
            url=url,
            direct_path=direct_path,
            media_key=key,
            file_enc_sha256=encrypted.file_enc_sha256,
            file_sha256=encrypted.file_sha256,
            file_length=encrypted.file_length,
            media_type=media_type,
            mimetype=mimetype or info.mimetype,
            width=info.width,
            height=info.height,
            seconds=info.seconds,
            jpeg_thumbnail=info.jpeg_thumbnail,
            handle=handle if isinstance(handle, str) else None,
        )

    async def _encrypt(
        self,
        source: UploadSource,
        media_type: MediaType,
        key: bytes,
        spool: _Spool,
        describe: bool,
        mimetype: str | None,
    ) -> tuple[EncryptedMedia, MediaInfo]:
        enc = MediaEncryptor(key, media_type)
        if isinstance(source, bytes | bytearray | memoryview | str | os.PathLike):
            encrypted = await asyncio.to_thread(
                self._encrypt_sync, _sync_chunks(source, self._chunk), enc, spool
            )
            info = MediaInfo()
            if describe:
                info = await asyncio.to_thread(
                    describe_media,
                    source,
                    media_type,
                    mimetype=mimetype,
                    thumbnail_width=self._thumb_width,
                )
            return encrypted, info
        # Keep the plaintext while it is small: describing needs the whole file.
        kept: bytearray | None = bytearray() if describe else None
        head = bytearray()
        if isinstance(source, AsyncIterable):
            chunks: AsyncIterator[bytes] = _rechunk_async(source, self._chunk)
        else:
            chunks = _thread_chunks(source, self._chunk)
        writer = BackgroundWriter(spool, self._chunk)
        try:
            async for chunk in chunks:
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                if kept is not None and len(kept) + len(chunk) <= self._describe_limit:
                    kept += chunk
                else:
                    kept = None
                await writer.write(enc.update(chunk))
            await writer.write(enc.finalize())
        except BaseException:
            await writer.abort()
            raise
        await writer.close()
        info = MediaInfo()
        if kept is not None:
            info = await asyncio.to_thread(
                describe_media,
                bytes(kept),
                media_type,
                mimetype=mimetype,
                thumbnail_width=self._thumb_width,
            )
        elif describe:
            # Too large to keep: the MIME type from the head only.
            info = MediaInfo(
                mimetype=describe_media(bytes(head), media_type, mimetype=mimetype).mimetype
            )
        return enc.result, info

    @staticmethod
    def _encrypt_sync(
        chunks: Iterator[bytes | memoryview], enc: MediaEncryptor, spool: _Spool
    ) -> EncryptedMedia:
        for chunk in chunks:
            spool.write(enc.update(chunk))
        spool.write(enc.finalize())
        return enc.result

    async def _post(self, spool: _Spool, encrypted: EncryptedMedia) -> tuple[dict[str, Any], str]:
        """POST the spool to each host in turn; returns the JSON answer and the host used."""
        conn = await self._conns.get()
        token = b64url(encrypted.file_enc_sha256)
        path = f"/mms/{encrypted.media_type.mms_type}/{token}"
        refreshed = False
        last: BaseException | None = None
        index = 0
        while index < len(conn.hosts):
            hostname = conn.hosts[index].hostname
            limit = conn.hosts[index].max_content_length
            if limit is not None and spool.size > limit:
                last = MediaError(f"{spool.size} bytes exceed {hostname}'s limit of {limit}")
                index += 1
                continue
            try:
                answer = await self._post_to_host(
                    f"{self._scheme}://{hostname}{path}", conn, token, spool
                )
                return answer, hostname
            except _AuthRefused as exc:
                if refreshed:
                    raise MediaError(f"the media host refused the upload auth ({exc})") from None
                refreshed = True
                conn = await self._conns.get(replacing=conn)
                index = 0
            except _HostFailed as exc:
                last = exc.__cause__
                index += 1
        raise MediaError(f"media upload failed on every host: {_redact(last)}") from last

    async def _post_to_host(
        self, url: str, conn: MediaConn, token: str, spool: _Spool
    ) -> dict[str, Any]:
        last: BaseException | None = None
        for attempt in range(self._retry.attempts):
            if attempt:
                after = last.retry_after if isinstance(last, _RetryableStatus) else None
                await asyncio.sleep(self._retry.delay(attempt - 1, after))
            try:
                return await self._post_once(url, conn, token, spool)
            except aiohttp.ClientConnectorError as exc:
                raise _HostFailed from exc  # cannot connect: next host at once
            except (aiohttp.ClientError, TimeoutError, _RetryableStatus) as exc:
                last = exc
        raise _HostFailed from last

    async def _post_once(
        self, url: str, conn: MediaConn, token: str, spool: _Spool
    ) -> dict[str, Any]:
        headers = dict(self._headers)
        headers["Content-Type"] = "application/octet-stream"
        headers["Content-Length"] = str(spool.size)
        async with self._http().post(
            url,
            params={"auth": conn.auth, "token": token},
            data=self._spool_body(spool),
            headers=headers,
            timeout=self._retry.timeout(),
            proxy=self._proxy,
        ) as resp:
            if resp.status in (401, 403):
                raise _AuthRefused(f"HTTP {resp.status}")
            if _is_retryable(resp.status):
                raise _RetryableStatus(resp.status, _retry_after(resp.headers))
            if resp.status != 200:
                raise MediaError(f"the media host refused the upload: HTTP {resp.status}")
            raw = await resp.content.read(_MAX_JSON + 1)
        if len(raw) > _MAX_JSON:
            raise MediaError("the media host's upload answer is too large")
        try:
            answer = json.loads(raw)
        except ValueError:
            raise MediaError("the media host's upload answer is not JSON") from None
        if not isinstance(answer, dict):
            raise MediaError("the media host's upload answer is not a JSON object")
        return answer

    async def _spool_body(self, spool: _Spool) -> AsyncIterator[bytes]:
        async for data in prefetched_reads(spool.read_at, spool.size, self._chunk):
            yield data

    # --- download -----------------------------------------------------------------------------

    def _ref(self, message: MediaRef | Any, media_type: MediaType | None) -> MediaRef:
        if isinstance(message, MediaRef):
            return message
        return MediaRef.from_message(message, media_type)

    async def iter_download(
        self, message: MediaRef | Any, *, media_type: MediaType | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Download, decrypt and verify, yielding plaintext chunks as they come.

        ``message`` is a :class:`MediaRef` or a media message protobuf. The chunks are
        unverified until the iterator ends: the last step raises
        :class:`~wamd.errors.IntegrityError` if the blob was tampered with, so treat the data
        as untrusted until the loop completes.
        """
        ref = self._ref(message, media_type)
        checker: MediaDecryptor | PlainMediaVerifier
        if ref.media_key is not None:
            checker = MediaDecryptor(
                ref.media_key,
                ref.media_type,
                file_sha256=ref.file_sha256,
                file_enc_sha256=ref.file_enc_sha256,
                file_length=ref.file_length,
            )
            limit = (
                blob_length(ref.file_length) if ref.file_length is not None else self._max_download
            )
        else:
            checker = PlainMediaVerifier(file_sha256=ref.file_sha256, file_length=ref.file_length)
            limit = ref.file_length if ref.file_length is not None else self._max_download
        urls = await self._download_urls(ref)
        async with contextlib.aclosing(self._iter_blob(urls, limit)) as blob:
            async for chunk in blob:
                out = checker.update(chunk)
                if out:
                    yield out
        last = checker.finalize()
        if last:
            yield last

    async def download(
        self, message: MediaRef | Any, *, media_type: MediaType | None = None
    ) -> bytes:
        """Download, decrypt and verify the whole file into memory."""
        out = bytearray()
        async with contextlib.aclosing(self.iter_download(message, media_type=media_type)) as it:
            async for chunk in it:
                out += chunk
        return bytes(out)

    async def download_to_file(
        self,
        message: MediaRef | Any,
        path: str | os.PathLike[str],
        *,
        media_type: MediaType | None = None,
    ) -> int:
        """Download into ``path``; returns the number of bytes written.

        The data goes to a temporary file beside ``path`` which replaces ``path`` only once
        every check passed; on any error it is removed and ``path`` is left untouched.
        """
        target = Path(path)
        fd, tmp_name = await asyncio.to_thread(
            tempfile.mkstemp, prefix=f".{target.name}.", suffix=".part", dir=target.parent
        )
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as f:
                writer = BackgroundWriter(f)
                try:
                    async with contextlib.aclosing(
                        self.iter_download(message, media_type=media_type)
                    ) as it:
                        async for chunk in it:
                            await writer.write(chunk)
                except BaseException:
                    await writer.abort()
                    raise
                await writer.close()
            await asyncio.to_thread(os.replace, tmp, target)
        except BaseException:
            await asyncio.to_thread(_unlink_quietly, tmp)
            raise
        return writer.written

    async def _download_urls(self, ref: MediaRef) -> list[str]:
        urls: list[str] = []
        if ref.direct_path:
            try:
                conn = await self._conns.get()
            except MediaError:
                if not ref.url:
                    raise
                conn = None
            if conn is not None:
                sep = "&" if "?" in ref.direct_path else "?"
                extra = f"mms-type={ref.media_type.mms_type}&__wa-mms="
                if ref.file_enc_sha256:
                    extra = f"hash={b64url(ref.file_enc_sha256, pad=True)}&{extra}"
                for host in conn.hosts:
                    urls.append(f"{self._scheme}://{host.hostname}{ref.direct_path}{sep}{extra}")
        if ref.url and ref.url not in urls:
            urls.append(ref.url)
        return urls

    async def _iter_blob(self, urls: list[str], limit: int) -> AsyncGenerator[bytes, None]:
        offset = 0
        last: BaseException | None = None
        for url in urls:
            attempt = 0
            while attempt < self._retry.attempts:
                try:
                    async for chunk in self._get_from(url, offset, limit):
                        offset += len(chunk)
                        yield chunk
                    return
                except aiohttp.ClientConnectorError as exc:
                    last = exc
                    break  # cannot connect: next host at once
                except (aiohttp.ClientError, TimeoutError, _RetryableStatus) as exc:
                    last = exc
                    attempt += 1
                    if attempt < self._retry.attempts:
                        after = exc.retry_after if isinstance(exc, _RetryableStatus) else None
                        await asyncio.sleep(self._retry.delay(attempt - 1, after))
        raise MediaError(f"media download failed on every host: {_redact(last)}") from last

    async def _get_from(self, url: str, offset: int, limit: int) -> AsyncGenerator[bytes, None]:
        headers = dict(self._headers)
        if offset:
            headers["Range"] = f"bytes={offset}-"
        async with self._http().get(
            url, headers=headers, timeout=self._retry.timeout(), proxy=self._proxy
        ) as resp:
            if resp.status in EXPIRED_STATUSES:
                raise MediaExpired(f"the media is gone: HTTP {resp.status}")
            if _is_retryable(resp.status):
                raise _RetryableStatus(resp.status, _retry_after(resp.headers))
            skip = 0
            if resp.status == 206 and offset:
                if not resp.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
                    raise MediaError("the media host resumed at the wrong offset")
            elif resp.status == 200:
                skip = offset
            else:
                raise MediaError(f"media download failed: HTTP {resp.status}")
            got = offset
            async for chunk in resp.content.iter_chunked(self._chunk):
                if skip:
                    if len(chunk) <= skip:
                        skip -= len(chunk)
                        continue
                    chunk = chunk[skip:]
                    skip = 0
                got += len(chunk)
                if got > limit:
                    raise IntegrityError("the media host sent more bytes than the file can have")
                yield chunk


class _AuthRefused(Exception):
    """The host refused the upload auth (401/403): refresh the media connection once."""


class _HostFailed(Exception):
    """Every try on one host failed; the cause is the last failure."""


_AUTH_PARAM = re.compile(r"(auth=)[^&\s'\"]+")


def _redact(exc: BaseException | None) -> str:
    """``repr`` of a failure with any ``auth=`` query value hidden (it is a secret)."""
    return _AUTH_PARAM.sub(r"\1<redacted>", repr(exc))


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _sync_chunks(
    source: bytes | bytearray | memoryview | str | os.PathLike[str], size: int
) -> Iterator[bytes | memoryview]:
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source).cast("B")
        for i in range(0, len(view), size):
            yield view[i : i + size]
        return
    with Path(source).open("rb") as f:
        while chunk := f.read(size):
            yield chunk


async def _thread_chunks(fileobj: IO[bytes], size: int) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(fileobj.read, size):
        yield chunk


async def _rechunk_async(source: AsyncIterable[bytes], size: int) -> AsyncIterator[bytes]:
    async for chunk in source:
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise MediaError(f"an upload source yielded {type(chunk).__name__}, not bytes")
        view = memoryview(chunk).cast("B")
        for i in range(0, len(view), size):
            yield bytes(view[i : i + size])
