"""Baileys (the real peer) and a wamd client exchange 1:1 text both ways through the sandbox:
the first message each way is a ``pkmsg`` (session from a fetched bundle), the next ones
``msg``; both sides see the other's receipts.

The Node side is tests/interop/baileys_chat.mjs (JSON lines on stdin/stdout).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.routing_helpers import pair
from wamd.messaging import ReceiptType
from wamd.proto import e2e_pb2
from wamd.sandbox import Sandbox
from wamd.types import JID

pytestmark = pytest.mark.interop

BAILEYS_PHONE = "15550009"
WAMD_PHONE = "15550002"
TIMEOUT = 40.0


class BaileysChat:
    """One run of baileys_chat.mjs."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc = proc
        self.log = log
        self.events: list[dict[str, Any]] = []
        self._seen = 0

    def report(self) -> str:
        tail = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
        return f"events: {self.events}\nBaileys log tail:\n{tail}"

    @classmethod
    async def start(cls, interop: Path, sandbox: Sandbox, auth_dir: Path) -> BaileysChat:
        args = {"url": sandbox.url, "rootPublicKey": sandbox.root_public_key.hex(),
                "authDir": str(auth_dir)}
        log = auth_dir.parent / "baileys-chat.log"
        with log.open("ab") as stderr:
            proc = await asyncio.create_subprocess_exec(
                "node", str(interop / "baileys_chat.mjs"), json.dumps(args), cwd=interop,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
                env={**os.environ, "BAILEYS_LOG": "debug"},
            )
        return cls(proc, log)

    async def command(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()

    async def wait_for(self, name: str, **match: Any) -> dict[str, Any]:
        """The next event called ``name`` whose fields include ``match`` (earlier ones too)."""
        assert self.proc.stdout is not None
        while True:
            for event in self.events[self._seen:]:
                if event["event"] in ("close", "error"):
                    raise AssertionError(f"Baileys failed; {self.report()}")
            for event in self.events:
                if event["event"] == name and all(event.get(k) == v for k, v in match.items()):
                    return event
            self._seen = len(self.events)
            try:
                async with asyncio.timeout(TIMEOUT):
                    line = await self.proc.stdout.readline()
            except TimeoutError:
                raise AssertionError(f"no {name} {match} from Baileys; {self.report()}") from None
            if not line:
                raise AssertionError(f"Baileys exited; {self.report()}")
            self.events.append(json.loads(line))

    async def close(self) -> None:
        if self.proc.returncode is None:
            try:
                await self.command(cmd="quit")
                async with asyncio.timeout(10):
                    await self.proc.wait()
            except (TimeoutError, ConnectionError):
                self.proc.kill()
                await self.proc.wait()


async def test_baileys_and_wamd_exchange_text(node_peers: Path, tmp_path: Path) -> None:
    async with Sandbox(state_dir=tmp_path / "sandbox", port=0) as sandbox:
        baileys = await BaileysChat.start(node_peers, sandbox, tmp_path / "auth")
        wamd = None
        try:
            qr = await baileys.wait_for("qr")
            await sandbox.admin.scan_qr(qr["qr"], phone=BAILEYS_PHONE)
            await baileys.wait_for("open")
            wamd = await pair(sandbox, WAMD_PHONE)
            baileys_user = JID(BAILEYS_PHONE, "s.whatsapp.net")

            # wamd -> Baileys: pkmsg first, then msg
            first = await wamd.client.send_message(baileys_user,
                                                   e2e_pb2.Message(conversation="hello baileys"))
            second = await wamd.client.send_message(baileys_user,
                                                    e2e_pb2.Message(conversation="second"))
            got = await baileys.wait_for("message", id=first.id)
            assert got["text"] == "hello baileys", baileys.report()
            assert got["stub"] is None
            assert (await baileys.wait_for("message", id=second.id))["text"] == "second"
            await wamd.wait(lambda: {first.id, second.id} <= {
                i for r in wamd.receipts for i in r.ids
                if r.type in (ReceiptType.DELIVERED, ReceiptType.INACTIVE)})

            # Baileys -> wamd: Baileys starts its session from a fetched bundle. wamd is
            # "active" (as after sending presence available): plain delivery receipts, which
            # Baileys reports as DELIVERY_ACK (it ignores "inactive" ones)
            wamd.client.messaging.receiver.active = True
            wamd_user = f"{WAMD_PHONE}@s.whatsapp.net"
            await baileys.command(cmd="send", to=wamd_user, text="hi from baileys")
            sent = await baileys.wait_for("sent")
            await baileys.command(cmd="send", to=wamd_user, text="and again")
            await wamd.wait(lambda: "and again" in wamd.texts)
            assert wamd.texts == ["hi from baileys", "and again"]
            message = wamd.messages[0]
            assert message.id == sent["id"]
            assert message.sender.user == BAILEYS_PHONE
            assert not message.from_me
            # Baileys saw wamd's delivery receipt for its message
            update = await baileys.wait_for("update", id=sent["id"])
            assert update["status"] == 3  # proto.WebMessageInfo.Status.DELIVERY_ACK
        finally:
            if wamd is not None:
                await wamd.client.close()
            await baileys.close()
