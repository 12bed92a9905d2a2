"""Message routing: ``<message>`` fan-out, receipts, acks and the durable offline queue.

The sandbox never decrypts. A sender's ``<message to><participants><to jid><enc/>..`` is split
per ``<to jid>`` participant: each addressed device (of the recipient or of the sender's own
account, never the sending device itself) gets
``<message id from t notify type [recipient] [sender_lid|sender_pn]>`` with its ``<enc>`` (and
the sender's ``<device-identity>``). ``from`` is the sending device in the form the participant
was addressed in (phone number or LID); the other form rides in ``sender_lid``/``sender_pn``
(Baileys needs it). Copies for the sender's own devices carry ``recipient`` (the chat). The
sender gets ``<ack class="message" id t phash>``; ``phash`` is the hash of every device the
server knows for both accounts (minus the sender), so a client that missed a device notices.
A stanza addressed to one device (``to`` = a device JID, as retried messages are) goes to that
device alone.

Everything delivered (messages, receipts, device notifications) is first stored in the
``offline_queue`` table, then sent to the device if it is active; it stays queued until that
device acknowledges it — a ``<receipt>`` or an ``<ack class="message">`` for a message, an
``<ack class="receipt">`` / ``<ack class="notification">`` for the others — so it survives
disconnects and sandbox restarts. When a device becomes active its queue is delivered in
order before anything new (``<ib><offline count>`` follows). A device's queue holds at most
:attr:`Router.max_queued` deliveries (:data:`MAX_QUEUED`): beyond that, new ones for it are
dropped with a warning (a device that never comes back, or a flood aimed at it, cannot grow
the state without end).

Receipts (``<receipt id to [type] [recipient] [participant]>``) go to the addressed device, or
to every device of the addressed user; they arrive ``from`` the receipting device. Device-list
notifications (``<notification type="devices"><add|remove device_hash><device jid/>``) go to
every device of the account and of every account that has exchanged messages with it when a
device is paired or unlinked.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wamd.binary import AttrValue, Node, decode_node, encode_node
from wamd.errors import AttributeInvalid, AttributeMissing, InvalidJID, NotConnected, WamdError
from wamd.messaging.stanzas import participant_hash
from wamd.sandbox.session import Session, SessionState
from wamd.sandbox.state import Account, Device, account_by_phone, devices_of
from wamd.types import JID, LID_SERVER, SERVER_JID, USER_SERVER

if TYPE_CHECKING:
    from wamd.sandbox.server import Sandbox

__all__ = ["MIGRATIONS", "Router", "Target", "install", "router_of"]

log = logging.getLogger("wamd.sandbox")

MIGRATIONS = (
    """
    CREATE TABLE offline_queue (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        phone TEXT NOT NULL,
        device INTEGER NOT NULL,
        kind TEXT NOT NULL,
        stanza_id TEXT NOT NULL,
        node BLOB NOT NULL,
        created INTEGER NOT NULL
    );
    CREATE INDEX offline_queue_device ON offline_queue (phone, device, seq);
    CREATE INDEX offline_queue_ack ON offline_queue (phone, device, kind, stanza_id);
    CREATE TABLE chat_peers (
        phone TEXT NOT NULL,
        peer TEXT NOT NULL,
        PRIMARY KEY (phone, peer)
    )
    """,
)

MAX_PARTICIPANTS = 2048
MAX_QUEUED = 10_000
"""Deliveries kept for one device until it acknowledges them (see the module docstring)."""
_SENT_KEY = "messaging.sent"
_FLUSHED_KEY = "messaging.flushed"
_SELF_RECEIPTS = frozenset({"read-self", "played-self"})
"""Receipts only the reader's own other devices get."""
_MIRRORED_RECEIPTS = frozenset({"read", "played"})
"""Receipts the reader's own other devices get too (besides the sender)."""


@dataclass(frozen=True, slots=True)
class _Target:
    phone: str
    device: int


Target = _Target
"""A delivery target (account phone, device id), for other area modules using
:meth:`Router.deliver` (groups)."""


def _user(account: Account, lid: bool) -> JID:
    return JID(account.lid, LID_SERVER) if lid else JID(account.phone, USER_SERVER)


