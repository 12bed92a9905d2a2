"""Fixtures for the app-state tests: a long-lived Node process running Baileys' app-state code."""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


class BaileysAppState:
    """Synchronous JSON-lines client of ``tests/interop/appstate_peer.mjs``."""

    def __init__(self, interop: Path) -> None:
        self._proc = subprocess.Popen(
            ["node", str(interop / "appstate_peer.mjs")],
            cwd=interop,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._ids = itertools.count(1)

    def call(self, op: str, **args: Any) -> Any:
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        req_id = next(self._ids)
        self._proc.stdin.write(json.dumps({"id": req_id, "op": op, **args}) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the Baileys peer exited (code {self._proc.poll()})")
        answer = json.loads(line)
        assert answer["id"] == req_id
        if not answer["ok"]:
            raise RuntimeError(f"Baileys {op} failed: {answer['error']}")
        return answer["result"]

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


@pytest.fixture(scope="module")
def baileys(node_peers: Path) -> Iterator[BaileysAppState]:
    peer = BaileysAppState(node_peers)
    try:
        yield peer
    finally:
        peer.close()
