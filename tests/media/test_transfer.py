"""Upload and download through the sandbox media host over real loopback HTTP(S)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.media.conftest import FAST_RETRY, CountingFetcher, client_for
from tests.unit.test_media_info import make_image
from wamd.errors import IntegrityError, MediaError, MediaExpired
from wamd.media.cipher import MAC_LENGTH
from wamd.media.conn import MediaConn, MediaHost
from wamd.media.keys import MediaType
from wamd.media.ref import MediaRef
from wamd.media.transfer import MediaClient, RetryPolicy, UploadResult, b64url
from wamd.sandbox.media_http import Fault, MediaServer, blob_id_of

ALL_KINDS = [
    MediaType.IMAGE,
    MediaType.STICKER,
    MediaType.VIDEO,
    MediaType.GIF,
    MediaType.PTV,
    MediaType.AUDIO,
    MediaType.PTT,
    MediaType.DOCUMENT,
    MediaType.HISTORY,
    MediaType.APP_STATE,
    MediaType.LINK_THUMBNAIL,
    MediaType.IMAGE_THUMBNAIL,
]


def statuses(server: MediaServer, method: str) -> list[int]:
    return [e.status for e in server.log if e.method == method]


@pytest.mark.parametrize("kind", ALL_KINDS)
async def test_every_kind_round_trips(media_client: MediaClient, kind: MediaType) -> None:
    data = os.urandom(70_001)
    result = await media_client.upload(data, kind)
    assert result.media_type is kind
    assert result.file_length == len(data)
    assert result.file_sha256 == hashlib.sha256(data).digest()
    assert f"/mms/{kind.mms_type}/" not in result.direct_path
    assert await media_client.download(result.ref()) == data


@pytest.mark.parametrize("size", [0, 1, 16, 1_000_000])
async def test_sizes_round_trip(media_client: MediaClient, size: int) -> None:
    data = os.urandom(size)
    result = await media_client.upload(data, MediaType.DOCUMENT)
    assert await media_client.download(result.ref()) == data


async def test_upload_sources_agree(media_client: MediaClient, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    path = tmp_path / "src.bin"
    path.write_bytes(data)
    key = os.urandom(32)

    async def agen() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 7777):
            yield data[i : i + 7777]

    sources: list[object] = [
        data,
        bytearray(data),
        memoryview(data),
        str(path),
        path,
        io.BytesIO(data),
        agen(),
    ]
    results: list[UploadResult] = []
    for source in sources:
        results.append(await media_client.upload(source, MediaType.VIDEO, media_key=key))  # type: ignore[arg-type]
    assert len({r.file_enc_sha256 for r in results}) == 1
    assert len({r.direct_path for r in results}) == len(sources)
    for r in results:
        assert await media_client.download(r.ref()) == data


async def test_download_modes(media_client: MediaClient, tmp_path: Path) -> None:
    data = os.urandom(2_500_000)
    result = await media_client.upload(data, MediaType.VIDEO)
    chunks = [c async for c in media_client.iter_download(result.ref())]
    assert len(chunks) > 1
    assert b"".join(chunks) == data
    target = tmp_path / "dl" / "out.bin"
    target.parent.mkdir()
    assert await media_client.download_to_file(result.ref(), target) == len(data)
    assert target.read_bytes() == data
    assert [p.name for p in target.parent.iterdir()] == ["out.bin"]


async def test_media_conn_is_cached(media_client: MediaClient, fetcher: CountingFetcher) -> None:
    for _ in range(3):
        await media_client.upload(b"x" * 100, MediaType.IMAGE)
    assert fetcher.calls == 1


async def test_plain_http(media_server: MediaServer) -> None:
    async with client_for(media_server, media_server.http_hostnames, scheme="http") as client:
        data = os.urandom(50_000)
        result = await client.upload(data, MediaType.AUDIO)
        assert result.url.startswith("http://")
        assert await client.download(result.ref()) == data


async def test_https_needs_the_ca(media_server: MediaServer) -> None:
    async with client_for(media_server, ca_file=None) as client:
        with pytest.raises(MediaError):
            await client.upload(b"data", MediaType.IMAGE)


async def test_streamed_sources_are_described_when_small(media_server: MediaServer) -> None:
    picture = make_image("PNG", (300, 200))

    async def stream() -> AsyncIterator[bytes]:
        for i in range(0, len(picture), 100):
            yield picture[i : i + 100]

    async with client_for(media_server) as client:
        result = await client.upload(stream(), MediaType.IMAGE)
        assert (result.mimetype, result.width, result.height) == ("image/png", 300, 200)
        assert result.jpeg_thumbnail is not None
        result = await client.upload(io.BytesIO(picture), MediaType.IMAGE)
        assert (result.width, result.height) == (300, 200)
    assert len(picture) > 150
    async with client_for(media_server, describe_limit=150) as client:
        result = await client.upload(stream(), MediaType.IMAGE)
        assert (result.mimetype, result.width, result.jpeg_thumbnail) == ("image/png", None, None)


async def test_image_upload_describes_the_image(media_client: MediaClient) -> None:
    result = await media_client.upload(make_image("PNG", (300, 200)), MediaType.IMAGE)
    assert (result.mimetype, result.width, result.height) == ("image/png", 300, 200)
    assert result.jpeg_thumbnail is not None
    assert result.jpeg_thumbnail[:3] == b"\xff\xd8\xff"
    assert "media_key" not in repr(result)
    assert "jpeg_thumbnail" not in repr(result)


# --- integrity ---------------------------------------------------------------------------


def _blob_file(server: MediaServer, result: UploadResult) -> Path:
    blob_id = blob_id_of(result.direct_path)
    assert blob_id is not None
    return server.store.blob_path(blob_id)


@pytest.mark.parametrize("where", ["ciphertext", "mac"])
async def test_corrupted_byte_is_an_integrity_error(
    media_server: MediaServer, media_client: MediaClient, tmp_path: Path, where: str
) -> None:
    data = os.urandom(100_000)
    result = await media_client.upload(data, MediaType.IMAGE)
    blob = bytearray(_blob_file(media_server, result).read_bytes())
    blob[500 if where == "ciphertext" else len(blob) - MAC_LENGTH // 2] ^= 0x20
    _blob_file(media_server, result).write_bytes(bytes(blob))
    with pytest.raises(IntegrityError, match="MAC"):
        await media_client.download(result.ref())
    # the streaming form hands out unverified bytes, then fails at the end
    got = bytearray()

    async def consume() -> None:
        async for chunk in media_client.iter_download(result.ref()):
            got.extend(chunk)

    with pytest.raises(IntegrityError):
        await consume()
    assert len(got) > 0
    # the file form leaves nothing behind
    target = tmp_path / "dl" / "out.bin"
    target.parent.mkdir()
    with pytest.raises(IntegrityError):
        await media_client.download_to_file(result.ref(), target)
    assert list(target.parent.iterdir()) == []


async def test_wrong_hashes_in_the_message(media_client: MediaClient) -> None:
    result = await media_client.upload(os.urandom(5000), MediaType.DOCUMENT)
    ref = result.ref()
    for field in ("file_sha256", "file_enc_sha256"):
        bad = MediaRef(**{**_fields(ref), field: bytes(32)})
        with pytest.raises(IntegrityError, match=field):
            await media_client.download(bad)
    with pytest.raises(IntegrityError):
        await media_client.download(MediaRef(**{**_fields(ref), "file_length": 4999}))


def _fields(ref: MediaRef) -> dict[str, object]:
    return {name: getattr(ref, name) for name in ref.__slots__}


async def test_hostile_host_sending_too_much() -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        for _ in range(10_000):
            await resp.write(b"\x00" * 65536)
        return resp

    async def bad_upload(request: web.Request) -> web.StreamResponse:
        await request.read()
        if request.match_info["kind"] == "image":
            return web.Response(text="not json")
        return web.json_response({"url": "x"})

    app = web.Application()
    app.router.add_get("/blob", endless)
    app.router.add_post("/mms/{kind}/{token}", bad_upload)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:

        async def fetch() -> MediaConn:
            return MediaConn(auth="a", ttl=60, hosts=(MediaHost(f"127.0.0.1:{port}"),))

        async with MediaClient(fetch, scheme="http", retry=FAST_RETRY) as client:
            ref = MediaRef(
                MediaType.IMAGE,
                os.urandom(32),
                url=f"http://127.0.0.1:{port}/blob",
                file_length=1000,
            )
            with pytest.raises(IntegrityError):
                await client.download(ref)
            with pytest.raises(MediaError, match="JSON"):
                await client.upload(b"data", MediaType.IMAGE)
            with pytest.raises(MediaError, match="direct_path"):
                await client.upload(b"data", MediaType.VIDEO)
    finally:
        await runner.cleanup()


# --- expiry --------------------------------------------------------------------------------


async def test_expired_media(media_server: MediaServer, media_client: MediaClient) -> None:
    result = await media_client.upload(b"soon gone", MediaType.IMAGE)
    assert media_server.expire(result.direct_path) == 1
    with pytest.raises(MediaExpired):
        await media_client.download(result.ref())
    assert statuses(media_server, "GET")[-1] == 410
    assert not _blob_file(media_server, result).exists()


async def test_blob_ttl(tmp_path: Path) -> None:
    now = [1_700_000_000.0]
    async with (
        MediaServer(tmp_path, blob_ttl=60, clock=lambda: now[0]) as server,
        client_for(server) as client,
    ):
        result = await client.upload(b"short-lived", MediaType.AUDIO)
        now[0] += 59
        assert await client.download(result.ref()) == b"short-lived"
        now[0] += 1
        with pytest.raises(MediaExpired):
            await client.download(result.ref())
        assert statuses(server, "GET") == [200, 410]


async def test_unknown_and_forged_paths(
    media_server: MediaServer, media_client: MediaClient
) -> None:
    result = await media_client.upload(b"x", MediaType.IMAGE)
    blob_id = blob_id_of(result.direct_path)
    assert blob_id is not None
    forged = result.direct_path.replace("oh=", "oh=AAAA")
    unknown = result.direct_path.replace(blob_id, "0" * 32)
    for path, status in ((forged, 403), (unknown, 403)):
        ref = MediaRef(**{**_fields(result.ref()), "direct_path": path, "url": None})
        with pytest.raises(MediaExpired):
            await media_client.download(ref)
        assert statuses(media_server, "GET")[-1] == status
    # a signed path to a blob that never existed: 404
    record = media_server.store.lookup(blob_id)
    assert record is not None
    media_server.store.blob_path(blob_id).unlink()
    media_server.store._record_path(blob_id).unlink()
    with pytest.raises(MediaExpired):
        await media_client.download(result.ref())
    assert statuses(media_server, "GET")[-1] == 404


# --- retries and fallback ------------------------------------------------------------------


async def test_5xx_then_success_is_retried(
    media_server: MediaServer, media_client: MediaClient
) -> None:
    data = os.urandom(40_000)
    media_server.inject(Fault(status=503, method="POST", count=2))
    result = await media_client.upload(data, MediaType.IMAGE)
    assert statuses(media_server, "POST") == [503, 503, 200]
    media_server.inject(Fault(status=500, method="GET", count=1))
    media_server.inject(Fault(status=502, method="GET", count=1))
    assert await media_client.download(result.ref()) == data
    assert statuses(media_server, "GET") == [500, 502, 200]


async def test_5xx_forever_fails_typed(media_server: MediaServer) -> None:
    async with client_for(media_server, media_server.https_hostnames[:1]) as client:
        media_server.inject(Fault(status=500, count=None))
        with pytest.raises(MediaError, match="every host"):
            await client.upload(b"data", MediaType.IMAGE)
        assert statuses(media_server, "POST") == [500] * FAST_RETRY.attempts


async def test_host_fallback_from_a_dead_host(media_server: MediaServer) -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_host = f"127.0.0.1:{dead.getsockname()[1]}"
    dead.close()  # nothing listens there now
    hosts = [dead_host, media_server.https_hostnames[0]]
    async with client_for(media_server, hosts) as client:
        data = os.urandom(10_000)
        result = await client.upload(data, MediaType.VIDEO)
        assert await client.download(MediaRef(**{**_fields(result.ref()), "url": None})) == data


async def test_host_fallback_from_a_failing_host(media_server: MediaServer) -> None:
    first, second = media_server.https_ports
    media_server.inject(Fault(status=503, port=first, count=None))
    async with client_for(media_server, media_server.https_hostnames) as client:
        data = os.urandom(10_000)
        result = await client.upload(data, MediaType.DOCUMENT)
        assert f":{second}/" in result.url
        ref = MediaRef(**{**_fields(result.ref()), "url": None})
        assert await client.download(ref) == data
    ports = [(e.method, e.port, e.status) for e in media_server.log]
    assert ports == (
        [("POST", first, 503)] * 3
        + [("POST", second, 200)]
        + [("GET", first, 503)] * 3
        + [("GET", second, 200)]
    )


async def test_timeouts_are_retried(media_server: MediaServer) -> None:
    retry = RetryPolicy(attempts=3, backoff=0.01, read_timeout=1.5)
    async with client_for(media_server, retry=retry) as client:
        media_server.inject(Fault(status=None, delay=5.0, method="POST"))
        result = await client.upload(b"slow", MediaType.IMAGE)
        media_server.inject(Fault(status=None, delay=5.0, method="GET"))
        assert await client.download(result.ref()) == b"slow"


async def test_dropped_download_resumes_with_range(
    media_server: MediaServer, media_client: MediaClient
) -> None:
    data = os.urandom(3_000_000)
    result = await media_client.upload(data, MediaType.VIDEO)
    media_server.inject(Fault(truncate_after=1_000_003, method="GET"))
    assert await media_client.download(result.ref()) == data
    assert statuses(media_server, "GET") == [200, 206]


async def test_refused_auth_refreshes_media_conn(
    media_server: MediaServer, media_client: MediaClient, fetcher: CountingFetcher
) -> None:
    await media_client.upload(b"one", MediaType.IMAGE)
    media_server.revoke_auths()
    result = await media_client.upload(b"two", MediaType.IMAGE)
    assert fetcher.calls == 2
    assert statuses(media_server, "POST") == [200, 401, 200]
    assert await media_client.download(result.ref()) == b"two"


# --- the host's own checks -----------------------------------------------------------------


async def test_host_validates_uploads(tmp_path: Path) -> None:
    async with MediaServer(tmp_path, max_upload=1000) as server:
        host = server.http_hostnames[0]
        auth = server.issue_auth()
        body = os.urandom(100)
        token = b64url(hashlib.sha256(body).digest())
        async with aiohttp.ClientSession() as http:

            async def post(path: str, auth: str, data: bytes) -> int:
                url = f"http://{host}{path}"
                async with http.post(
                    url, params={"auth": auth, "token": path.rsplit("/", 1)[1]}, data=data
                ) as r:
                    return r.status

            assert await post(f"/mms/image/{token}", auth, body) == 200
            assert await post(f"/mms/image/{token}", "wrong", body) == 401
            assert await post(f"/mms/nope/{token}", auth, body) == 400
            assert await post(f"/mms/image/{token}", auth, body + b"x") == 400
            assert await post("/mms/image/short", auth, body) == 400
            big = os.urandom(2000)
            big_token = b64url(hashlib.sha256(big).digest())
            assert await post(f"/mms/image/{big_token}", auth, big) == 413
        assert list((tmp_path / "media" / "tmp").iterdir()) == []


async def test_blobs_survive_a_restart(tmp_path: Path) -> None:
    async with MediaServer(tmp_path) as server, client_for(server) as client:
        result = await client.upload(b"persistent", MediaType.DOCUMENT)
        ca = server.ca_file.read_bytes()
    async with MediaServer(tmp_path) as server, client_for(server) as client:
        assert server.ca_file.read_bytes() == ca
        ref = MediaRef(**{**_fields(result.ref()), "url": None})
        assert await client.download(ref) == b"persistent"


async def test_host_size_limits_are_respected(tmp_path: Path) -> None:
    async with (
        MediaServer(tmp_path, https_ports=(0, 0), max_upload=5000) as small,
        client_for(small, small.https_hostnames) as client,
    ):
        with pytest.raises(MediaError, match="limit"):
            await client.upload(os.urandom(6000), MediaType.DOCUMENT)
        assert list(small.log) == []  # refused before sending a byte
        result = await client.upload(os.urandom(4000), MediaType.DOCUMENT)
        assert result.file_length == 4000


async def test_failures_do_not_show_the_auth(media_server: MediaServer) -> None:
    async with client_for(media_server, media_server.https_hostnames[:1]) as client:
        media_server.inject(Fault(status=500, count=None))
        with pytest.raises(MediaError) as info:
            await client.upload(b"data", MediaType.IMAGE)
        conn = client.media_conns.current
        assert conn is not None
        assert conn.auth not in str(info.value)
        assert conn.auth not in repr(client)


def test_redaction() -> None:
    from wamd.media.transfer import _redact

    text = _redact(ValueError("POST https://h/mms/image/t?auth=SECRET-1&token=t failed"))
    assert "SECRET-1" not in text
    assert "auth=<redacted>&token=t" in text


async def _get_and_leave(server: MediaServer, direct_path: str) -> None:
    """A client that asks for a blob, reads a little of the answer and drops the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.http_ports[0])
    writer.write(f"GET {direct_path} HTTP/1.1\r\nHost: media\r\n\r\n".encode())
    await reader.readexactly(1000)
    writer.transport.abort()


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    for _ in range(500):
        found = [r for r in caplog.records if text in r.getMessage()]
        if found:
            return found
        await asyncio.sleep(0.01)
    raise AssertionError(f"nothing logged with {text!r}")


async def test_a_client_leaving_mid_download_is_no_server_error(
    media_server: MediaServer, media_client: MediaClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = await media_client.upload(os.urandom(8 << 20), MediaType.DOCUMENT)
    await _get_and_leave(media_server, result.direct_path)
    (left,) = await _logged(caplog, "the client left during a download")
    assert left.levelno == logging.DEBUG
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    # a real handler error still is one: the blob's file is gone from the host's disk
    _blob_file(media_server, result).unlink()
    with pytest.raises(MediaError):
        await media_client.download(result.ref())
    errors = await _logged(caplog, "Error handling request")
    assert errors[0].levelno == logging.ERROR
    assert errors[0].exc_info is not None
    assert errors[0].exc_info[0] is FileNotFoundError
