"""Presence and chat state (``<presence>``, ``<chatstate>``) in the sandbox.

* ``<presence type="available|unavailable" name>`` from a logged-in device sets its account
  online or offline (offline also records "last seen"); every session subscribed to the
  account gets ``<presence from="user" [type="unavailable" last="t"]/>``. When the last session
  of an account ends, it goes offline the same way.
* ``<presence type="subscribe" to="user">`` subscribes the session (for as long as it lives)
  and answers at once with the user's current presence, addressed as the subscriber named it
  (phone number or LID).
* ``<chatstate to="user"><composing [media]/>|<paused/></chatstate>`` goes to every session of
  the addressed user as ``<chatstate from="sender user">``, the sender in the same form (phone
  number or LID) as the recipient was addressed. Group chat states are left to a groups
  module (they are dropped here).

The server sends no ``<ack>`` for either, as WhatsApp does.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wamd.binary import AttrValue, Node
from wamd.errors import AttributeInvalid, AttributeMissing, InvalidJID
from wamd.sandbox.session import Session
from wamd.types import JID, LID_SERVER, USER_SERVER

if TYPE_CHECKING:
    from wamd.sandbox.server import Sandbox

log = logging.getLogger("wamd.sandbox.presence")

MAX_SUBSCRIPTIONS = 10_000
"""Most subscriptions one session may hold (a hostile client cannot grow memory without end)."""


@dataclass(slots=True)
class _Status:
    available: bool = False
    last_seen: int = 0


@dataclass(slots=True)
class PresenceBook:
    """Who is online, and which sessions want to know (keyed by phone number)."""

    status: dict[str, _Status] = field(default_factory=dict)
    subscribers: dict[str, dict[Session, JID]] = field(default_factory=dict)
    by_session: dict[Session, set[str]] = field(default_factory=dict)

    def node_for(self, phone: str, as_jid: JID) -> Node:
        """``<presence>`` telling ``phone``'s status, from ``as_jid``."""
        state = self.status.get(phone, _Status())
        attrs: dict[str, AttrValue] = {"from": as_jid}
        if not state.available:
            attrs["type"] = "unavailable"
            if state.last_seen:
                attrs["last"] = str(state.last_seen)
        return Node("presence", attrs)

    def subscribe(self, session: Session, phone: str, as_jid: JID) -> bool:
        """Add a subscription; False when the session holds too many already."""
        mine = self.by_session.setdefault(session, set())
        if phone not in mine and len(mine) >= MAX_SUBSCRIPTIONS:
            return False
        mine.add(phone)
        self.subscribers.setdefault(phone, {})[session] = as_jid
        return True

    def forget(self, session: Session) -> None:
        """Drop every subscription of an ended session."""
        for phone in self.by_session.pop(session, set()):
            subs = self.subscribers.get(phone)
            if subs is not None:
                subs.pop(session, None)
                if not subs:
                    del self.subscribers[phone]


def install(sandbox: Sandbox) -> PresenceBook:
    """Register the presence and chat-state handlers; returns their state."""
    router = sandbox.router
    book = PresenceBook()

    async def phone_of(jid: JID) -> str | None:
        if jid.server == USER_SERVER:
            return jid.user if await sandbox.state.account(jid.user) is not None else None
        if jid.server == LID_SERVER:
            account = await sandbox.state.account_by_lid(jid.user)
            return None if account is None else account.phone
        return None

    async def announce(phone: str) -> None:
        for session, as_jid in list(book.subscribers.get(phone, {}).items()):
            if session.is_open:
                await session.send(book.node_for(phone, as_jid))

    async def set_status(phone: str, available: bool) -> None:
        state = book.status.setdefault(phone, _Status())
        if not available:
            state.last_seen = int(time.time())
        changed = state.available != available
        state.available = available
        if changed or not available:
            await announce(phone)

    @router.stanza("presence")
    async def presence(session: Session, node: Node) -> None:
        device = session.device
        if device is None:
            return
        kind = node.attrs.get("type")
        if kind in ("available", "unavailable"):
            await set_status(device.phone, kind == "available")
            return
        if kind != "subscribe":
            return
        try:
            target = node.attr_jid("to").to_non_ad()
        except (AttributeMissing, AttributeInvalid, InvalidJID):
            log.warning("%s: presence subscription without a valid target", session)
            return
        phone = await phone_of(target)
        if phone is None:
            return
        if book.subscribe(session, phone, target):
            await session.send(book.node_for(phone, target))

    @router.stanza("chatstate")
    async def chatstate(session: Session, node: Node) -> None:
        device, account = session.device, session.account
        children = node.content if isinstance(node.content, list) else []
        if device is None or account is None or len(children) != 1:
            return
        try:
            target = node.attr_jid("to").to_non_ad()
        except (AttributeMissing, AttributeInvalid, InvalidJID):
            return
        phone = await phone_of(target)
        if phone is None:
            return
        child = children[0]
        sender = (
            JID(account.lid, LID_SERVER)
            if target.server == LID_SERVER
            else JID(device.phone, USER_SERVER)
        )
        state = Node(child.tag, {k: v for k, v in child.attrs.items() if k == "media"})
        for other in sandbox.sessions_of(phone):
            if other is not session and other.is_open:
                await other.send(Node("chatstate", {"from": sender}, [state]))

    @router.on_disconnect
    async def ended(session: Session) -> None:
        book.forget(session)
        device = session.device
        if device is None:
            return
        if not [s for s in sandbox.sessions_of(device.phone) if s is not session]:
            state = book.status.get(device.phone)
            if state is not None and state.available:
                await set_status(device.phone, False)

    return book
