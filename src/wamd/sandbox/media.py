"""Media in the sandbox: runs the media host and answers the ``w:m`` media_conn IQ.

Installed by default. The host (:class:`~wamd.sandbox.media_http.MediaServer`) is
``sandbox.media`` once the sandbox started: HTTPS and HTTP listeners on free ports of the
sandbox's address, blobs and the generated TLS files under the sandbox's state directory (a
temporary one when the sandbox keeps its state in memory). ``sandbox.media.ca_file`` is the CA
clients must trust (``NODE_EXTRA_CA_CERTS`` for Node/Baileys; ``MediaClient(ca_file=...)``).

``<iq xmlns="w:m" type="set"><media_conn/></iq>`` is answered with a fresh upload auth and the
HTTPS hosts: ``<media_conn auth ttl auth_ttl max_buckets><host hostname="127.0.0.1:PORT"/>``.

Admin HTTP (beside the sandbox's other admin operations, JSON in and out):

- ``GET /admin/media`` -> ``{"https": [host:port...], "http": [...], "ca_file": path}``
- ``POST /admin/media_expire`` ``{"direct_path": ..}`` (``{}``: every blob) -> ``{"expired": n}``
- ``POST /admin/media_fault`` ``{"status", "method", "port", "count", "delay", "truncate_after"}``
  (the fields of :class:`~wamd.sandbox.media_http.Fault`) -> ``{"ok": true}``
- ``POST /admin/media_revoke_auths`` -> ``{"ok": true}``
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from wamd.binary import Node
from wamd.media.conn import MEDIA_CONN_XMLNS
from wamd.sandbox.admin import SandboxAdmin
from wamd.sandbox.media_http import Fault, MediaServer
from wamd.sandbox.router import IQFailure, IQResult
from wamd.sandbox.server import ADMIN_PATH
from wamd.sandbox.session import Session

if TYPE_CHECKING:
    from wamd.sandbox.server import Sandbox


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

    sandbox.startup_hooks.append(start)
    sandbox.shutdown_hooks.append(stop)
    sandbox.router.add_iq(MEDIA_CONN_XMLNS, "media_conn", media_conn)
    _add_admin_routes(sandbox)


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
