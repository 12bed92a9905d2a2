"""Client for codec_peer.mjs (Baileys' WABinary in a long-lived Node subprocess).

Shared by tests/interop/test_codec_interop.py and bench/codec.py. Node JSON form:
``{"tag", "attrs", "content": null | [..] | {"b64": ..} | {"str": ..}}``; JIDs travel as the
strings Baileys' own ``jidDecode`` turns back into the same wire encoding.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

from wamd.binary import Node
from wamd.types import JID
from wamd.types.jid import DOMAIN_OF_SERVER, HOSTED_LID_SERVER, HOSTED_SERVER


def jid_for_baileys(jid: JID) -> str:
    """The string Baileys' encoder turns into the same bytes wamd writes for ``jid``."""
    server = jid.server
    if server in DOMAIN_OF_SERVER and (
        jid.device or jid.agent or server in (HOSTED_SERVER, HOSTED_LID_SERVER)
    ):
        agent = f"_{jid.agent}" if jid.agent else ""
        return f"{jid.user}{agent}:{jid.device}@{server}"
    if jid.device or server in ("msgr", "interop"):
        raise ValueError(f"Baileys cannot encode {jid}")
    return str(jid)


def _value_for_baileys(value: str | JID) -> str:
    return jid_for_baileys(value) if isinstance(value, JID) else value


def node_to_json(node: Node) -> dict[str, Any]:
    content = node.content
    out: Any
    if content is None:
        out = None
    elif isinstance(content, list):
        out = [node_to_json(child) for child in content]
    elif isinstance(content, bytes):
        out = {"b64": base64.b64encode(content).decode()}
    else:
        out = {"str": _value_for_baileys(content)}
    attrs = {key: _value_for_baileys(value) for key, value in node.attrs.items()}
    return {"tag": node.tag, "attrs": attrs, "content": out}


def _value_from_baileys(value: str) -> str | JID:
    return JID.parse(value) if "@" in value else value


def node_from_json(obj: dict[str, Any]) -> Node:
    """Baileys' decoded tree as a wamd Node (strings holding ``@`` parsed as JIDs)."""
    raw = obj["content"]
    content: list[Node] | bytes | str | JID | None
    if raw is None:
        content = None
    elif isinstance(raw, list):
        content = [node_from_json(child) for child in raw]
    elif "b64" in raw:
        content = base64.b64decode(raw["b64"])
    else:
        content = _value_from_baileys(raw["str"])
    attrs = {key: _value_from_baileys(value) for key, value in obj["attrs"].items()}
    return Node(obj["tag"], attrs, content)


class CodecPeer:
    """One ``node codec_peer.mjs`` process; requests are answered in order."""

    def __init__(self, interop_dir: Path) -> None:
        self._proc = subprocess.Popen(
            ["node", str(interop_dir / "codec_peer.mjs")],
            cwd=interop_dir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def request(self, **request: Any) -> dict[str, Any]:
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"codec peer exited with {self._proc.wait()}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"codec peer: {answer['error']}")
        return answer

    def encode(self, node: Node) -> bytes:
        """Baileys' encoding of ``node`` (without the flag byte)."""
        return bytes.fromhex(self.request(op="encode", node=node_to_json(node))["hex"])

    def decode(self, data: bytes) -> Node:
        """Baileys' decoding of node bytes (no flag byte)."""
        return node_from_json(self.request(op="decode", hex=data.hex())["node"])

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
