"""The kill -9 scenario for group notifications and receipts.

A sandbox runs in this process with the admin ``A`` and the members ``X``, ``Y`` and ``Z``
(in-memory stores, never killed); the receiver ``R`` is ``tests/e2e/crash_group_receiver.py``
in a subprocess with an SQLite or PostgreSQL store. ``A`` creates a group with ``R``, ``X``
and ``Y``; ``R`` sends a first group message (``X`` then holds ``R``'s sender key). Then ``A``
changes the group again and again (promotions, subjects, settings, adds, the removal of
``X``) and sends read receipts to ``R``, while ``R`` is killed with SIGKILL at random
moments (and once right after ``X``'s removal) and started again: whatever ``R`` had not
acknowledged, the sandbox's offline queue delivers again. ``R`` is restarted once more, then
sends a second group message.

The report says what ``R``'s handler recorded (exactly once each, in the transaction that
finished the event's inbox entry) against what ``Y`` saw live, which receipts arrived, and
whether ``X`` could read ``R``'s message after its removal.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from tests.e2e.crash import Receiver
from tests.e2e.crash_group_receiver import HANDLED, describe
from tests.sandbox.routing_helpers import Peer, pair
from wamd.errors import WamdError
from wamd.groups import GroupInfoChanged, JoinedGroup
from wamd.groups.client import ROTATE_MARK
from wamd.messaging import Message
from wamd.sandbox import Sandbox
from wamd.signal import ENC_SKMSG
from wamd.store import Store
from wamd.store.postgres import PostgresStore
from wamd.store.sqlite import SQLiteStore
from wamd.types import JID

RECEIVER = Path(__file__).with_name("crash_group_receiver.py")
R_PHONE, A_PHONE, X_PHONE, Y_PHONE, Z_PHONE = (f"1555030{i}" for i in range(1, 6))
START_TIMEOUT = 60.0


@dataclass
class GroupCrashReport:
    """What a run measured."""

    expected_group: Counter[str]
    handled_group: Counter[str]
    receipts_sent: list[str]
    receipts_handled: Counter[str]
    duplicates: list[str]
    kills: int
    removed_got_message: bool
    removed_could_decrypt: bool
    removed_held_old_key: bool
    remaining_got_message: bool
    holders: set[str]
    removed_addresses: set[str]
    seconds: float
    kill_times: list[float] = field(default_factory=list)


class Backend:
    """Where R's store lives, and how the test reads it (read-only SQL)."""

    def __init__(self, kind: str, tmp: Path, dsn: str = "", schema: str = "") -> None:
        self.kind = kind
        self.db = tmp / "receiver.db"
        self.dsn = dsn
        self.schema = schema

    @property
    def spec(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:{self.db}"
        return f"postgres:{self.dsn}#{self.schema}"

    async def open(self) -> Store:
        if self.kind == "sqlite":
            return await SQLiteStore.open(self.db)
        return await PostgresStore.connect(self.dsn, schema=self.schema)

    async def rows(self, sql: str, *args: str) -> list[tuple[str, ...]]:
        if self.kind == "sqlite":
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30) as conn:
                return [tuple(r) for r in conn.execute(sql.replace("$1", "?"), args)]
        conn = await asyncpg.connect(self.dsn, server_settings={"search_path": self.schema})
        try:
            return [tuple(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    async def handled(self) -> tuple[list[tuple[str, str]], list[str]]:
        """(what, id) of every recorded event, and the duplicate markers."""
        seen = await self.rows("SELECT sender, message_id FROM seen WHERE chat = $1", HANDLED)
        dups = await self.rows("SELECT jid FROM contacts WHERE jid LIKE $1", f"%@{HANDLED}")
        return [(r[0], r[1]) for r in seen], [r[0] for r in dups]

    async def holders(self, group: JID) -> set[str]:
        rows = await self.rows(
            "SELECT device FROM sender_key_distribution WHERE group_id = $1", str(group)
        )
        return {r[0] for r in rows}


class GroupReceiver(Receiver):
    """The receiver subprocess: started, killed with SIGKILL, asked to send."""

    def __init__(self, backend: Backend, sandbox: Sandbox, log: Path) -> None:
        super().__init__(backend.spec, sandbox, log, RECEIVER)
        self.lock = asyncio.Lock()

    async def _line(self) -> str:
        assert self.proc is not None
        assert self.proc.stdout is not None
        async with asyncio.timeout(START_TIMEOUT):
            return (await self.proc.stdout.readline()).decode().strip()

    async def restart(self) -> None:
        async with self.lock:
            await self.kill()
            await self.start()

    async def send(self, group: JID, text: str) -> str:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"send {group} {text}\n".encode())
        await self.proc.stdin.drain()
        line = await self._line()
        if not line.startswith("sent "):
            log = self.log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"receiver did not send: {line!r}\n{log}")
        return line.split()[1]


def group_events(peer: Peer, group: JID) -> list[GroupInfoChanged | JoinedGroup]:
    return [e for e in peer.events if getattr(e, "jid", getattr(e, "group", None)) == group]


def track_group_events(peer: Peer) -> None:
    peer.events = []  # type: ignore[attr-defined]

    def keep(evt: GroupInfoChanged | JoinedGroup) -> None:
        peer.events.append(evt)  # type: ignore[attr-defined]
        peer._changed.set()

    peer.client.on(GroupInfoChanged)(keep)
    peer.client.on(JoinedGroup)(keep)


