"""Media in the sandbox: runs the media host and answers the ``w:m`` media_conn IQ.

Installed by default. The host (:class:`~wamd.sandbox.media_http.MediaServer`) is
``sandbox.media`` once the sandbox started: HTTPS and HTTP listeners on free ports of the
sandbox's address, blobs and the generated TLS files under the sandbox's state directory (a
temporary one when the sandbox keeps its state in memory). ``sandbox.media.ca_file`` is the CA
clients must trust (``NODE_EXTRA_CA_CERTS`` for Node/Baileys; ``MediaClient(ca_file=...)``).

``<iq xmlns="w:m" type="set"><media_conn/></iq>`` is answered with a fresh upload auth and the
HTTPS hosts: ``<media_conn auth ttl auth_ttl max_buckets><host hostname="127.0.0.1:PORT"/>``.

Media retry: the simulated phone answers a companion's ``<receipt type="server-error">`` (a
request to upload gone media again) with ``<notification type="mediaretry">``. It can only
answer for media it was told about (it never sees message contents):
``phone_media_of(sandbox).remember(phone, message_id, media_key, direct_path)``; then it
uploads the same blob again (the expired blob's archived bytes) and answers with the new
direct path, encrypted with the media key. For anything else it answers ``<error code="2">``
(the phone no longer has the media), as a phone would.

Admin HTTP (beside the sandbox's other admin operations, JSON in and out):

- ``GET /admin/media`` -> ``{"https": [host:port...], "http": [...], "ca_file": path,
  "ca_pem": PEM text}`` (``ServerInfo(media_ca=ca_pem)`` for a client elsewhere)
- ``POST /admin/media_expire`` ``{"direct_path": ..}`` (``{}``: every blob) -> ``{"expired": n}``
- ``POST /admin/media_fault`` ``{"status", "method", "port", "count", "delay", "truncate_after"}``
  (the fields of :class:`~wamd.sandbox.media_http.Fault`) -> ``{"ok": true}``
- ``POST /admin/media_revoke_auths`` -> ``{"ok": true}``
"""

from __future__ import annotations

import asyncio
import tempfile
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from wamd.binary import Node
from wamd.errors import WamdError
from wamd.media.conn import MEDIA_CONN_XMLNS
from wamd.media.retry import (
    NOT_ON_PHONE,
    RetryTarget,
    build_retry_notification,
    parse_retry_receipt,
)
from wamd.sandbox.admin import SandboxAdmin
from wamd.sandbox.media_http import Fault, MediaServer, blob_id_of
from wamd.sandbox.router import IQFailure, IQResult
from wamd.sandbox.server import ADMIN_PATH
from wamd.sandbox.session import Session
from wamd.types import JID, USER_SERVER

if TYPE_CHECKING:
    from wamd.sandbox.server import Sandbox


@dataclass
class PhoneMedia:
    """The media the simulated phones hold, by (phone number, message id)."""

    _held: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict, repr=False)

    def remember(self, phone: str, message_id: str, media_key: bytes, direct_path: str) -> None:
        """The phone of ``phone`` has the media of ``message_id`` (uploaded at ``direct_path``)."""
        if blob_id_of(direct_path) is None:
            raise ValueError("not a direct path of the sandbox's media host")
        self._held[(phone, message_id)] = (bytes(media_key), direct_path)

    def lookup(self, phone: str, message_id: str) -> tuple[bytes, str] | None:
        """``(media_key, direct_path)`` the phone holds for this message, if any."""
        return self._held.get((phone, message_id))


_phone_media: weakref.WeakKeyDictionary[Sandbox, PhoneMedia] = weakref.WeakKeyDictionary()


def phone_media_of(sandbox: Sandbox) -> PhoneMedia:
    """The media the simulated phones of ``sandbox`` hold (KeyError when not installed)."""
    return _phone_media[sandbox]


