"""User sync (``xmlns="usync"``): device lists, LIDs, contact lookups, statuses.

A query names protocols (``<query><devices version="2"/><lid/><contact/>..</query>``) and users
(``<list><user jid=..>`` or ``<user><contact>+phone</contact></user>``); the answer lists, per
user, one element per protocol:

* ``devices``: ``<device-list>`` with the phone (id 0) and every paired companion (with its
  ``key-index``);
* ``lid``: ``<lid val="lid@lid"/>`` (every sandbox account has one);
* ``contact``: ``<contact type="in|out"/>`` — whether the number has an account;
* ``status`` and ``disappearing_mode``: empty defaults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wamd.binary import AttrValue, Node
from wamd.errors import InvalidJID
from wamd.sandbox.router import IQFailure, IQResult
from wamd.sandbox.session import Session
from wamd.sandbox.state import Account, Device
from wamd.types import JID, LID_SERVER, USER_SERVER

if TYPE_CHECKING:
    from wamd.sandbox.server import Sandbox

MAX_USERS = 5000


def device_list(devices: list[Device]) -> Node:
    """``<devices><device-list>`` for an account: the phone, then its companions."""
    entries = [Node("device", {"id": "0"})]
    entries += [
        Node("device", {"id": str(d.device), "key-index": str(d.key_index)}) for d in devices
    ]
    return Node("devices", {}, [Node("device-list", {}, entries)])


def install(sandbox: Sandbox) -> None:
    """Register the usync handler."""

    async def lookup(user: Node) -> tuple[JID | None, Account | None]:
        if "jid" in user.attrs:
            jid = user.attr_jid("jid")
            if jid.server == LID_SERVER:
                return jid, await sandbox.state.account_by_lid(jid.user)
            if jid.server == USER_SERVER:
                return jid, await sandbox.state.account(jid.user)
            return jid, None
        contact = user.child("contact")
        if contact is None or contact.content is None:
            return None, None
        digits = "".join(c for c in contact.content_bytes().decode(errors="replace") if c.isdigit())
        if not digits:
            return None, None
        try:
            jid = JID(digits, USER_SERVER)
        except InvalidJID:
            return None, None
        return jid, await sandbox.state.account(digits)

    @sandbox.router.iq("usync")
    async def usync(session: Session, iq: Node) -> IQResult:
        if session.device is None:
            raise IQFailure(401, "not-authorized")
        query = iq.require_child("usync")
        protocols = [p.tag for p in query.require_child("query").children]
        users = query.require_child("list").children_by_tag("user")
        if len(users) > MAX_USERS:
            raise IQFailure(406, "not-acceptable")
        answers: list[Node] = []
        for user in users:
            jid, account = await lookup(user)
            if jid is None:
                continue
            parts: list[Node] = []
            for protocol in protocols:
                if protocol == "devices":
                    devices = [] if account is None else await sandbox.state.devices(account.phone)
                    parts.append(
                        device_list(devices)
                        if account is not None
                        else Node("devices", {}, [Node("device-list", {})])
                    )
                elif protocol == "lid" and account is not None:
                    parts.append(Node("lid", {"val": JID(account.lid, LID_SERVER)}))
                elif protocol == "contact":
                    kind = "in" if account is not None else "out"
                    parts.append(Node("contact", {"type": kind}))
                elif protocol == "status":
                    parts.append(Node("status", {"t": "0"}))
                elif protocol == "disappearing_mode":
                    parts.append(Node("disappearing_mode", {"duration": "0", "t": "0"}))
            answers.append(Node("user", {"jid": jid}, parts))
        attrs: dict[str, AttrValue] = {
            key: query.attrs[key] for key in ("sid", "mode", "context") if key in query.attrs
        }
        attrs.update({"index": "0", "last": "true"})
        return Node("usync", attrs, [Node("list", {}, answers)])