async def wait_text(peer: Peer, text: str) -> Message:
    try:
        await peer.wait(lambda: text in peer.texts)
    except TimeoutError:
        raise AssertionError(f"{text!r} not received: {peer.messages}") from None
    return next(m for m in peer.messages if m.text == text)


async def run_group_crash(
    tmp: Path, backend: Backend, *, seed: int, kills: int, receipts: int, max_gap: float = 0.4
) -> GroupCrashReport:
    """Run the scenario (see the module docstring); returns the report."""
    rng = random.Random(seed)
    started = time.monotonic()
    async with Sandbox(state_dir=tmp / "sandbox", port=0) as sandbox:
        store = await backend.open()
        peer = await pair(sandbox, R_PHONE, store)
        await peer.client.close()
        await store.close()
        a, x, y, z = [await pair(sandbox, p) for p in (A_PHONE, X_PHONE, Y_PHONE, Z_PHONE)]
        track_group_events(y)
        r_pn = JID(R_PHONE, "s.whatsapp.net")
        info = await a.client.create_group(
            "crash",
            [r_pn, x_pn := JID(X_PHONE, "s.whatsapp.net"), y_pn := JID(Y_PHONE, "s.whatsapp.net")],
        )
        gid = info.jid
        receiver = GroupReceiver(backend, sandbox, tmp / "receiver.log")
        kill_times: list[float] = []
        try:
            await receiver.start()
            await receiver.send(gid, "before")  # X now holds R's sender key
            before = await wait_text(x, "before")
            await wait_text(y, "before")
            x_ctx = x.client.messaging.context()
            r_address = (await x_ctx.book.canonical(before.sender)).signal_address
            old_key = await x.client.device.account.sender_keys.get(str(gid), r_address)
            z_pn = JID(Z_PHONE, "s.whatsapp.net")
            groups = a.client.groups
            ops = [
                lambda: groups.promote(gid, [y_pn]),
                lambda: groups.set_subject(gid, "first"),
                lambda: groups.add(gid, [z_pn]),
                lambda: groups.set_announce(gid, True),
                lambda: groups.demote(gid, [y_pn]),
                lambda: groups.remove(gid, [x_pn]),
                None,  # R is killed here, whatever it was doing
                lambda: groups.set_subject(gid, "second"),
                lambda: groups.set_locked(gid, True),
                lambda: groups.promote(gid, [z_pn]),
                lambda: groups.set_announce(gid, False),
                lambda: groups.remove(gid, [z_pn]),
                lambda: groups.set_subject(gid, "third"),
            ]
            sent_receipts = [f"RID{i:04d}{seed % 10000:04d}" for i in range(receipts)]
            per_op = max(1, receipts // len(ops))

            async def burst() -> None:
                pending = list(sent_receipts)
                for op in ops:
                    if op is None:
                        await receiver.restart()
                    else:
                        await op()
                    for rid in pending[:per_op]:
                        await a.client.mark_read(r_pn, [rid])
                    pending = pending[per_op:]
                    await asyncio.sleep(rng.uniform(0, 0.05))
                for rid in pending:
                    await a.client.mark_read(r_pn, [rid])

            sending = asyncio.ensure_future(burst())
            for _ in range(kills):
                await asyncio.wait([sending], timeout=rng.uniform(0.05, max_gap))
                kill_times.append(time.monotonic() - started)
                await receiver.restart()
            await sending
            changes = sum(1 for op in ops if op is not None)
            await y.wait(lambda: len(group_events(y, gid)) >= changes + 1)  # + JoinedGroup
            expected = Counter(describe(e)[0] for e in group_events(y, gid))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                handled, _ = await backend.handled()
                got_group = Counter(w for w, _ in handled if w.startswith(("group:", "joined")))
                got_rids = {i for w, i in handled if i.startswith("RID")}
                if got_group == expected and got_rids >= set(sent_receipts):
                    break
                await asyncio.sleep(0.1)
            # R starts again from its store alone, then sends to the group
            await receiver.restart()
            await receiver.send(gid, "after")
            after = await wait_text(y, "after")
            await asyncio.sleep(0.3)
            holders = await backend.holders(gid)
            x_users = (X_PHONE, x.client.lid.user if x.client.lid else X_PHONE)
            removed = {h for h in holders if h.startswith(x_users)}
            skmsg = next(
                n.content
                for n in (after.raw.children if after.raw is not None else [])
                if n.tag == "enc" and n.attrs.get("type") == ENC_SKMSG
            )
            assert isinstance(skmsg, bytes)
            try:
                batch = x_ctx.cipher.batch(x_ctx.account)
                await batch.decrypt(r_address, ENC_SKMSG, skmsg, group=str(gid))
                decrypted = True
            except WamdError:
                decrypted = False
            handled, dups = await backend.handled()
        finally:
            await receiver.kill()
            for member in (a, x, y, z):
                await member.client.close()
    receipts_handled = Counter(i for w, i in handled if i.startswith("RID"))
    return GroupCrashReport(
        expected_group=expected,
        handled_group=Counter(w for w, _ in handled if w.startswith(("group:", "joined"))),
        receipts_sent=sent_receipts,
        receipts_handled=receipts_handled,
        duplicates=dups,
        kills=kills + 1,
        removed_got_message="after" in x.texts,
        removed_could_decrypt=decrypted,
        removed_held_old_key=old_key is not None,
        remaining_got_message=after.text == "after",
        holders=holders,
        removed_addresses=removed,
        seconds=time.monotonic() - started,
        kill_times=kill_times,
    )


__all__ = ["ROTATE_MARK", "Backend", "GroupCrashReport", "run_group_crash"]
