"""Connection upkeep: the IQs and stanzas every logged-in client sends, with default answers.

* keepalive pings (``xmlns="w:p"``, with or without a ``<ping/>`` child);
* ``passive`` (``<active/>`` starts offline delivery, see :mod:`wamd.sandbox.login`);
* AB props (``abt``), ``w`` props, blocklist and privacy queries (empty defaults), app-state
  sync (every collection answered empty), ``w:stats``;
* ``md``/``remove-companion-device`` (a companion logging itself out);
* stanzas with nothing to do yet (``ack``, ``presence``, ``chatstate``, ``ib``, ``receipt``,
  ``notification``, ``message``, ``call``) are accepted silently.

Area modules installed after this one replace these defaults by registering the same keys
(for instance the app-state module answers ``w:sync:app:state`` for real).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wamd.binary import Node
from wamd.sandbox.login import stream_error
from wamd.sandbox.router import IQFailure, IQResult
from wamd.sandbox.session import Session

if TYPE_CHECKING:
    from wamd.sandbox.server import Sandbox

PRIVACY_DEFAULTS = (
    ("last", "all"),
    ("online", "all"),
    ("profile", "all"),
    ("status", "all"),
    ("groupadd", "all"),
    ("readreceipts", "all"),
    ("calladd", "all"),
    ("messages", "all"),
)
"""Privacy categories and values reported until a privacy module stores real ones."""

QUIET_STANZAS = ("ack", "presence", "chatstate", "ib", "receipt", "notification", "message", "call")


def install(sandbox: Sandbox) -> None:
    """Register the upkeep handlers."""
    router = sandbox.router

    @router.iq("w:p")
    async def ping(session: Session, iq: Node) -> IQResult:
        return None

    @router.iq("passive")
    async def passive(session: Session, iq: Node) -> IQResult:
        if iq.child("active") is not None:
            session.spawn(sandbox.login.activate(session))
        return None

    @router.iq("abt", "props")
    async def ab_props(session: Session, iq: Node) -> IQResult:
        return Node("props", {"protocol": "1", "hash": "sandbox"})

    @router.iq("w", "props")
    async def props(session: Session, iq: Node) -> IQResult:
        return Node("props", {"version": "1", "hash": "sandbox"})

    @router.iq("blocklist")
    async def blocklist(session: Session, iq: Node) -> IQResult:
        if iq.attrs.get("type") == "get":
            return Node("list", {})
        return None

    @router.iq("privacy")
    async def privacy(session: Session, iq: Node) -> IQResult:
        if iq.attrs.get("type") == "get":
            categories = [Node("category", {"name": n, "value": v}) for n, v in PRIVACY_DEFAULTS]
            return Node("privacy", {}, categories)
        return None

    @router.iq("w:sync:app:state")
    async def app_state(session: Session, iq: Node) -> IQResult:
        sync = iq.child("sync")
        collections = [
            Node(
                "collection",
                {"name": c.attr_str("name", ""), "version": c.attr_str("version", "0")},
            )
            for c in (sync.children_by_tag("collection") if sync is not None else [])
        ]
        return Node("sync", {}, collections)

    @router.iq("w:stats")
    async def stats(session: Session, iq: Node) -> IQResult:
        return None

    @router.iq("md", "remove-companion-device")
    async def remove_companion(session: Session, iq: Node) -> IQResult:
        device = session.device
        if device is None:
            raise IQFailure(401, "not-authorized")
        await sandbox.state.remove_device(device.phone, device.device)
        await sandbox.router.device_removed(device.phone, device.device)
        session.spawn(session.close(stream_error(401, conflict="device_removed")))
        return None

    async def quiet(session: Session, node: Node) -> None:
        return None

    for tag in QUIET_STANZAS:
        router.add_stanza(tag, "*", quiet)
