"""Baileys as another device of the same sandbox account: app-state changes made by Baileys
arrive in wamd as typed events, and wamd's arrive in Baileys.

Both devices pair with the sandbox by QR (the simulated phone scans), which shares the
app-state sync key with each (end-to-end encrypted) and sends each its history. wamd is used
through its ``Client`` facade only.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from wamd import events
from wamd.appstate import events as ev
from wamd.client import Client
from wamd.history.events import HistorySync
from wamd.sandbox import Sandbox
from wamd.sandbox.testing import pair, running_sandbox, server_info
from wamd.store import MemoryStore
from wamd.types import JID

pytestmark = pytest.mark.interop

PHONE = "15558880000"
CHAT = "15551239999@s.whatsapp.net"
TIMEOUT = 40.0


class BaileysDevice:
    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc = proc
        self.log = log
        self.events: list[dict[str, Any]] = []
        self._ids = 0

    @classmethod
    async def start(cls, interop: Path, sandbox: Sandbox, auth_dir: Path) -> BaileysDevice:
        assert sandbox.media is not None
        args = {
            "url": sandbox.url,
            "rootPublicKey": sandbox.root_public_key.hex(),
            "authDir": str(auth_dir),
            "mediaHost": sandbox.media.https_hostnames[0],
        }
        log = auth_dir.parent / "baileys-appstate.log"
        with log.open("ab") as stderr:
            proc = await asyncio.create_subprocess_exec(
                "node",
                str(interop / "baileys_appstate.mjs"),
                json.dumps(args),
                cwd=interop,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env={
                    **os.environ,
                    "BAILEYS_LOG": "debug",
                    "NODE_EXTRA_CA_CERTS": str(sandbox.media.ca_file),
                },
            )
        return cls(proc, log)

    def report(self) -> str:
        tail = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
        return f"events: {self.events}\nBaileys log tail:\n{tail}"

    async def next_event(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(TIMEOUT):
                line = await self.proc.stdout.readline()
        except TimeoutError:
            raise AssertionError(f"no event from Baileys in time; {self.report()}") from None
        if not line:
            raise AssertionError(f"Baileys exited; {self.report()}")
        event: dict[str, Any] = json.loads(line)
        self.events.append(event)
        return event

    async def wait_for(self, name: str, check: Any = None) -> dict[str, Any]:
        while True:
            event = await self.next_event()
            if event["event"] == "error":
                raise AssertionError(f"Baileys failed: {event['message']}")
            if event["event"] == name and (check is None or check(event)):
                return event

    async def call(self, op: str, **args: Any) -> Any:
        assert self.proc.stdin is not None
        self._ids += 1
        self.proc.stdin.write((json.dumps({"id": self._ids, "op": op, **args}) + "\n").encode())
        await self.proc.stdin.drain()
        done = await self.wait_for("done", lambda e: e["id"] == self._ids)
        return done["result"]

    async def stop(self) -> None:
        if self.proc.returncode is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(b'{"op":"quit"}\n')
            await self.proc.stdin.drain()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with running_sandbox() as box:
        yield box


async def test_app_state_between_wamd_and_baileys(
    sandbox: Sandbox, node_peers: Path, tmp_path: Path
) -> None:
    """Nothing injected: the sandbox phone shares the app-state key (a Signal message) with
    wamd and with Baileys and sends both their history; then changes made in Baileys arrive
    in wamd's Client as typed events and changes made through wamd's Client reach Baileys."""
    other = await sandbox.admin.create_account("15558882222")
    await sandbox.state.update_account(other.phone, push_name="Olga")
    client = Client(MemoryStore(), server=server_info(sandbox))
    seen: asyncio.Queue[events.Event] = asyncio.Queue()
    client.add_event_handler(ev.MutationEvent, seen.put)
    client.add_event_handler(HistorySync, seen.put)

    async def next_of(kind: type[events.Event]) -> Any:
        async with asyncio.timeout(TIMEOUT):
            while not isinstance(got := await seen.get(), kind):
                pass
        return got

    await pair(sandbox, client, PHONE)
    baileys = await BaileysDevice.start(node_peers, sandbox, tmp_path / "auth")
    try:
        history = await next_of(HistorySync)
        assert history.data.push_names[JID(other.phone, "s.whatsapp.net")] == "Olga"
        qr = await baileys.wait_for("qr")
        await sandbox.admin.scan_qr(qr["qr"], PHONE)
        # the phone's key share and history notification come with the pairing: Baileys does
        # not wait for them (bench/baileys_link.py measures how long it takes to be online)
        await baileys.wait_for("open")
        got = await baileys.wait_for("appStateKey")
        baileys_history = await baileys.wait_for("history")
        assert baileys_history["syncType"] == 0  # INITIAL_BOOTSTRAP, from the media host
        key = await client.device.account.app_state_keys.latest()
        assert key is not None
        assert base64.b64decode(got["keyId"]) == key.key_id

        # Baileys -> wamd
        await baileys.call("modify", mod={"mute": 1_900_000_000_000}, jid=CHAT)
        mute = await next_of(ev.Mute)
        assert (mute.chat, mute.muted, mute.until_ms) == (JID.parse(CHAT), True, 1_900_000_000_000)
        await baileys.call(
            "modify", mod={"addLabel": {"id": "9", "name": "Leads", "color": 4}}, jid=""
        )
        label = await next_of(ev.LabelEdit)
        assert (label.label_id, label.name, label.color) == ("9", "Leads", 4)
        await baileys.call("modify", mod={"archive": True, "lastMessages": []}, jid=CHAT)
        archived = await next_of(ev.Archive)
        assert (archived.chat, archived.archived) == (JID.parse(CHAT), True)

        # wamd -> Baileys
        await client.pin_chat(JID.parse(CHAT))
        update = await baileys.wait_for(
            "chats.update", lambda e: any("pinned" in u and u["pinned"] for u in e["data"])
        )
        assert update["data"][0]["id"] == CHAT
        await client.mute_chat(JID.parse(CHAT), False)
        await baileys.wait_for(
            "chats.update", lambda e: any(u.get("muteEndTime", 0) is None for u in e["data"])
        )
        await client.archive_chat(JID.parse(CHAT), False)
        await baileys.wait_for(
            "chats.update", lambda e: any(u.get("archived") is False for u in e["data"])
        )
        await client.edit_label("10", "Wamd label", color=2)
        edit = await baileys.wait_for("labels.edit", lambda e: e["data"]["id"] == "10")
        assert edit["data"]["name"] == "Wamd label"
        assert client.appstate.engine.failures == {}
    finally:
        await baileys.stop()
        await client.close()


async def test_users_settings_shared_by_wamd_and_baileys(
    sandbox: Sandbox, node_peers: Path, tmp_path: Path
) -> None:
    """Privacy, blocklist and status set by one device of the account are what the other sees;
    Baileys' own user queries get answers it accepts."""
    from wamd.sandbox.users import server_of
    from wamd.users import queries as q

    other = await sandbox.admin.create_account("15558881111")
    client = Client(MemoryStore(), server=server_info(sandbox))
    await pair(sandbox, client, PHONE)
    baileys = await BaileysDevice.start(node_peers, sandbox, tmp_path / "auth")
    try:
        qr = await baileys.wait_for("qr")
        await sandbox.admin.scan_qr(qr["qr"], PHONE)
        await baileys.wait_for("open")
        users = client.users

        await users.set_privacy(q.PrivacyCategory.LAST_SEEN, q.PrivacyValue.CONTACTS)
        assert (await baileys.call("privacy"))["last"] == "contacts"
        await baileys.call("lastSeen", value="none")
        assert (await users.privacy())["last"] == "none"

        other_pn = f"{other.phone}@s.whatsapp.net"
        found = await baileys.call("onWhatsApp", phones=[other.phone])
        assert found == [{"jid": other_pn, "exists": True}]
        await users.set_blocked(JID.parse(other_pn), True)
        assert await baileys.call("blocklist") == [f"{other.lid}@lid"]
        await baileys.call("block", jid=f"{other.lid}@lid", action="unblock")
        assert (await users.blocklist()).jids == []

        await baileys.call("status", text="from Baileys")
        assert (await server_of(sandbox).status(PHONE))[0] == "from Baileys"
    finally:
        await baileys.stop()
        await client.close()
