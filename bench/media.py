"""Media throughput: encrypt+upload and download+decrypt, wamd vs Baileys 7.0.0-rc14, same run.

Usage: ``.venv/bin/python bench/media.py [--sizes 8,64,256] [--rounds 2] [--scheme https]``

A sandbox media host runs in its own process (so neither client shares a process with it).
For each size, a random file is written once; then each side, best of ``--rounds``:

- encrypt+upload: from the file on disk to the host's answer (wamd: ``MediaClient.upload`` of
  the path; Baileys: ``encryptedStream`` + ``getWAUploadToServer``);
- download+decrypt: from the direct path to the plaintext on disk (wamd:
  ``MediaClient.download_to_file``; Baileys: ``downloadContentFromMessage`` piped to a file).

Baileys is timed inside its Node process (tests/interop/baileys_media.mjs) after a warm-up
request to the host, so Node start-up, module loading and the TLS handshake are not counted
(wamd's session is warm too). wamd verifies the MAC and both SHA-256s on download; Baileys
checks nothing. MB/s are MiB of plaintext per second.
"""

from __future__ import annotations

import sys
from pathlib import Path

# keep bench/ itself off the import path: its scripts are not modules to import
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from wamd.media import MediaClient, MediaConn, MediaHost, MediaType  # noqa: E402

INTEROP = ROOT / "tests" / "interop"
MIB = 1024 * 1024


async def start_host(state: Path) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import asyncio, sys\n"
        "from wamd.sandbox.media_http import serve_forever\n"
        "asyncio.run(serve_forever(sys.argv[1]))",
        str(state),
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
    return proc, json.loads(line)


async def baileys(cmd: dict[str, Any], ca_file: str) -> dict[str, Any]:
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=ca_file)
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(INTEROP / "baileys_media.mjs"),
        json.dumps(cmd),
        cwd=INTEROP,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"baileys failed: {out.decode()} {err.decode()}")
    result: dict[str, Any] = json.loads(out)
    return result


async def run(sizes: list[int], rounds: int, scheme: str) -> None:
    with tempfile.TemporaryDirectory(prefix="wamd-bench-media-") as tmp_name:
        tmp = Path(tmp_name)
        host_proc, host = await start_host(tmp / "host")
        hosts = host[scheme]
        try:

            async def fetch() -> MediaConn:
                return MediaConn(
                    auth=host["auth"],
                    ttl=host["auth_ttl"],
                    hosts=tuple(MediaHost(h) for h in hosts),
                )

            async with MediaClient(fetch, ca_file=host["ca_file"], scheme=scheme) as client:
                print(f"media host: {scheme} {hosts[0]} (own process); best of {rounds} rounds")
                print(
                    f"{'size':>8}  {'operation':<18} {'wamd MB/s':>10} {'Baileys MB/s':>13} "
                    f"{'wamd/Baileys':>13}"
                )
                for size_mb in sizes:
                    src = tmp / f"plain-{size_mb}.bin"
                    with src.open("wb") as f:
                        for _ in range(size_mb):
                            f.write(os.urandom(MIB))
                    await measure(client, host, src, size_mb, rounds, tmp, scheme)
                    src.unlink()
        finally:
            host_proc.terminate()
            await host_proc.wait()


async def measure(
    client: MediaClient,
    host: dict[str, Any],
    src: Path,
    size_mb: int,
    rounds: int,
    tmp: Path,
    scheme: str,
) -> None:
    ours_up = ours_down = theirs_up = theirs_down = float("inf")
    out = tmp / "out.bin"
    for _ in range(rounds):
        t0 = time.perf_counter()
        result = await client.upload(src, MediaType.VIDEO, describe=False)
        ours_up = min(ours_up, time.perf_counter() - t0)
        t0 = time.perf_counter()
        await client.download_to_file(result.ref(), out)
        ours_down = min(ours_down, time.perf_counter() - t0)
        out.unlink()
        if scheme != "https":
            continue  # Baileys only speaks HTTPS to media hosts
        key = os.urandom(32).hex()
        up = await baileys(
            {
                "op": "upload",
                "type": "video",
                "mediaKey": key,
                "input": str(src),
                "hosts": host["https"],
                "auth": host["auth"],
                "warm": True,
            },
            host["ca_file"],
        )
        theirs_up = min(theirs_up, up["ms"] / 1000)
        down = await baileys(
            {
                "op": "download",
                "type": "video",
                "mediaKey": key,
                "directPath": up["directPath"],
                "url": up["url"],
                "output": str(out),
                "warm": True,
            },
            host["ca_file"],
        )
        theirs_down = min(theirs_down, down["ms"] / 1000)
        out.unlink()
    for name, ours, theirs in (
        ("encrypt+upload", ours_up, theirs_up),
        ("download+decrypt", ours_down, theirs_down),
    ):
        ours_rate = size_mb / ours
        theirs_rate = size_mb / theirs if theirs != float("inf") else float("nan")
        print(
            f"{size_mb:>6}MB  {name:<18} {ours_rate:>10.1f} {theirs_rate:>13.1f} "
            f"{ours_rate / theirs_rate:>12.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="8,64,256", help="file sizes in MiB, comma-separated")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--scheme", choices=["https", "http"], default="https")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    asyncio.run(run(sizes, args.rounds, args.scheme))


if __name__ == "__main__":
    main()
