"""Baileys as another device of the same sandbox account: app-state changes made by Baileys
arrive in wamd as typed events, and wamd's arrive in Baileys.

Both devices pair with the sandbox by QR (the simulated phone scans). The app-state sync key is
given to each device directly, as the primary's key share would (that share is an end-to-end
encrypted message: the messaging layer's part).
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
from wamd.appstate.client import AppStateClient
from wamd.client import Client
from wamd.conn.options import ServerInfo
from wamd.media import MediaClient, media_conn_fetcher
from wamd.sandbox import Sandbox
from wamd.sandbox.server import DEFAULT_MODULES
from wamd.sandbox.testing import running_sandbox
from wamd.store import MemoryStore
from wamd.store.types import AppStateSyncKey
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
    client = Client(MemoryStore(), server=ServerInfo(sandbox.url, sandbox.root_public_key))

    @client.on(events.QR)
    async def scan(evt: events.QR) -> None:
        await sandbox.admin.scan_qr(evt.text, PHONE)

    seen: asyncio.Queue[ev.MutationEvent] = asyncio.Queue()

    @client.on(ev.MutationEvent)
    async def collect(evt: ev.MutationEvent) -> None:
        await seen.put(evt)

    await client.connect()
    baileys = await BaileysDevice.start(node_peers, sandbox, tmp_path / "auth")
    try:
        await client.wait_until_connected(timeout=30)
        qr = await baileys.wait_for("qr")
        await sandbox.admin.scan_qr(qr["qr"], PHONE)
        await baileys.wait_for("open")
        key = AppStateSyncKey(os.urandom(6), os.urandom(32), timestamp=1)
        await client.device.account.app_state_keys.put(key)
        await baileys.call(
            "key",
            keyId=base64.b64encode(key.key_id).decode(),
            keyData=base64.b64encode(key.key_data).decode(),
        )
        assert sandbox.media is not None
        media = MediaClient(media_conn_fetcher(client.request), ca_file=sandbox.media.ca_file)
        state = AppStateClient(
            client, lambda: client.device.account, download=media.download, sync_on_login=False
        )

        # Baileys -> wamd
        await baileys.call("modify", mod={"mute": 1_900_000_000_000}, jid=CHAT)
        mute = await asyncio.wait_for(seen.get(), TIMEOUT)
        assert isinstance(mute, ev.Mute)
        assert (mute.chat, mute.muted, mute.until_ms) == (JID.parse(CHAT), True, 1_900_000_000_000)
        await baileys.call(
            "modify", mod={"addLabel": {"id": "9", "name": "Leads", "color": 4}}, jid=""
        )
        label = await asyncio.wait_for(seen.get(), TIMEOUT)
        assert isinstance(label, ev.LabelEdit)
        assert (label.label_id, label.name, label.color) == ("9", "Leads", 4)

        # wamd -> Baileys
        await state.pin(JID.parse(CHAT))
        update = await baileys.wait_for(
            "chats.update", lambda e: any("pinned" in u and u["pinned"] for u in e["data"])
        )
        assert update["data"][0]["id"] == CHAT
        await state.mute(JID.parse(CHAT), False)
        await baileys.wait_for(
            "chats.update", lambda e: any(u.get("muteEndTime", 0) is None for u in e["data"])
        )
        await media.close()
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
    from wamd.users.client import UsersClient

    other = await sandbox.admin.create_account("15558881111")
    client = Client(MemoryStore(), server=ServerInfo(sandbox.url, sandbox.root_public_key))

    @client.on(events.QR)
    async def scan(evt: events.QR) -> None:
        await sandbox.admin.scan_qr(evt.text, PHONE)

    await client.connect()
    baileys = await BaileysDevice.start(node_peers, sandbox, tmp_path / "auth")
    try:
        await client.wait_until_connected(timeout=30)
        qr = await baileys.wait_for("qr")
        await sandbox.admin.scan_qr(qr["qr"], PHONE)
        await baileys.wait_for("open")
        users = UsersClient(client, client.device.account)

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


@pytest.fixture
async def phone_sandbox() -> AsyncIterator[Sandbox]:
    async with running_sandbox(modules=(*DEFAULT_MODULES, "wamd.sandbox.phone_peer")) as box:
        yield box


async def test_baileys_gets_the_key_from_the_sandbox_phone(
    phone_sandbox: Sandbox, node_peers: Path, tmp_path: Path
) -> None:
    """No key injected anywhere: the sandbox phone shares it (a Signal pkmsg from wamd.signal)
    with Baileys and with wamd; then a change made in wamd reaches Baileys."""
    from wamd.appstate.keyshare import store_key_share
    from wamd.messaging.events import Message

    sandbox = phone_sandbox
    client = Client(MemoryStore(), server=ServerInfo(sandbox.url, sandbox.root_public_key))

    @client.on(events.QR)
    async def scan(evt: events.QR) -> None:
        await sandbox.admin.scan_qr(evt.text, PHONE)

    shared = asyncio.Event()

    @client.on(Message)
    async def on_message(evt: Message) -> None:
        protocol = evt.message.protocol_message
        if evt.from_me and protocol.HasField("app_state_sync_key_share"):
            await store_key_share(client.device.account, protocol.app_state_sync_key_share)
            shared.set()

    await client.connect()
    baileys = await BaileysDevice.start(node_peers, sandbox, tmp_path / "auth")
    try:
        await client.wait_until_connected(timeout=30)
        await asyncio.wait_for(shared.wait(), TIMEOUT)
        qr = await baileys.wait_for("qr")
        await sandbox.admin.scan_qr(qr["qr"], PHONE)
        got = await baileys.wait_for("appStateKey")
        key = await client.device.account.app_state_keys.latest()
        assert key is not None
        assert base64.b64decode(got["keyId"]) == key.key_id
        assert sandbox.media is not None
        media = MediaClient(media_conn_fetcher(client.request), ca_file=sandbox.media.ca_file)
        state = AppStateClient(
            client, lambda: client.device.account, download=media.download, sync_on_login=False
        )
        await state.archive(JID.parse(CHAT))
        await baileys.wait_for(
            "chats.update", lambda e: any(u.get("archived") is True for u in e["data"])
        )
        await media.close()
    finally:
        await baileys.stop()
        await client.close()
