"""Media in the sandbox: runs the media host and answers the ``w:m`` media_conn IQ.

Installed by default. The host (:class:`~wamd.sandbox.media_http.MediaServer`) is
``sandbox.media`` once the sandbox started: HTTPS and HTTP listeners on free ports of the
sandbox's address, blobs and the generated TLS files under the sandbox's state directory (a
temporary one when the sandbox keeps its state in memory). ``sandbox.media.ca_file`` is the CA
clients must trust (``NODE_EXTRA_CA_CERTS`` for Node/Baileys; ``MediaClient(ca_file=...)``).

``<iq xmlns="w:m" type="set"><media_conn/></iq>`` is answered with a fresh upload auth and the
HTTPS hosts: ``<media_conn auth ttl auth_ttl max_buckets><host hostname="127.0.0.1:PORT"/>``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from wamd.binary import Node
from wamd.media.conn import MEDIA_CONN_XMLNS
from wamd.sandbox.media_http import MediaServer
from wamd.sandbox.router import IQFailure, IQResult
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
        media = MediaServer(root, host=sandbox.host)
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
