"""The sandbox's media host: WhatsApp's upload and download endpoints over HTTPS and HTTP.

- ``POST /mms/{type}/{token}?auth=..&token=..`` takes an encrypted blob, streamed to disk; the
  auth must come from a current ``media_conn`` grant (else 401) and the token must be the
  URL-safe base64 SHA-256 of the body (else 400). The answer is JSON ``{url, direct_path}``.
- ``GET /v/t62.7118-24/{id}.enc?ccb=11-4&oh=..&oe=..`` serves it (``Range`` supported). ``oh``
  signs the path (403 when forged), an expired blob answers 410, an unknown one 404.

HTTPS uses a generated certificate (:mod:`wamd.sandbox.media_tls`); its CA is exported at
:attr:`MediaServer.ca_file` for clients (``NODE_EXTRA_CA_CERTS`` for Node). Tests can make
blobs expire (:meth:`MediaServer.expire`, ``blob_ttl``), revoke upload auths and inject
faults (5xx answers, delays, connections dropped mid-download) with :meth:`MediaServer.inject`.

The ``media_conn`` IQ answer comes from :meth:`MediaServer.media_conn_node`; the sandbox's IQ
handler for ``xmlns="w:m"`` returns it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from wamd.binary import Node
from wamd.media.aio import prefetched_reads
from wamd.sandbox.media_store import BlobRecord, MediaStore, UploadRejected
from wamd.sandbox.media_tls import TLSFiles, load_or_generate_tls_files

MMS_TYPES = frozenset(
    {
        "image",
        "video",
        "audio",
        "document",
        "sticker",
        "ptt",
        "gif",
        "ptv",
        "md-msg-hist",
        "md-app-state",
        "thumbnail-link",
        "thumbnail-image",
        "thumbnail-video",
        "thumbnail-document",
    }
)
"""Upload path types the host accepts."""

log = logging.getLogger("wamd.sandbox.media")

_TOKEN = re.compile(r"^[A-Za-z0-9_\-+/]{43}=?$")
_BLOB_NAME = re.compile(r"^([0-9a-f]{32})\.enc$")
_DIRECT_SEGMENT = "t62.7118-24"
_URL_LIFETIME = 365 * 24 * 3600
_READ_CHUNK = 1024 * 1024
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Fault:
    """One injected fault, matched against incoming requests in order.

    ``status``: answer with it (without touching the blob). ``delay``: sleep first (to trip
    client timeouts). ``truncate_after``: for downloads, send that many bytes of the blob
    then drop the connection. ``method``/``port`` restrict which requests match; ``count``
    is how many requests it hits (``None``: all of them).
    """

    status: int | None = 503
    method: str | None = None
    port: int | None = None
    count: int | None = 1
    delay: float = 0.0
    truncate_after: int | None = None


@dataclass(frozen=True, slots=True)
class RequestLogEntry:
    """One request the media host answered (for test assertions)."""

    method: str
    port: int
    path: str
    status: int


class MediaServer:
    """The sandbox's media host. ``async with MediaServer(state_dir) as media: ...``.

    ``https_ports`` / ``http_ports`` give the listening ports (0: any free port; several
    ports serve the same blobs, as several media hosts would). ``blob_ttl`` is the lifetime
    of uploads in seconds (``None``: forever). ``media_conn_ttl`` and ``auth_ttl`` go into
    the ``media_conn`` answer; auths older than ``auth_ttl`` are refused.
    """

    def __init__(
        self,
        state_dir: str | Path,
        *,
        host: str = "127.0.0.1",
        https_ports: tuple[int, ...] = (0,),
        http_ports: tuple[int, ...] = (0,),
        blob_ttl: float | None = None,
        media_conn_ttl: int = 300,
        auth_ttl: int = 21600,
        max_upload: int = 4 * 1024**3,
        hosts_scheme: str = "https",
        clock: Callable[[], float] = time.time,
    ) -> None:
        root = Path(state_dir)
        self.store = MediaStore(root / "media", blob_ttl=blob_ttl, clock=clock)
        self.tls: TLSFiles = load_or_generate_tls_files(root / "tls")
        self._bind_host = host
        self._want_https = https_ports
        self._want_http = http_ports
        self.media_conn_ttl = media_conn_ttl
        self.auth_ttl = auth_ttl
        self.max_upload = max_upload
        if hosts_scheme not in ("https", "http"):
            raise ValueError("hosts_scheme is 'https' or 'http'")
        self.hosts_scheme = hosts_scheme
        self.https_ports: list[int] = []
        self.http_ports: list[int] = []
        self.faults: list[Fault] = []
        self.log: collections.deque[RequestLogEntry] = collections.deque(maxlen=1000)
        self._auths: dict[str, float] = {}
        self._runner: web.AppRunner | None = None

    def __repr__(self) -> str:
        return f"MediaServer(https={self.https_ports}, http={self.http_ports})"

    # --- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> MediaServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def make_app(self) -> web.Application:
        """The aiohttp application (mountable elsewhere; :meth:`start` serves it itself)."""
        app = web.Application(middlewares=[self._fault_middleware])
        app.on_response_prepare.append(self._log_response)
        app.router.add_post("/mms/{mms_type}/{token}", self._upload)
        app.router.add_get("/v/{segment}/{name}", self._download)
        return app

    async def start(self) -> None:
        """Listen on the configured ports."""
        runner = web.AppRunner(self.make_app(), access_log=None, read_bufsize=_READ_CHUNK)
        await runner.setup()
        self._runner = runner
        try:
            ctx = self.tls.server_context()
            for port in self._want_https:
                sock = self._bind(port)
                self.https_ports.append(sock.getsockname()[1])
                await web.SockSite(runner, sock, ssl_context=ctx).start()
            for port in self._want_http:
                sock = self._bind(port)
                self.http_ports.append(sock.getsockname()[1])
                await web.SockSite(runner, sock).start()
        except BaseException:
            await self.stop()
            raise

    def _bind(self, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._bind_host, port))
        return sock

    async def stop(self) -> None:
        """Stop listening (stored blobs stay on disk)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.https_ports.clear()
        self.http_ports.clear()

    # --- what clients are told ---------------------------------------------------------------

    @property
    def ca_file(self) -> Path:
        """PEM file of the CA that signed the HTTPS certificate (trust it in clients)."""
        return self.tls.ca_pem

    @property
    def hostnames(self) -> list[str]:
        """``host:port`` of each media host listed in ``media_conn`` answers."""
        ports = self.https_ports if self.hosts_scheme == "https" else self.http_ports
        return [f"{self._bind_host}:{p}" for p in ports]

    @property
    def https_hostnames(self) -> list[str]:
        """``host:port`` of each HTTPS listener."""
        return [f"{self._bind_host}:{p}" for p in self.https_ports]

    @property
    def http_hostnames(self) -> list[str]:
        """``host:port`` of each plain HTTP listener."""
        return [f"{self._bind_host}:{p}" for p in self.http_ports]

    def issue_auth(self) -> str:
        """A new upload auth token, valid for ``auth_ttl`` seconds."""
        now = time.monotonic()
        self._auths = {a: t for a, t in self._auths.items() if t > now}
        auth = secrets.token_urlsafe(32)
        self._auths[auth] = now + self.auth_ttl
        return auth

    def revoke_auths(self) -> None:
        """Invalidate every auth issued so far (uploads with them get 401)."""
        self._auths.clear()

    def auth_valid(self, auth: str) -> bool:
        """True when ``auth`` was issued and has not expired or been revoked."""
        expiry = self._auths.get(auth)
        return expiry is not None and expiry > time.monotonic()

    def media_conn_node(self, hostnames: list[str] | None = None) -> Node:
        """The ``<media_conn>`` child of the answer to ``<iq xmlns="w:m"><media_conn/>``."""
        hosts = [
            Node("host", {"hostname": h, "maxContentLengthBytes": str(self.max_upload)})
            for h in (self.hostnames if hostnames is None else hostnames)
        ]
        attrs: dict[str, str] = {
            "auth": self.issue_auth(),
            "ttl": str(self.media_conn_ttl),
            "auth_ttl": str(self.auth_ttl),
            "max_buckets": "12",
        }
        return Node("media_conn", dict(attrs), list(hosts))

    # --- test controls -----------------------------------------------------------------------

    def inject(self, fault: Fault) -> Fault:
        """Add a fault; it hits the next matching requests."""
        self.faults.append(fault)
        return fault

    def expire(self, direct_path: str | None = None) -> int:
        """Expire one blob (by its direct path or URL) or, with no argument, all of them."""
        if direct_path is None:
            return self.store.expire_all()
        blob_id = blob_id_of(direct_path)
        return int(blob_id is not None and self.store.expire(blob_id))

    def direct_path(self, record: BlobRecord) -> str:
        """The signed download path of a stored blob."""
        expires = int(
            record.expires if record.expires is not None else record.created + _URL_LIFETIME
        )
        oe = f"{expires:X}"
        oh = self.store.sign(record.blob_id, oe)
        query = f"ccb=11-4&oh={oh}&oe={oe}&_nc_sid=5e03e0&mms3=true"
        return f"/v/{_DIRECT_SEGMENT}/{record.blob_id}.enc?{query}"

    # --- HTTP --------------------------------------------------------------------------------

    async def _log_response(self, request: web.Request, response: web.StreamResponse) -> None:
        self.log.append(
            RequestLogEntry(request.method, _port_of(request), request.path, response.status)
        )

    @web.middleware
    async def _fault_middleware(
        self, request: web.Request, handler: _Handler
    ) -> web.StreamResponse:
        fault = self._take_fault(request)
        if fault is None:
            return await handler(request)
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.truncate_after is not None and request.method == "GET":
            return await self._truncated(request, fault.truncate_after)
        if fault.status is not None:
            return web.Response(status=fault.status, text=f"injected {fault.status}")
        return await handler(request)

    def _take_fault(self, request: web.Request) -> Fault | None:
        port = _port_of(request)
        for fault in self.faults:
            if fault.method is not None and fault.method != request.method:
                continue
            if fault.port is not None and fault.port != port:
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
            return fault
        return None

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        mms_type = request.match_info["mms_type"]
        token = request.match_info["token"]
        if not self.auth_valid(request.query.get("auth", "")):
            raise web.HTTPUnauthorized(text="bad or expired auth")
        if mms_type not in MMS_TYPES:
            raise web.HTTPBadRequest(text=f"unknown media type {mms_type!r}")
        query_token = request.query.get("token")
        if not _TOKEN.match(token) or (
            query_token is not None and query_token.rstrip("=") != token.rstrip("=")
        ):
            raise web.HTTPBadRequest(text="bad token")
        if request.content_length is not None and request.content_length > self.max_upload:
            raise web.HTTPRequestEntityTooLarge(
                max_size=self.max_upload, actual_size=request.content_length
            )
        try:
            record = await self.store.receive(
                request.content.iter_chunked(_READ_CHUNK),
                token=token,
                mms_type=mms_type,
                max_size=self.max_upload,
            )
        except UploadRejected as exc:
            return web.Response(status=exc.status, text=str(exc))
        direct_path = self.direct_path(record)
        return web.json_response(
            {
                "url": f"{request.scheme}://{request.host}{direct_path}",
                "direct_path": direct_path,
                "handle": record.blob_id,
            }
        )

    async def _download(self, request: web.Request) -> web.StreamResponse:
        match = _BLOB_NAME.match(request.match_info["name"])
        oh, oe = request.query.get("oh"), request.query.get("oe")
        if match is None or not oh or not oe:
            raise web.HTTPNotFound()
        blob_id = match.group(1)
        if not self.store.verify(blob_id, oe, oh):
            raise web.HTTPForbidden(text="bad signature")
        record = self.store.lookup(blob_id)
        if record is None:
            raise web.HTTPNotFound()
        if record.is_gone(self.store.clock()):
            if not record.expired:
                await asyncio.to_thread(self.store.expire, blob_id)
            raise web.HTTPGone()
        return await _serve_file(request, self.store.blob_path(blob_id), record.size)

    async def _truncated(self, request: web.Request, keep: int) -> web.StreamResponse:
        match = _BLOB_NAME.match(request.match_info.get("name", ""))
        record = self.store.lookup(match.group(1)) if match else None
        if record is None or record.is_gone(self.store.clock()):
            raise web.HTTPNotFound()
        response = web.StreamResponse(
            status=200, headers={"Content-Type": "application/octet-stream"}
        )
        response.content_length = record.size
        await response.prepare(request)
        data = await asyncio.to_thread(_read_head, self.store.blob_path(record.blob_id), keep)
        await response.write(data)
        if request.transport is not None:
            request.transport.close()
        return response


