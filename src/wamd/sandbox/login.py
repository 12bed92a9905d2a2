"""What happens when a client's Noise handshake completes: registration or login.

The client's ``ClientPayload`` decides:

* **registration** (``device_pairing_data`` present): an unpaired client; its Signal bundle is
  recorded and pairing starts (:mod:`wamd.sandbox.pairing`);
* **login** (``username`` + ``device``): the device must exist and its Noise static key must be
  the one it paired with, else ``<failure reason="401"/>`` (logged out). A banned account gets
  ``<failure reason="402" .../>``, an outdated client (or an account marked outdated)
  ``<failure reason="405"/>``. Otherwise ``<success t lid/>``; a previous session of the same
  device is replaced (``<stream:error><conflict type="replaced"/></stream:error>``).

A logged-in session is *passive* until the client sends ``<iq xmlns="passive"><active/></iq>``
(or immediately, when its payload says ``passive=false``); then the router's ``on_active``
hooks deliver what waited offline and ``<ib><offline count=N/></ib>`` closes the backlog.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from google.protobuf.message import DecodeError as ProtobufDecodeError

from wamd.binary import Node
from wamd.crypto import verify_signature
from wamd.errors import HandshakeError
from wamd.proto import handshake_pb2
from wamd.sandbox.session import Registration, Session, SessionState
from wamd.types import JID, LID_SERVER

if TYPE_CHECKING:
    from wamd.sandbox.server import Sandbox

log = logging.getLogger("wamd.sandbox")

KEY_BUNDLE_TYPE = b"\x05"
ROUTING_INFO = b"\x08\x02\x10\x05"
"""The routing info handed out when edge routing is on (any bytes the client echoes)."""


def failure(reason: int, **attrs: str) -> Node:
    """A ``<failure reason=.. />`` stanza."""
    return Node("failure", {"reason": str(reason), **attrs})


def stream_error(code: int | None = None, conflict: str | None = None) -> Node:
    """A ``<stream:error [code]>[<conflict type/>]</stream:error>`` stanza."""
    attrs = {} if code is None else {"code": str(code)}
    content = None if conflict is None else [Node("conflict", {"type": conflict})]
    return Node("stream:error", dict(attrs), content)


def _version(payload: handshake_pb2.ClientPayload) -> tuple[int, int, int]:
    version = payload.user_agent.app_version
    return (version.primary, version.secondary, version.tertiary)


def parse_registration(payload: handshake_pb2.ClientPayload, noise_public: bytes) -> Registration:
    """The companion's bundle from a registration payload; :class:`HandshakeError` if malformed
    or if the signed prekey's signature does not verify with the identity key."""
    data = payload.device_pairing_data
    sizes = {
        "e_regid": 4,
        "e_keytype": 1,
        "e_ident": 32,
        "e_skey_id": 3,
        "e_skey_val": 32,
        "e_skey_sig": 64,
    }
    for name, size in sizes.items():
        if len(getattr(data, name)) != size:
            raise HandshakeError(f"registration payload: {name} is not {size} bytes")
    if data.e_keytype != KEY_BUNDLE_TYPE:
        raise HandshakeError("registration payload: unknown key type")
    if not verify_signature(data.e_ident, KEY_BUNDLE_TYPE + data.e_skey_val, data.e_skey_sig):
        raise HandshakeError("registration payload: signed prekey signature does not verify")
    return Registration(
        noise_public=noise_public,
        identity_public=data.e_ident,
        registration_id=int.from_bytes(data.e_regid, "big"),
        signed_prekey_id=int.from_bytes(data.e_skey_id, "big"),
        signed_prekey_public=data.e_skey_val,
        signed_prekey_signature=data.e_skey_sig,
        build_hash=data.build_hash,
        device_props=data.device_props,
    )


class Login:
    """The sandbox's admission policy (see the module docstring)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.min_version: tuple[int, int, int] = (0, 0, 0)
        """Clients whose app version is lower get ``<failure reason="405"/>``."""

    async def handshake_complete(self, session: Session, raw_payload: bytes) -> None:
        """Admit (or refuse) a client whose handshake just completed."""
        payload = handshake_pb2.ClientPayload()
        try:
            payload.ParseFromString(raw_payload)
        except ProtobufDecodeError as exc:
            raise HandshakeError("malformed client payload") from exc
        session.payload = payload
        assert session.client_static is not None
        if _version(payload) < self.min_version:
            await session.close(failure(405))
            return
        if payload.HasField("device_pairing_data"):
            try:
                session.registration = parse_registration(payload, session.client_static)
            except HandshakeError as exc:
                log.info("%s: refused registration: %s", session, exc)
                await session.close(failure(400))
                return
            session.state = SessionState.REGISTERING
            await self.sandbox.pairing.start(session)
            return
        if payload.HasField("username"):
            await self._login(session, payload)
            return
        await session.close(failure(400))

    async def _login(self, session: Session, payload: handshake_pb2.ClientPayload) -> None:
        state = self.sandbox.state
        phone = str(payload.username)
        device = await state.device(phone, payload.device)
        account = await state.account(phone)
        if device is None or account is None or device.noise_public != session.client_static:
            await session.close(failure(401))
            return
        now = int(self.sandbox.clock())
        if account.banned_until > now:
            await session.close(
                failure(402, code=str(account.ban_code), expire=str(account.banned_until - now))
            )
            return
        if account.outdated:
            await session.close(failure(405))
            return
        session.account, session.device = account, device
        previous = self.sandbox.register_session(session)
        if previous is not None:
            await previous.close(stream_error(conflict="replaced"))
        await state.touch_device(phone, device.device, push_name=payload.push_name or None)
        session.state = SessionState.LOGGED_IN
        lid = JID(account.lid, LID_SERVER, device=device.device)
        await session.send(Node("success", {"t": str(now), "lid": lid, "location": "sandbox"}))
        if self.sandbox.edge_routing:
            routing = Node("edge_routing", {}, [Node("routing_info", {}, ROUTING_INFO)])
            await session.send(Node("ib", {}, [routing]))
        if not payload.passive:
            session.spawn(self.activate(session))

    async def activate(self, session: Session) -> None:
        """Make a logged-in session active: deliver its offline backlog, then announce it."""
        if session.state is not SessionState.LOGGED_IN:
            return
        session.state = SessionState.ACTIVE
        delivered = 0
        for hook in self.sandbox.router.active_hooks:
            delivered += await hook(session)
        await session.send(Node("ib", {}, [Node("offline", {"count": str(delivered)})]))
