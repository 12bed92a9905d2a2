"""Uploads and downloads a large generated file through the sandbox media host, in one process,
and prints JSON with the growth of peak RSS (``ru_maxrss``) and the timings.

Usage: ``python -m tests.media.rss_probe SIZE_MB [https|http]``. The file is generated on the fly
(never stored by the client); the host streams it to its state directory.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import AsyncIterator

from wamd.media.conn import MediaConn
from wamd.media.keys import MediaType
from wamd.media.transfer import MediaClient
from wamd.sandbox.media_http import MediaServer

CHUNK = 1024 * 1024


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def generated(size: int, block: bytes, digest: hashlib._Hash) -> AsyncIterator[bytes]:
    for i in range(0, size, CHUNK):
        chunk = i.to_bytes(8, "big") + block[8 : min(CHUNK, size - i)]
        digest.update(chunk)
        yield chunk


async def main(size_mb: int, scheme: str) -> dict[str, float]:
    size = size_mb * CHUNK
    block = os.urandom(CHUNK)
    with tempfile.TemporaryDirectory(prefix="wamd-rss-") as state:
        async with MediaServer(state) as server:
            hosts = server.https_hostnames if scheme == "https" else server.http_hostnames

            async def fetch() -> MediaConn:
                from wamd.media.conn import parse_media_conn

                return parse_media_conn(server.media_conn_node(hosts))

            async with MediaClient(fetch, ca_file=server.ca_file, scheme=scheme) as client:
                # warm up: imports, TLS, buffers
                warm = await client.upload(os.urandom(3 * CHUNK), MediaType.VIDEO)
                await client.download(warm.ref())
                base = peak_rss_mb()

                sent = hashlib.sha256()
                t0 = time.perf_counter()
                result = await client.upload(generated(size, block, sent), MediaType.VIDEO)
                t1 = time.perf_counter()
                got = hashlib.sha256()
                n = 0
                async for chunk in client.iter_download(result.ref()):
                    got.update(chunk)
                    n += len(chunk)
                t2 = time.perf_counter()
    if n != size or got.digest() != sent.digest() or result.file_sha256 != sent.digest():
        raise SystemExit("round trip mismatch")
    return {
        "size_mb": size_mb,
        "base_peak_rss_mb": round(base, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "growth_mb": round(peak_rss_mb() - base, 1),
        "upload_s": round(t1 - t0, 2),
        "download_s": round(t2 - t1, 2),
    }


if __name__ == "__main__":
    size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    scheme = sys.argv[2] if len(sys.argv) > 2 else "https"
    print(json.dumps(asyncio.run(main(size_mb, scheme))))
