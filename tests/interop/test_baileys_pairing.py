"""Baileys (the real peer) pairs with the sandbox by QR and by pairing code, survives the 515
restart, reaches ``connection: 'open'``, and logs in again from its saved credentials.

The Node side is tests/interop/baileys_pair.mjs; the simulated phone is driven through the
sandbox's admin API (Python and HTTP).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from wamd.sandbox import Sandbox, Session
from wamd.sandbox.login import ROUTING_INFO
from wamd.types import JID

pytestmark = pytest.mark.interop

PHONE = "15550001"
EVENT_TIMEOUT = 40.0


class Baileys:
    """One run of baileys_pair.mjs."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc = proc
        self.log = log
        self.events: list[dict[str, Any]] = []

    def report(self) -> str:
        tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        return f"events: {self.events}\nBaileys log tail:\n{tail}"

    @classmethod
    async def start(
        cls, interop: Path, sandbox: Sandbox, auth_dir: Path, mode: str, **extra: Any
    ) -> Baileys:
        args = {
            "url": sandbox.url,
            "rootPublicKey": sandbox.root_public_key.hex(),
            "authDir": str(auth_dir),
            "mode": mode,
            "phone": PHONE,
            "stayMs": 3000,
            **extra,
        }
        log = auth_dir.parent / f"baileys-{mode}.log"
        with log.open("ab") as stderr:
            proc = await asyncio.create_subprocess_exec(
                "node",
                str(interop / "baileys_pair.mjs"),
                json.dumps(args),
                cwd=interop,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env={**os.environ, "BAILEYS_LOG": "debug"},
            )
        return cls(proc, log)

    async def next_event(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(EVENT_TIMEOUT):
                line = await self.proc.stdout.readline()
        except TimeoutError:
            raise AssertionError(f"no event from Baileys in time; {self.report()}") from None
        if not line:
            raise AssertionError(f"Baileys exited early; {self.report()}")
        event: dict[str, Any] = json.loads(line)
        self.events.append(event)
        return event

    async def wait_for(self, name: str) -> dict[str, Any]:
        while True:
            event = await self.next_event()
            if event["event"] == name:
                return event
            if event["event"] in ("close", "error"):
                raise AssertionError(f"Baileys failed; {self.report()}")

    async def finish(self) -> int:
        async with asyncio.timeout(EVENT_TIMEOUT):
            assert self.proc.stdout is not None
            while line := await self.proc.stdout.readline():
                self.events.append(json.loads(line))
            return await self.proc.wait()

    async def close(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()


async def _login_again(interop: Path, sandbox: Sandbox, auth_dir: Path, me: str) -> None:
    baileys = await Baileys.start(interop, sandbox, auth_dir, "login")
    try:
        opened = await baileys.wait_for("open")
        assert opened["me"]["id"] == me
        assert await baileys.finish() == 0
        assert not any(e["event"] == "qr" for e in baileys.events)
    finally:
        await baileys.close()


async def test_baileys_pairs_by_qr_and_logs_in_again(node_peers: Path, tmp_path: Path) -> None:
    auth = tmp_path / "auth"
    routed: list[bytes | None] = []
    async with Sandbox(state_dir=tmp_path / "sandbox", port=0, edge_routing=True) as sandbox:

        async def record_routing(session: Session) -> int:
            routed.append(session.routing_info)
            return 0

        sandbox.router.on_active(record_routing)
        baileys = await Baileys.start(node_peers, sandbox, auth, "qr")
        try:
            qr = await baileys.wait_for("qr")
            jid = await sandbox.admin.scan_qr(qr["qr"], phone=PHONE)
            assert jid == JID(PHONE, "s.whatsapp.net", device=1)
            paired = await baileys.wait_for("paired")
            account = await sandbox.state.account(PHONE)
            assert account is not None
            assert paired["me"] == {"id": str(jid), "lid": f"{account.lid}:1@lid"}
            await baileys.wait_for("restart")
            opened = await baileys.wait_for("open")
            assert opened["me"]["id"] == str(jid)
            assert await baileys.finish() == 0
        finally:
            await baileys.close()
        device = await sandbox.state.device(PHONE, 1)
        assert device is not None
        assert device.last_seen > 0
        # Baileys uploaded its prekeys after logging in
        count = await sandbox.state.run(
            lambda db: db.execute("SELECT COUNT(*) FROM prekeys").fetchone()[0]
        )
        assert count >= 5
        await _login_again(node_peers, sandbox, auth, str(jid))
        # the first login got edge routing info; the next intro carried it back
        assert routed == [None, ROUTING_INFO]

    # the sandbox restarts from its state file: same root key, same device
    async with Sandbox(state_dir=tmp_path / "sandbox", port=0) as restarted:
        await _login_again(node_peers, restarted, auth, str(jid))


async def test_baileys_pairs_by_code_through_the_http_admin_api(
    node_peers: Path, tmp_path: Path
) -> None:
    auth = tmp_path / "auth"
    async with Sandbox(state_dir=tmp_path / "sandbox", port=0) as sandbox:
        baileys = await Baileys.start(node_peers, sandbox, auth, "code")
        try:
            code = (await baileys.wait_for("code"))["code"]
            assert len(code) == 8
            async with aiohttp.ClientSession() as http:
                response = await http.post(
                    f"{sandbox.admin_url}/enter_pairing_code",
                    json={"phone": PHONE, "code": f"{code[:4]}-{code[4:]}"},
                )
                assert response.status == 200, await response.text()
                jid = (await response.json())["jid"]
            assert jid == f"{PHONE}:1@s.whatsapp.net"
            await baileys.wait_for("restart")
            opened = await baileys.wait_for("open")
            assert opened["me"]["id"] == jid
            assert await baileys.finish() == 0
        finally:
            await baileys.close()
        await _login_again(node_peers, sandbox, auth, jid)


async def test_wrong_pairing_code_is_refused(node_peers: Path, tmp_path: Path) -> None:
    async with Sandbox(state_dir=tmp_path / "sandbox", port=0) as sandbox:
        baileys = await Baileys.start(node_peers, sandbox, tmp_path / "auth", "code")
        try:
            code = (await baileys.wait_for("code"))["code"]
            wrong = ("A" if code[0] != "A" else "B") + code[1:]
            with pytest.raises(Exception, match="wrong code"):
                await sandbox.admin.enter_pairing_code(PHONE, wrong)
            assert await sandbox.state.devices(PHONE) == []
        finally:
            await baileys.close()
