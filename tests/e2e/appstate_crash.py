"""The kill -9 scenario for app-state sync.

A sandbox runs in this process with device ``A`` of an account (in-memory store, never
killed); device ``R`` of the same account is ``tests/e2e/crash_appstate_receiver.py`` in a
subprocess with an SQLite or PostgreSQL store. ``A`` makes ``changes`` app-state changes, each
on its own index (mute, pin, archive a chat, save a contact, create a label: five
collections), while ``R`` is killed with SIGKILL at random moments and started again: the
server's ``server_sync`` notifications and ``R``'s login syncs bring each change, and every
kill may fall between a sync's commit and its handlers.

The report says which changes ``R``'s handler recorded (exactly once each, in the transaction
that finished the event's inbox entry), and what ``R``'s store holds at the end: the version of
each collection (against the server's) and the chat settings and contacts the changes set.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.crash import Receiver
from tests.e2e.crash_appstate_receiver import MARK
from tests.e2e.crash_group_receiver import HANDLED
from tests.e2e.group_crash import Backend
from wamd.client import Client
from wamd.sandbox import Sandbox
from wamd.sandbox.appstate import server_of
from wamd.sandbox.testing import pair, server_info
from wamd.store import MemoryStore
from wamd.store.types import ChatSettings
from wamd.types import JID

RECEIVER = Path(__file__).with_name("crash_appstate_receiver.py")
PHONE = "15550606"
WAIT = 60.0


@dataclass
class AppStateCrashReport:
    """What a run measured."""

    expected: list[str]
    handled: Counter[str]
    duplicates: list[str]
    versions: dict[str, int]
    server_versions: dict[str, int]
    settings: dict[str, ChatSettings]
    expected_settings: dict[str, ChatSettings]
    contacts: dict[str, str]
    expected_contacts: dict[str, str]
    redelivered: int
    kills: int
    seconds: float
    kill_times: list[float] = field(default_factory=list)


Change = tuple[tuple[str, ...], Callable[[], Awaitable[None]]]
"""What R's handler records for a change (archiving also unpins), and the action."""


def plan(
    client: Client, count: int
) -> tuple[list[Change], dict[str, ChatSettings], dict[str, str]]:
    """``count`` changes (what R's handler will record, the action), and the chat settings and
    contact names they leave."""
    changes: list[Change] = []
    settings: dict[str, ChatSettings] = {}
    contacts: dict[str, str] = {}
    for i in range(count):
        chat = JID(f"{MARK}{i}", "s.whatsapp.net")
        kind = i % 5
        if kind == 0:
            changes.append(((f"Mute:mute|{chat}",), lambda c=chat: client.mute_chat(c)))
            settings[str(chat)] = ChatSettings(muted_until=-1)
        elif kind == 1:
            changes.append(((f"Pin:pin_v1|{chat}",), lambda c=chat: client.pin_chat(c)))
            settings[str(chat)] = ChatSettings(pinned=True)
        elif kind == 2:
            whats = (f"Archive:archive|{chat}", f"Pin:pin_v1|{chat}")
            changes.append((whats, lambda c=chat: client.archive_chat(c)))
            settings[str(chat)] = ChatSettings(archived=True)
        elif kind == 3:
            name = f"Name {i}"
            changes.append(
                (
                    (f"Contact:contact|{chat}",),
                    lambda c=chat, n=name: client.save_contact(c, full_name=n),
                )
            )
            contacts[str(chat)] = name
        else:
            label = f"{MARK}{i}"
            changes.append(
                ((f"LabelEdit:label_edit|{label}",), lambda x=label: client.edit_label(x, f"L {x}"))
            )
    return changes, settings, contacts


async def has_key(client: Client) -> bool:
    return await client.device.account.app_state_keys.latest() is not None


async def wait_key(client: Client) -> None:
    async with asyncio.timeout(WAIT):
        # the phone's key share arrives as a peer message, stored by the client's handler
        while not await has_key(client):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def run_appstate_crash(
    tmp: Path, backend: Backend, *, seed: int, kills: int, changes: int, max_gap: float = 0.4
) -> AppStateCrashReport:
    """Run the scenario (see the module docstring); returns the report."""
    rng = random.Random(seed)
    started = time.monotonic()
    async with Sandbox(state_dir=tmp / "sandbox", port=0) as sandbox:
        store = await backend.open()
        r = Client(store, server=server_info(sandbox))
        await pair(sandbox, r, PHONE)
        await wait_key(r)
        await r.close()
        await store.close()
        a = Client(MemoryStore(), server=server_info(sandbox))
        assert sandbox.media is not None  # snapshots are blobs on its HTTPS media host
        media_ca = (str(sandbox.media.ca_file),)
        receiver = Receiver(backend.spec, sandbox, tmp / "receiver.log", RECEIVER, media_ca)
        kill_times: list[float] = []
        try:
            await pair(sandbox, a, PHONE)
            await wait_key(a)
            todo, expected_settings, expected_contacts = plan(a, changes)
            expected = [what for whats, _ in todo for what in whats]
            await receiver.start()

            async def burst() -> None:
                for _, action in todo:
                    await action()
                    await asyncio.sleep(rng.uniform(0, 0.03))

            sending = asyncio.ensure_future(burst())
            for _ in range(kills):
                await asyncio.wait([sending], timeout=rng.uniform(0.05, max_gap))
                kill_times.append(time.monotonic() - started)
                await receiver.kill()
                await receiver.start()
            await sending
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                handled, _ = await backend.handled()
                if {what for _, what in handled} >= set(expected):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.3)  # a duplicate would be recorded by now
            handled, dups = await backend.handled()
            server_versions = await server_of(sandbox).versions(PHONE)
        finally:
            await receiver.kill()
            await a.close()
    store = await backend.open()
    try:
        infos = await store.accounts()
        account = await store.account(infos[0].id)
        versions = {n: (await account.app_state.get_version(n)).version for n in server_versions}
        settings = {c: await account.chat_settings.get(c) for c in expected_settings}
        contacts: dict[str, str] = {}
        for jid in expected_contacts:
            saved = await account.contacts.get(jid)
            contacts[jid] = "" if saved is None else saved.full_name
    finally:
        await store.close()
    return AppStateCrashReport(
        expected=expected,
        handled=Counter(what for who, what in handled if who == "appstate"),
        duplicates=dups,
        versions=versions,
        server_versions=server_versions,
        settings=settings,
        expected_settings=expected_settings,
        contacts=contacts,
        expected_contacts=expected_contacts,
        redelivered=sum(1 for who, _ in handled if who == "redelivered"),
        kills=kills,
        seconds=time.monotonic() - started,
        kill_times=kill_times,
    )


__all__ = ["HANDLED", "AppStateCrashReport", "run_appstate_crash"]