def install(sandbox: Sandbox) -> None:
    """Create the media host (started and stopped with the sandbox) and the IQ handler."""
    scratch: list[tempfile.TemporaryDirectory[str]] = []

    async def start() -> None:
        if sandbox.state_dir is not None:
            root = sandbox.state_dir
        else:
            scratch.append(tempfile.TemporaryDirectory(prefix="wamd-sandbox-media-"))
            root = Path(scratch[-1].name)
        media = MediaServer(root, host=sandbox.host, clock=sandbox.clock)
        await media.start()
        sandbox.media = media

    async def stop() -> None:
        media, sandbox.media = sandbox.media, None
        if media is not None:
            await media.stop()
        while scratch:
            scratch.pop().cleanup()

    async def media_conn(session: Session, iq: Node) -> IQResult:
        if sandbox.media is None:
            raise IQFailure(503, "service-unavailable")
        return sandbox.media.media_conn_node()

    phones = _phone_media[sandbox] = PhoneMedia()

    async def server_error_receipt(session: Session, node: Node) -> None:
        if node.attrs.get("type") != "server-error" or session.device is None:
            return
        phone = session.device.phone
        try:
            message_id = node.attr_str("id")
            rmr = node.require_child("rmr")
            target = RetryTarget(
                message_id=message_id,
                chat=rmr.attr_jid("jid"),
                from_me=rmr.attr_bool("from_me", False),
                participant=rmr.attr_jid("participant", None),
            )
        except WamdError:
            return  # malformed: a phone ignores it
        held = phones.lookup(phone, message_id)
        media = sandbox.media
        answer: Node
        if held is None or media is None:
            answer = build_retry_notification(target, None, error_code=NOT_ON_PHONE)
        else:
            key, direct_path = held
            try:
                parse_retry_receipt(node, key)
            except WamdError:
                return  # not encrypted with this message's media key: ignored
            blob_id = blob_id_of(direct_path)
            record = media.store.lookup(blob_id) if blob_id else None
            if record is not None and not record.is_gone(media.store.clock()):
                new_path = direct_path  # still there: the same path works
            else:
                fresh = await asyncio.to_thread(media.store.republish, blob_id or "")
                if fresh is None:
                    answer = build_retry_notification(target, None, error_code=NOT_ON_PHONE)
                    await session.send(_addressed(answer, phone, sandbox))
                    return
                new_path = media.direct_path(fresh)
                phones.remember(phone, message_id, key, new_path)
            answer = build_retry_notification(target, key, direct_path=new_path)
        await session.send(_addressed(answer, phone, sandbox))

    sandbox.startup_hooks.append(start)
    sandbox.shutdown_hooks.append(stop)
    sandbox.router.add_iq(MEDIA_CONN_XMLNS, "media_conn", media_conn)
    sandbox.router.add_stanza("receipt", "encrypt", server_error_receipt)
    _add_admin_routes(sandbox)


def _addressed(notification: Node, phone: str, sandbox: Sandbox) -> Node:
    notification.attrs["from"] = JID(phone, USER_SERVER)
    notification.attrs["t"] = str(int(sandbox.clock()))
    return notification


_FAULT_FIELDS: dict[str, tuple[type, ...]] = {
    "status": (int, type(None)),
    "method": (str, type(None)),
    "port": (int, type(None)),
    "count": (int, type(None)),
    "delay": (int, float),
    "truncate_after": (int, type(None)),
}


def _fault(body: dict[str, Any]) -> Fault:
    options: dict[str, Any] = {}
    for name, value in body.items():
        kinds = _FAULT_FIELDS.get(name)
        if kinds is None or isinstance(value, bool) or not isinstance(value, kinds):
            raise ValueError(f"bad fault field {name!r}")
        options[name] = value
    return Fault(**options)


def _add_admin_routes(sandbox: Sandbox) -> None:
    def host() -> MediaServer:
        if sandbox.media is None:
            raise web.HTTPServiceUnavailable(text="the media host is not running")
        return sandbox.media

    def endpoint(
        operation: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def run(body: dict[str, Any]) -> dict[str, Any]:
            return operation(body)

        # the admin API's own JSON wrapper: 400 with {"error"} on bad input
        return SandboxAdmin._endpoint(run)

    def info(_: dict[str, Any]) -> dict[str, Any]:
        media = host()
        return {
            "https": media.https_hostnames,
            "http": media.http_hostnames,
            "ca_file": str(media.ca_file),
            "ca_pem": media.ca_file.read_text(),
        }

    def expire(body: dict[str, Any]) -> dict[str, Any]:
        path = body.get("direct_path")
        if path is not None and not isinstance(path, str):
            raise ValueError("direct_path must be a string")
        return {"expired": host().expire(path)}

    def fault(body: dict[str, Any]) -> dict[str, Any]:
        host().inject(_fault(body))
        return {"ok": True}

    def revoke(_: dict[str, Any]) -> dict[str, Any]:
        host().revoke_auths()
        return {"ok": True}

    sandbox.app.router.add_get(f"{ADMIN_PATH}/media", endpoint(info))
    sandbox.app.router.add_post(f"{ADMIN_PATH}/media_expire", endpoint(expire))
    sandbox.app.router.add_post(f"{ADMIN_PATH}/media_fault", endpoint(fault))
    sandbox.app.router.add_post(f"{ADMIN_PATH}/media_revoke_auths", endpoint(revoke))