_RANGE = re.compile(r"^bytes=(\d{1,19})-(\d{0,19})$")


async def _serve_file(request: web.Request, path: Path, size: int) -> web.StreamResponse:
    """Stream a file (one ``Range`` honoured), reading 1 MiB per executor call.

    (aiohttp's FileResponse over TLS falls back to 16 KiB executor reads: far slower.)
    """
    start, end, status = 0, size - 1, 200
    headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
    wanted = request.headers.get("Range")
    if wanted is not None:
        match = _RANGE.match(wanted.strip())
        first = int(match.group(1)) if match else size
        last = int(match.group(2)) if match and match.group(2) else size - 1
        if match is None or first >= size or last < first:
            raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
        start, end, status = first, min(last, size - 1), 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = end - start + 1
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    f = await asyncio.to_thread(path.open, "rb")
    try:
        fd = f.fileno()

        def read_at(offset: int, n: int) -> bytes:
            return os.pread(fd, n, start + offset)

        sent = 0
        async for data in prefetched_reads(read_at, end - start + 1, _READ_CHUNK):
            await response.write(data)
            sent += len(data)
        await response.write_eof()
    except ConnectionError:
        # The client closed the connection half-way (it timed out, gave up or was closed):
        # an ordinary event, not a server error. (aiohttp, given the response back, finds
        # the connection gone and logs nothing either.)
        log.debug(
            "media: the client left during a download (%d of %d bytes written)",
            sent,
            end - start + 1,
        )
    finally:
        await asyncio.to_thread(f.close)
    return response


def _read_head(path: Path, n: int) -> bytes:
    with path.open("rb") as f:
        return f.read(n)


def _port_of(request: web.Request) -> int:
    sockname = request.get_extra_info("sockname")
    with contextlib.suppress(TypeError, IndexError):
        return int(sockname[1])
    return 0


def blob_id_of(direct_path_or_url: str) -> str | None:
    """The blob id inside a direct path or URL issued by this host (``None`` if none)."""
    found = re.search(r"/([0-9a-f]{32})\.enc(?:\?|$)", direct_path_or_url)
    return found.group(1) if found else None


async def serve_forever(state_dir: str | Path, **options: object) -> None:
    """Run a media host until cancelled, printing one JSON line: ports, CA file, an auth.

    For benchmarks and manual use (bench/media.py runs it in its own process).
    """
    import json

    server = MediaServer(state_dir, **options)  # type: ignore[arg-type]
    await server.start()
    try:
        info = {
            "https": server.https_hostnames,
            "http": server.http_hostnames,
            "ca_file": str(server.ca_file),
            "auth": server.issue_auth(),
            "auth_ttl": server.auth_ttl,
        }
        print(json.dumps(info), flush=True)
        await asyncio.Event().wait()
    finally:
        await server.stop()
