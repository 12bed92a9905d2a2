"""Baileys and wamd exchange media through the sandbox media host (HTTPS, generated CA).

Baileys runs its own upload path (encryptedStream + getWAUploadToServer, Node's https with
``NODE_EXTRA_CA_CERTS``) and its own download path (downloadContentFromMessage).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tests.media.peers import run_baileys
from wamd.media.keys import MediaType
from wamd.media.ref import MediaRef
from wamd.media.transfer import MediaClient
from wamd.sandbox.media_http import MediaServer

KINDS = [
    (MediaType.IMAGE, "image"),
    (MediaType.STICKER, "sticker"),
    (MediaType.VIDEO, "video"),
    (MediaType.AUDIO, "audio"),
    (MediaType.PTT, "audio"),  # Baileys sends a voice note as mediaType 'audio' + ptt flag
    (MediaType.DOCUMENT, "document"),
]


async def test_baileys_uploads_wamd_downloads(
    node_peers: Path, tmp_path: Path, media_server: MediaServer, media_client: MediaClient
) -> None:
    cases = []
    for i, (kind, name) in enumerate(KINDS):
        data = os.urandom(50_000 + i * 12_345)
        src = tmp_path / f"in{i}.bin"
        src.write_bytes(data)
        cases.append((kind, name, data, src, os.urandom(32)))
    auth = media_server.issue_auth()
    results = await run_baileys(
        node_peers,
        [
            {
                "op": "upload",
                "type": name,
                "mediaKey": key.hex(),
                "input": str(src),
                "hosts": media_server.https_hostnames,
                "auth": auth,
            }
            for _, name, _, src, key in cases
        ],
        media_server.ca_file,
    )
    for (kind, _, data, _, key), theirs in zip(cases, results, strict=True):
        assert theirs["fileSha256"] == hashlib.sha256(data).hexdigest()
        ref = MediaRef(
            media_type=kind,
            media_key=key,
            direct_path=theirs["directPath"],
            url=theirs["url"],
            file_sha256=bytes.fromhex(theirs["fileSha256"]),
            file_enc_sha256=bytes.fromhex(theirs["fileEncSha256"]),
            file_length=theirs["fileLength"],
        )
        assert await media_client.download(ref) == data


async def test_wamd_uploads_baileys_downloads(
    node_peers: Path, tmp_path: Path, media_server: MediaServer, media_client: MediaClient
) -> None:
    cases = []
    for i, (kind, name) in enumerate(KINDS):
        data = os.urandom(60_000 + i * 777)
        result = await media_client.upload(data, kind)
        cases.append((name, data, result, tmp_path / f"out{i}.bin"))
    results = await run_baileys(
        node_peers,
        [
            {
                "op": "download",
                "type": name,
                "mediaKey": result.media_key.hex(),
                "directPath": result.direct_path,
                "url": result.url,
                "output": str(out),
            }
            for name, _, result, out in cases
        ],
        media_server.ca_file,
    )
    for (_, data, _, out), theirs in zip(cases, results, strict=True):
        assert theirs["bytes"] == len(data)
        assert out.read_bytes() == data
