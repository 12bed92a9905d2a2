"""An in-memory server for the message path: parties talk through it without sockets.

It answers usync device lists (with LIDs), prekey uploads, counts and bundle fetches, routes
``<message>`` stanzas per ``<to jid>`` to the addressed devices (queueing for offline ones),
acks them, and routes receipts and retried messages back. Just enough of WhatsApp's server to
exercise wamd.messaging end to end in one event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from wamd.binary import AttrValue, Node, decode_frame, decode_node, encode_node
from wamd.crypto import KeyPair
from wamd.events import Dispatcher, Event, Started
from wamd.messaging.addresses import AddressBook, AddressLocks
from wamd.messaging.context import Context, MessagingOptions
from wamd.messaging.core import _is_ours
from wamd.messaging.devices import DeviceCache
from wamd.messaging.events import Receipt, ReceiptType
from wamd.messaging.inbox import Inbox
from wamd.messaging.prekeys import PreKeyUpkeep
from wamd.messaging.receive import Receiver
from wamd.messaging.retry import RetryResponder
from wamd.messaging.stanzas import ack, parse_receipt, parse_retry_request
from wamd.pairing.credentials import new_credentials
from wamd.signal import SignalCipher
from wamd.store import Account, MemoryStore, Store
from wamd.types import JID, LID_SERVER, SERVER_JID, USER_SERVER


def _wire(node: Node) -> Node:
    return decode_node(encode_node(node))


@dataclass(eq=False)
class Party:
    """One device: its store account, context and message-path parts."""

    server: FakeServer
    phone: str
    device: int
    account: Account
    ctx: Context = field(init=False)
    dispatcher: Dispatcher = field(default_factory=lambda: Dispatcher(max_concurrency=64))
    online: bool = True
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.link = _Link(self)

    @property
    def jid(self) -> JID:
        return JID(self.phone, USER_SERVER, device=self.device)

    @property
    def lid(self) -> JID:
        return JID(self.server.lids[self.phone], LID_SERVER, device=self.device)

    async def start(self, options: MessagingOptions | None = None) -> None:
        creds = await self.account.credentials.load()
        book = AddressBook(self.account, AddressLocks())
        self.ctx = Context(
            link=self.link,
            account=self.account,
            credentials=lambda: self._creds,
            cipher=SignalCipher(
                KeyPair.from_private(creds.identity_key.private), creds.registration_id
            ),
            book=book,
            devices=DeviceCache(self.link.request, book),
            options=options or MessagingOptions(handler_retry_delay=0.01),
        )
        self._creds = creds
        self.inbox = Inbox(self.ctx)
        self.receiver = Receiver(self.ctx, self.inbox)
        self.retry = RetryResponder(self.ctx)
        self.prekeys = PreKeyUpkeep(self.ctx)
        await self.prekeys.ensure_signed_prekey()
        await self.prekeys.check()
        self.dispatcher.add(Event, self.events.append)

    async def deliver(self, node: Node) -> None:
        node = _wire(node)
        if node.tag == "message":
            await self.receiver.on_message(node)
        elif node.tag == "receipt":
            receipt = parse_receipt(node, self.ctx.own)
            event = Receipt(
                receipt.chat,
                receipt.sender,
                receipt.ids,
                receipt.type,
                _now(),
                receipt.from_me,
                receipt.is_group,
                node,
            )
            await self.dispatcher.dispatch(event)
            if receipt.type == ReceiptType.RETRY:
                await self.retry.handle(node, receipt, parse_retry_request(node))
            await self.link.send_node(ack(node))
        elif node.tag == "notification" and _is_ours(node):
            self.ctx.devices.apply_notification(node)

    async def idle(self) -> None:
        await self.receiver.idle()
        await self.inbox.wait_idle()


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


class _Link:
    def __init__(self, party: Party) -> None:
        self.party = party
        self.waiting: dict[str, asyncio.Future[Node]] = {}

    async def request(self, node: Node, *, timeout: float | None = None) -> Node:  # noqa: ASYNC109
        return _wire(await self.party.server.iq(self.party, _wire(node)))

    async def send_node(self, node: Node) -> None:
        await self.party.server.stanza(self.party, _wire(node))

    async def send_payload(self, payload: bytes) -> None:
        await self.party.server.stanza(self.party, decode_frame(payload))

    async def send_expecting(self, node: Node) -> asyncio.Future[Node]:
        future: asyncio.Future[Node] = asyncio.get_running_loop().create_future()
        self.waiting[str(node.attrs["id"])] = future
        await self.send_node(node)
        return future

    def forget(self, request_id: str) -> None:
        self.waiting.pop(request_id, None)

    async def dispatch(self, event: Event) -> Started:
        return await self.party.dispatcher.dispatch(event)


Tamper = Callable[[Party, Node], Awaitable[Node | None]]


class FakeServer:
    """Routes stanzas between parties (see the module docstring)."""

    def __init__(self) -> None:
        self.store: Store = MemoryStore()
        self.parties: dict[tuple[str, int], Party] = {}
        self.lids: dict[str, str] = {}
        self.bundles: dict[tuple[str, int], dict[str, Any]] = {}
        self.queues: dict[tuple[str, int], list[Node]] = {}
        self.ids = itertools.count(1)
        self.clock = 1_700_000_000
        self.tamper: Tamper | None = None
        self.delivered: list[tuple[Party, Node]] = []

    async def add(self, phone: str, device: int, **options: Any) -> Party:
        self.lids.setdefault(phone, str(900000 + len(self.lids)))
        creds = new_credentials()
        jid = JID(phone, USER_SERVER, device=device)
        lid = JID(self.lids[phone], LID_SERVER, device=device)
        creds = dataclasses.replace(
            creds, jid=str(jid), lid=str(lid), account=b"adv:" + phone.encode() + bytes([device])
        )
        account = await self.store.new_account(creds)
        party = Party(self, phone, device, account)
        self.parties[(phone, device)] = party
        await party.start(MessagingOptions(**{"handler_retry_delay": 0.01, **options}))
        return party

    def _party(self, jid: JID) -> tuple[str, int]:
        phone = jid.user
        if jid.server == LID_SERVER:
            phone = next(p for p, lid in self.lids.items() if lid == jid.user)
        return phone, jid.device

    def devices_of(self, phone: str) -> list[int]:
        return sorted(d for p, d in self.parties if p == phone)

    async def iq(self, party: Party, node: Node) -> Node:
        xmlns = node.attrs.get("xmlns")
        first = node.children[0] if node.children else None
        me = (party.phone, party.device)
        result: list[Node] = []
        if xmlns == "usync":
            users = []
            for user in node.require_child("usync").require_child("list").children:
                jid = user.attr_jid("jid")
                phone, _ = self._party(jid)
                devices = [
                    Node("device", {"id": str(d), **({"key-index": "1"} if d else {})})
                    for d in self.devices_of(phone)
                ]
                users.append(
                    Node(
                        "user",
                        {"jid": jid},
                        [
                            Node("devices", {}, [Node("device-list", {}, devices)]),
                            Node("lid", {"val": JID(self.lids[phone], LID_SERVER)}),
                        ],
                    )
                )
            result = [Node("usync", {}, [Node("list", {}, users)])]
        elif xmlns == "encrypt" and first is not None and first.tag == "count":
            keys = self.bundles.get(me, {}).get("keys", {})
            result = [Node("count", {"value": str(len(keys))})]
        elif xmlns == "encrypt" and first is not None and first.tag == "registration":
            entry = self.bundles.setdefault(me, {"keys": {}})
            entry["registration"] = node.child_bytes("registration")
            entry["identity"] = node.child_bytes("identity")
            entry["skey"] = node.require_child("skey")
            for key in node.require_child("list").children:
                entry["keys"][key.child_bytes("id")] = key
        elif xmlns == "encrypt" and first is not None and first.tag == "key":
            users = []
            for user in first.children:
                jid = user.attr_jid("jid")
                entry = self.bundles.get(self._party(jid))
                if entry is None:
                    users.append(Node("user", {"jid": jid}, [Node("error", {"code": "404"})]))
                    continue
                children = [
                    Node("registration", {}, entry["registration"]),
                    Node("type", {}, b"\x05"),
                    Node("identity", {}, entry["identity"]),
                    entry["skey"],
                ]
                if entry["keys"]:
                    key_id = min(entry["keys"])
                    children.append(entry["keys"].pop(key_id))
                users.append(Node("user", {"jid": jid}, children))
            result = [Node("list", {}, users)]
        else:
            raise AssertionError(f"unexpected iq {node}")
        return Node(
            "iq",
            {"id": node.attrs.get("id", ""), "type": "result", "from": SERVER_JID},
            result or None,
        )

    async def stanza(self, party: Party, node: Node) -> None:
        if node.tag == "message":
            await self._route_message(party, node)
        elif node.tag == "receipt":
            to = node.attr_jid("to")
            attrs: dict[str, AttrValue] = {k: v for k, v in node.attrs.items() if k != "to"}
            sender = party.lid if to.is_lid else party.jid
            attrs["from"] = sender
            if "recipient" in node.attrs:
                attrs["recipient"] = node.attrs["recipient"]
            target = self._party(to)
            if target[1] == 0 and target not in self.parties:
                return
            for device in [target[1]] if to.device else self.devices_of(target[0]):
                await self._deliver((target[0], device), Node("receipt", attrs, node.content))
        # acks are accepted silently

    async def _route_message(self, party: Party, node: Node) -> None:
        msg_id = str(node.attrs["id"])
        to = node.attr_jid("to")
        self.clock += 1
        t = str(self.clock)
        participants = node.child("participants")
        identity = node.child("device-identity")
        extra = [identity] if identity is not None else []
        targets: list[tuple[JID, Node]] = []
        if participants is not None:
            targets = [(p.attr_jid("jid"), p.children[0]) for p in participants.children]
        else:
            targets = [(to, node.require_child("enc"))]
        for jid, enc in targets:
            key = self._party(jid)
            own = key[0] == party.phone
            origin = party.lid if jid.is_lid else party.jid
            attrs: dict[str, AttrValue] = {
                "id": msg_id,
                "from": origin,
                "t": t,
                "notify": f"user {party.phone}",
                "type": node.attrs.get("type", "text"),
            }
            if origin.is_pn:
                attrs["sender_lid"] = JID(self.lids[party.phone], LID_SERVER)
            else:
                attrs["sender_pn"] = JID(party.phone, USER_SERVER)
            if own:
                if "recipient" in node.attrs:
                    attrs["recipient"] = node.attrs["recipient"]
                elif to.user not in (party.phone, self.lids[party.phone]):
                    attrs["recipient"] = to.to_non_ad()
            await self._deliver(key, Node("message", attrs, [enc, *extra]))
        future = party.link.waiting.pop(msg_id, None)
        if future is not None and not future.done():
            future.set_result(Node("ack", {"id": msg_id, "class": "message", "t": t, "from": to}))

    async def _deliver(self, key: tuple[str, int], node: Node) -> None:
        target = self.parties.get(key)
        if target is None:
            return  # the phone (device 0) and unknown devices drop it
        if self.tamper is not None:
            changed = await self.tamper(target, node)
            if changed is None:
                return
            node = changed
        if not target.online:
            self.queues.setdefault(key, []).append(node)
            return
        self.delivered.append((target, node))
        await target.deliver(node)

    async def reconnect(self, party: Party) -> None:
        party.online = True
        for node in self.queues.pop((party.phone, party.device), []):
            await party.deliver(node)
