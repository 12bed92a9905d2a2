"""App state in the sandbox: versioned patches per account and collection.

Installs the ``w:sync:app:state`` IQ handler over :class:`wamd.appstate.server.AppStateServer`
(tables of the ``"appstate"`` component in the sandbox state). When a device's patch is
accepted, the account's other online devices get ``<notification type="server_sync">`` naming
the collection; offline devices catch up when they next sync (wamd syncs after every login).
Snapshots are served as encrypted blobs on the sandbox's media host (``sandbox.media``); without
one, a device starting from scratch receives every patch from version 0 instead.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING

from wamd.appstate.server import (
    COMPONENT,
    MIGRATIONS,
    AppStateRequestError,
    AppStateServer,
    server_sync_notification,
)
from wamd.binary import Node
from wamd.errors import NotConnected
from wamd.sandbox.appstate_blobs import MediaBlobPublisher
from wamd.sandbox.router import IQFailure, IQResult
from wamd.sandbox.session import Session
from wamd.types import SERVER_JID

if TYPE_CHECKING:
    from wamd.sandbox.server import Sandbox

log = logging.getLogger("wamd.sandbox")

XMLNS = "w:sync:app:state"


_servers: weakref.WeakKeyDictionary[Sandbox, AppStateServer] = weakref.WeakKeyDictionary()


def server_of(sandbox: Sandbox) -> AppStateServer:
    """The app-state server of a sandbox (admin and tests: versions, fault injection)."""
    return _servers[sandbox]


def install(sandbox: Sandbox) -> None:
    """Register the app-state schema and IQ handler (the server: :func:`server_of`)."""
    sandbox.state.register_schema(COMPONENT, MIGRATIONS)
    server = AppStateServer(sandbox.state.run)
    _servers[sandbox] = server

    async def use_media_host() -> None:
        # runs after the media module's startup hook (it is installed earlier)
        if sandbox.media is not None and server.publish_blob is None:
            server.publish_blob = MediaBlobPublisher(sandbox.media)

    sandbox.startup_hooks.append(use_media_host)

    @sandbox.router.iq(XMLNS, "sync")
    async def sync(session: Session, iq: Node) -> IQResult:
        if session.account is None:
            raise IQFailure(401, "not-authorized")
        phone = session.account.phone
        try:
            outcome = await server.handle(phone, iq)
        except AppStateRequestError as exc:
            raise IQFailure(exc.code, exc.text) from None
        for name, version in outcome.changed:
            for other in sandbox.sessions_of(phone):
                if other is session:
                    continue
                note = server_sync_notification(name, version, other.next_id())
                note.attrs["from"] = SERVER_JID
                note.attrs["t"] = str(int(sandbox.clock()))
                try:
                    await other.send(note)
                except NotConnected:
                    log.debug("%s went away before its server_sync", other)
        return outcome.answer