class Router:
    """Routes messages and receipts between devices (see the module docstring)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}
        self._accounts: dict[JID, Account] = {}
        self._device_ids: dict[str, list[int]] = {}
        self._peers: set[tuple[str, str]] = set()
        self._queued: dict[tuple[str, int], int] = {}
        """Queue lengths by device, counted once, then kept (only in the state thread)."""
        self.routed = 0
        self.max_queued = MAX_QUEUED
        """At most this many deliveries wait for one device; more are dropped."""
        self.dropped = 0
        """Deliveries dropped because their device's queue was full."""

    def __repr__(self) -> str:
        return f"MessageRouter(routed={self.routed})"

    def _lock(self, target: _Target) -> asyncio.Lock:
        key = (target.phone, target.device)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    # --- lookups ------------------------------------------------------------------------------

    async def account_of(self, jid: JID) -> Account | None:
        """The account a phone-number or LID JID belongs to (cached: routing only needs its
        phone number and LID, which never change)."""
        user = jid.to_non_ad()
        cached = self._accounts.get(user)
        if cached is not None:
            return cached
        account = None
        if jid.server == USER_SERVER:
            account = await self.sandbox.state.account(jid.user)
        elif jid.server == LID_SERVER:
            account = await self.sandbox.state.account_by_lid(jid.user)
        if account is not None:
            self._accounts[user] = account
        return account

    async def device_ids(self, phone: str) -> list[int]:
        """The phone (0) and the companions of an account (cached until a device is paired
        or removed)."""
        cached = self._device_ids.get(phone)
        if cached is None:
            cached = [0] + [d.device for d in await self.sandbox.state.devices(phone)]
            self._device_ids[phone] = cached
        return cached

    def devices_changed(self, phone: str) -> None:
        """Forget the cached device list of an account."""
        self._device_ids.pop(phone, None)

    # --- the queue ----------------------------------------------------------------------------

    async def enqueue(self, deliveries: list[tuple[_Target, str, str, Node]]) -> list[int]:
        """Store ``(target, kind, id, node)`` deliveries; returns their sequence numbers (0 for
        one dropped because its device's queue is full)."""
        now = int(self.sandbox.clock())
        rows = [
            (t.phone, t.device, kind, stanza_id, encode_node(node), now)
            for t, kind, stanza_id, node in deliveries
        ]
        counts, limit = self._queued, self.max_queued

        def insert(db: sqlite3.Connection) -> list[int]:
            seqs = []
            for row in rows:
                key = (row[0], row[1])
                count = counts.get(key)
                if count is None:
                    count = int(
                        db.execute(
                            "SELECT COUNT(*) FROM offline_queue WHERE phone = ? AND device = ?", key
                        ).fetchone()[0]
                    )
                if count >= limit:
                    counts[key] = count
                    seqs.append(0)
                    continue
                cursor = db.execute(
                    "INSERT INTO offline_queue (phone, device, kind, stanza_id, node, created) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    row,
                )
                counts[key] = count + 1
                seqs.append(int(cursor.lastrowid or 0))
            return seqs

        try:
            seqs = await self.sandbox.state.run(insert)
        except BaseException:
            self._queued.clear()  # rolled back: count again
            raise
        dropped = [t for (t, _, _, _), seq in zip(deliveries, seqs, strict=True) if not seq]
        if dropped:
            self.dropped += len(dropped)
            log.warning(
                "offline queue full (%d): %d deliveries dropped for %s",
                limit,
                len(dropped),
                sorted({f"{t.phone}:{t.device}" for t in dropped}),
            )
        return seqs

    async def deliver(self, deliveries: list[tuple[_Target, str, str, Node]]) -> None:
        """Queue deliveries durably, then send each to its device if it is active."""
        if not deliveries:
            return
        seqs = await self.enqueue(deliveries)
        for (target, _, _, node), seq in zip(deliveries, seqs, strict=True):
            session = self._session(target)
            if session is None or not seq:
                continue
            async with self._lock(target):
                if not session.data.get(_FLUSHED_KEY):
                    continue  # the activation flush will send it, in order
                await self._send(session, seq, node)

    async def deliver_to(self, phone: str, device: int, stanza_id: str, node: Node) -> None:
        """Queue one ``<message>`` for one device (see :meth:`deliver`)."""
        await self.deliver([(_Target(phone, device), "message", stanza_id, node)])

    def _session(self, target: _Target) -> Session | None:
        session = self.sandbox.session_for(JID(target.phone, USER_SERVER, device=target.device))
        if session is None or session.state is not SessionState.ACTIVE:
            return None
        return session

    async def _send(self, session: Session, seq: int, node: Node) -> bool:
        sent: set[int] = session.data.setdefault(_SENT_KEY, set())
        if seq in sent:
            return False
        sent.add(seq)
        try:
            await session.send(node)
        except NotConnected:
            return False
        return True

    async def flush(self, session: Session) -> int:
        """Send a device's queue in order (when it becomes active); returns how many."""
        device = session.device
        if device is None:
            return 0
        target = _Target(device.phone, device.device)
        count = 0
        async with self._lock(target):
            rows = await self.sandbox.state.run(
                lambda db: db.execute(
                    "SELECT seq, node FROM offline_queue WHERE phone = ? AND device = ? "
                    "ORDER BY seq",
                    (target.phone, target.device),
                ).fetchall()
            )
            for seq, data in rows:
                node = decode_node(bytes(data))
                node.attrs["offline"] = "1"
                if await self._send(session, int(seq), node):
                    count += 1
            session.data[_FLUSHED_KEY] = True
        return count

    async def acknowledged(self, session: Session, kind: str, stanza_id: str) -> None:
        """Drop ``kind`` deliveries of ``stanza_id`` from the device's queue."""
        device = session.device
        if device is None or not stanza_id:
            return
        key = (device.phone, device.device)

        def delete(db: sqlite3.Connection) -> None:
            cursor = db.execute(
                "DELETE FROM offline_queue WHERE phone = ? AND device = ? AND kind = ? "
                "AND stanza_id = ?",
                (*key, kind, stanza_id),
            )
            if key in self._queued:
                self._queued[key] = max(0, self._queued[key] - cursor.rowcount)

        await self.sandbox.state.run(delete)

    async def queued(self, phone: str, device: int) -> int:
        """How many deliveries wait for a device (tests, admin)."""
        row = await self.sandbox.state.run(
            lambda db: db.execute(
                "SELECT COUNT(*) FROM offline_queue WHERE phone = ? AND device = ?", (phone, device)
            ).fetchone()
        )
        return int(row[0])

    # --- messages -----------------------------------------------------------------------------

    async def on_message(self, session: Session, node: Node) -> None:
        """A client sent a ``<message>``: fan it out and ack it."""
        sender_device, sender_account = session.device, session.account
        if sender_device is None or sender_account is None:
            return
        msg_id = node.attrs.get("id")
        if not isinstance(msg_id, str) or not msg_id:
            return
        try:
            to = node.attr_jid("to")
        except (AttributeMissing, AttributeInvalid, InvalidJID):
            await session.send(self._ack(node, error="400"))
            return
        recipient_account = await self.account_of(to)
        if recipient_account is None:
            await session.send(self._ack(node, error="404"))
            return
        t = str(int(self.sandbox.clock()))
        try:
            plan = await self._plan(session, node, to, recipient_account)
        except (WamdError, ValueError) as exc:
            log.info("%s: refusing message %s: %s", session, msg_id, exc)
            await session.send(self._ack(node, error="400"))
            return
        deliveries: list[tuple[_Target, str, str, Node]] = []
        identity = node.child("device-identity")
        for target, lid_form, encs in plan:
            attrs: dict[str, AttrValue] = {
                "id": msg_id,
                "from": JID(sender_account.lid, LID_SERVER, device=sender_device.device)
                if lid_form
                else JID(sender_account.phone, USER_SERVER, device=sender_device.device),
                "t": t,
                "type": node.attrs.get("type", "text"),
                "notify": sender_device.push_name or sender_account.push_name or "",
            }
            if lid_form:
                attrs["sender_pn"] = JID(sender_account.phone, USER_SERVER)
            else:
                attrs["sender_lid"] = JID(sender_account.lid, LID_SERVER)
            for name in ("edit", "category", "addressing_mode"):
                value = node.attrs.get(name)
                if value is not None:
                    attrs[name] = value
            if target.phone == sender_account.phone:
                recipient = node.attrs.get("recipient")
                if recipient is None and recipient_account.phone != sender_account.phone:
                    recipient = _user(recipient_account, to.is_lid)
                if recipient is not None:
                    attrs["recipient"] = recipient
            content = list(encs) + ([identity] if identity is not None else [])
            deliveries.append((target, "message", msg_id, Node("message", attrs, content)))
        await self._remember_peers(sender_account.phone, recipient_account.phone)
        await self.deliver(deliveries)
        self.routed += 1
        ack = self._ack(node, t=t)
        if node.child("participants") is not None:
            ack.attrs["phash"] = await self._expected_hash(
                sender_account, recipient_account, sender_device, to.is_lid
            )
        await session.send(ack)

    async def _plan(
        self, session: Session, node: Node, to: JID, recipient: Account
    ) -> list[tuple[_Target, bool, list[Node]]]:
        """Who gets which ``<enc>``: ``(device, addressed in LID form, encs)``."""
        sender = session.device
        assert sender is not None
        participants = node.child("participants")
        plan: list[tuple[_Target, bool, list[Node]]] = []
        if participants is None:
            encs = node.children_by_tag("enc")
            if not to.device and not to.agent:
                raise ValueError("a message without participants must name a device")
            if not encs:
                raise ValueError("no <enc>")
            if to.device in await self.device_ids(recipient.phone):
                plan.append((_Target(recipient.phone, to.device), to.is_lid, encs))
            return plan
        entries = participants.children_by_tag("to")
        if len(entries) > MAX_PARTICIPANTS:
            raise ValueError("too many participants")
        known: dict[str, list[int]] = {}
        for entry in entries:
            jid = entry.attr_jid("jid")
            account = await self.account_of(jid)
            if account is None:
                continue
            if account.phone not in known:
                known[account.phone] = await self.device_ids(account.phone)
            if jid.device not in known[account.phone]:
                continue
            if account.phone == sender.phone and jid.device == sender.device:
                continue
            encs = entry.children_by_tag("enc")
            if encs:
                plan.append((_Target(account.phone, jid.device), jid.is_lid, encs))
        return plan

    async def _expected_hash(
        self, sender: Account, recipient: Account, device: Device, lid: bool
    ) -> str:
        jids: list[JID] = []
        for account in {sender.phone: sender, recipient.phone: recipient}.values():
            user = _user(account, lid)
            for device_id in await self.device_ids(account.phone):
                if account.phone == sender.phone and device_id == device.device:
                    continue
                jids.append(user.with_device(device_id))
        return participant_hash(jids)

    def _ack(self, node: Node, *, t: str | None = None, error: str | None = None) -> Node:
        attrs: dict[str, AttrValue] = {
            "id": node.attrs.get("id", ""),
            "class": "message",
            "from": node.attrs.get("to", SERVER_JID),
        }
        if t is not None:
            attrs["t"] = t
        if error is not None:
            attrs["error"] = error
        return Node("ack", attrs)

    async def _remember_peers(self, a: str, b: str) -> None:
        if a == b or (a, b) in self._peers:
            return
        self._peers.update({(a, b), (b, a)})
        await self.sandbox.state.run(
            lambda db: db.executemany(
                "INSERT OR IGNORE INTO chat_peers (phone, peer) VALUES (?, ?)", [(a, b), (b, a)]
            )
        )

    # --- receipts and acks --------------------------------------------------------------------

    async def on_receipt(self, session: Session, node: Node) -> None:
        """Route a client's ``<receipt>`` (it also confirms the message it names)."""
        device, account = session.device, session.account
        if device is None or account is None:
            return
        receipt_id = node.attrs.get("id")
        if not isinstance(receipt_id, str) or not receipt_id:
            return
        await self.acknowledged(session, "message", receipt_id)
        listing = node.child("list")
        if listing is not None:
            for item in listing.children_by_tag("item"):
                item_id = item.attrs.get("id")
                if isinstance(item_id, str):
                    await self.acknowledged(session, "message", item_id)
        try:
            to = node.attr_jid("to")
        except (AttributeMissing, AttributeInvalid, InvalidJID):
            return
        target_account = await self.account_of(to)
        if target_account is None:
            return
        lid = to.is_lid
        attrs: dict[str, AttrValue] = {
            "id": receipt_id,
            "from": JID(
                account.lid if lid else account.phone,
                LID_SERVER if lid else USER_SERVER,
                device=device.device,
            ),
            "t": str(int(self.sandbox.clock())),
        }
        for name in ("type", "recipient", "participant", "category"):
            value = node.attrs.get(name)
            if value is not None:
                attrs[name] = value
        kind = node.attrs.get("type")
        self_only = kind in _SELF_RECEIPTS
        devices = (
            [to.device] if (to.device or to.agent) else await self.device_ids(target_account.phone)
        )
        targets = [
            _Target(target_account.phone, d)
            for d in ([] if self_only else devices)
            if not (target_account.phone == account.phone and d == device.device)
        ]
        content = node.content if isinstance(node.content, list) else None
        stanzas = [
            (t, "receipt", receipt_id, Node("receipt", dict(attrs), content)) for t in targets
        ]
        if (kind in _MIRRORED_RECEIPTS or self_only) and to.is_user and to.user != account.phone:
            # our other devices learn what this one read or played (from it, about the chat)
            mirror: dict[str, AttrValue] = {
                **attrs,
                "from": JID(account.phone, USER_SERVER, device=device.device),
                "recipient": to.to_non_ad(),
            }
            stanzas += [
                (
                    _Target(account.phone, d),
                    "receipt",
                    receipt_id,
                    Node("receipt", dict(mirror), content),
                )
                for d in await self.device_ids(account.phone)
                if d not in (device.device, 0)
            ]
        await self.deliver(stanzas)

    async def on_ack(self, session: Session, node: Node) -> None:
        """A client acknowledged a delivered stanza: drop it from its queue."""
        kind = node.attrs.get("class")
        stanza_id = node.attrs.get("id")
        if isinstance(kind, str) and isinstance(stanza_id, str):
            await self.acknowledged(session, kind, stanza_id)

    # --- device notifications -----------------------------------------------------------------

    async def device_added(self, device: Device) -> None:
        """Tell the account's devices and its chat peers about a new device."""
        self.devices_changed(device.phone)
        entry = Node(
            "device",
            {
                "jid": JID(device.phone, USER_SERVER, device=device.device),
                "key-index": str(device.key_index),
            },
        )
        await self._device_change(device.phone, device.device, "add", entry)

    async def device_removed(self, phone: str, device: int) -> None:
        """Tell the account's other devices and its chat peers that a device is gone, and
        drop what was queued for it."""
        self.devices_changed(phone)

        def delete(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM offline_queue WHERE phone = ? AND device = ?", (phone, device))
            self._queued.pop((phone, device), None)

        await self.sandbox.state.run(delete)
        entry = Node("device", {"jid": JID(phone, USER_SERVER, device=device)})
        await self._device_change(phone, device, "remove", entry)

    async def _device_change(self, phone: str, changed: int, tag: str, entry: Node) -> None:
        def read(db: sqlite3.Connection) -> tuple[Account | None, list[Device], list[str]]:
            account = account_by_phone(db, phone)
            peers = [
                r[0] for r in db.execute("SELECT peer FROM chat_peers WHERE phone = ?", (phone,))
            ]
            return account, devices_of(db, phone), peers

        account, devices, peers = await self.sandbox.state.run(read)
        if account is None:
            return
        pn = JID(account.phone, USER_SERVER)
        ids = [0] + [d.device for d in devices]
        now = int(self.sandbox.clock())
        notification_id = f"dev-{tag}-{phone}-{changed}-{now}"
        change = Node(
            tag, {"device_hash": participant_hash(pn.with_device(i) for i in ids)}, [entry]
        )
        node = Node(
            "notification",
            {
                "from": pn,
                "lid": JID(account.lid, LID_SERVER),
                "type": "devices",
                "id": notification_id,
                "t": str(now),
            },
            [change],
        )
        targets: list[_Target] = []
        for owner in [account.phone, *peers]:
            for device_id in await self.device_ids(owner):
                if device_id and not (owner == phone and device_id == changed):
                    targets.append(_Target(owner, device_id))
        await self.deliver([(t, "notification", notification_id, node) for t in targets])


_routers: weakref.WeakKeyDictionary[Sandbox, Router] = weakref.WeakKeyDictionary()


def router_of(sandbox: Sandbox) -> Router:
    """The message router installed in ``sandbox`` (KeyError when not installed)."""
    return _routers[sandbox]


def install(sandbox: Sandbox) -> None:
    """Register the message routing (replaces upkeep's silent defaults)."""
    sandbox.state.register_schema("messaging", MIGRATIONS)
    router = Router(sandbox)
    _routers[sandbox] = router

    async def on_message(session: Session, node: Node) -> None:
        await router.on_message(session, node)

    async def on_receipt(session: Session, node: Node) -> None:
        await router.on_receipt(session, node)

    async def on_ack(session: Session, node: Node) -> None:
        await router.on_ack(session, node)

    async def on_active(session: Session) -> int:
        return await router.flush(session)

    async def on_paired(device: Device) -> None:
        await router.device_added(device)

    async def on_removed(phone: str, device: int) -> None:
        await router.device_removed(phone, device)

    sandbox.router.add_stanza("message", "*", on_message)
    sandbox.router.add_stanza("receipt", "*", on_receipt)
    sandbox.router.add_stanza("ack", "*", on_ack)
    sandbox.router.on_active(on_active)
    sandbox.router.on_paired(on_paired)
    sandbox.router.on_removed(on_removed)
