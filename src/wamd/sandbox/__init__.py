"""``wamd.sandbox``: a local WhatsApp-compatible server for offline tests.

The sandbox speaks WhatsApp Web's protocol in the server role (Noise handshake with its own
certificate root, the binary node stanzas), keeps its state in SQLite, and simulates the
primary phone of its accounts, so that clients — wamd, Baileys, your bot — can pair, log in and
talk through it on loopback::

    from wamd.sandbox import Sandbox

    async with Sandbox(state_dir="sandbox-state", port=0) as sb:
        print(sb.url, sb.root_public_key.hex())
        ...                                  # connect a client, then:
        jid = await sb.admin.scan_qr(qr_text, phone="15550001")

See docs/sandbox.md for the admin API, the extension points and the pytest helpers
(:mod:`wamd.sandbox.testing`).
"""

from wamd.sandbox.admin import SandboxAdmin
from wamd.sandbox.router import NO_REPLY, IQFailure, Router
from wamd.sandbox.server import DEFAULT_MODULES, Sandbox
from wamd.sandbox.session import Session, SessionState

__all__ = [
    "DEFAULT_MODULES",
    "NO_REPLY",
    "IQFailure",
    "Router",
    "Sandbox",
    "SandboxAdmin",
    "Session",
    "SessionState",
]
