"""Signal prekeys (``xmlns="encrypt"``): count, upload, digest, signed-prekey rotation, and
bundle fetches.

Uploads and rotations must carry the identity key the device paired with and a signed prekey
whose signature verifies with it (else ``406`` / ``400``): the sandbox catches client bugs a
real server would.

Devices upload one-time prekeys (``<list><key><id/><value/></key>..</list>``) and their signed
prekey; the server reports how many remain (``<count value=N/>``), describes the stored bundle
(``<digest>``) and hands out bundles to senders (``<key><user jid/>..</key>``), consuming one
one-time prekey per fetch. The simulated phone (device 0) has an identity and a signed prekey
but no one-time prekeys.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wamd.binary import Node
from wamd.crypto import KeyPair, verify_signature
from wamd.sandbox.router import IQFailure, IQResult
from wamd.sandbox.session import Session
from wamd.sandbox.state import Device, account_by_phone, device_by_id
from wamd.types import JID, LID_SERVER, USER_SERVER

if TYPE_CHECKING:
    from wamd.sandbox.server import Sandbox

KEY_BUNDLE_TYPE = b"\x05"
MAX_UPLOAD = 2000
"""Most one-time prekeys accepted in one upload."""
PHONE_SIGNED_PREKEY_ID = 1


@dataclass(frozen=True, slots=True)
class Bundle:
    """What a sender needs to start a Signal session with one device."""

    registration_id: int
    identity: bytes
    signed_prekey_id: int
    signed_prekey: bytes
    signed_prekey_signature: bytes
    prekey: tuple[int, bytes] | None


def _u(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


def _int(node: Node, tag: str, size: int) -> int:
    data = node.child_bytes(tag)
    if len(data) != size:
        raise IQFailure(400, "bad-request")
    return int.from_bytes(data, "big")


def prekey_count(db: sqlite3.Connection, phone: str, device: int) -> int:
    """One-time prekeys left for a device (inside :meth:`SandboxState.run`)."""
    row = db.execute(
        "SELECT COUNT(*) FROM prekeys WHERE phone = ? AND device = ?", (phone, device)
    ).fetchone()
    return int(row[0])


def take_bundle(db: sqlite3.Connection, phone: str, device: int) -> Bundle | None:
    """A device's bundle, consuming its lowest one-time prekey (inside a transaction)."""
    if device == 0:
        account = account_by_phone(db, phone)
        if account is None:
            return None
        identity = KeyPair.from_private(account.identity_private)
        signed = KeyPair.from_private(account.signed_prekey_private)
        return Bundle(
            account.registration_id,
            identity.public,
            PHONE_SIGNED_PREKEY_ID,
            signed.public,
            account.signed_prekey_signature,
            None,
        )
    found = device_by_id(db, phone, device)
    if found is None:
        return None
    row = db.execute(
        "SELECT key_id, public FROM prekeys WHERE phone = ? AND device = ? ORDER BY key_id LIMIT 1",
        (phone, device),
    ).fetchone()
    prekey = None
    if row is not None:
        prekey = (int(row[0]), bytes(row[1]))
        db.execute(
            "DELETE FROM prekeys WHERE phone = ? AND device = ? AND key_id = ?",
            (phone, device, prekey[0]),
        )
    return Bundle(
        found.registration_id,
        found.identity_public,
        found.signed_prekey_id,
        found.signed_prekey_public,
        found.signed_prekey_signature,
        prekey,
    )


def bundle_nodes(bundle: Bundle) -> list[Node]:
    """The children of a ``<user>`` in a prekey-fetch answer."""
    nodes = [
        Node("registration", {}, _u(bundle.registration_id, 4)),
        Node("type", {}, KEY_BUNDLE_TYPE),
        Node("identity", {}, bundle.identity),
        Node(
            "skey",
            {},
            [
                Node("id", {}, _u(bundle.signed_prekey_id, 3)),
                Node("value", {}, bundle.signed_prekey),
                Node("signature", {}, bundle.signed_prekey_signature),
            ],
        ),
    ]
    if bundle.prekey is not None:
        key_id, public = bundle.prekey
        nodes.append(Node("key", {}, [Node("id", {}, _u(key_id, 3)), Node("value", {}, public)]))
    return nodes


def install(sandbox: Sandbox) -> None:
    """Register the ``encrypt`` handlers."""
    router = sandbox.router
    state = sandbox.state

    def me(session: Session) -> tuple[str, int]:
        device = session.device
        if device is None:
            raise IQFailure(401, "not-authorized")
        return device.phone, device.device

    @router.iq("encrypt", "count")
    async def count(session: Session, iq: Node) -> IQResult:
        phone, device = me(session)
        value = await state.run(lambda db: prekey_count(db, phone, device))
        return Node("count", {"value": str(value)})

    def signed_prekey(session: Session, skey: Node) -> tuple[int, bytes, bytes]:
        assert session.device is not None
        value, signature = skey.child_bytes("value"), skey.child_bytes("signature")
        identity = session.device.identity_public
        if len(value) != 32 or not verify_signature(identity, KEY_BUNDLE_TYPE + value, signature):
            raise IQFailure(400, "bad-request")
        return _int(skey, "id", 3), value, signature

    @router.iq("encrypt", "registration")
    async def upload(session: Session, iq: Node) -> IQResult:
        phone, device = me(session)
        assert session.device is not None
        registration = _int(iq, "registration", 4)
        if iq.child_bytes("type") != KEY_BUNDLE_TYPE:
            raise IQFailure(400, "bad-request")
        if iq.child_bytes("identity") != session.device.identity_public:
            raise IQFailure(406, "not-acceptable")
        key_list = iq.require_child("list").children_by_tag("key")
        if len(key_list) > MAX_UPLOAD:
            raise IQFailure(406, "not-acceptable")
        keys = []
        for key in key_list:
            public = key.child_bytes("value")
            if len(public) != 32:
                raise IQFailure(400, "bad-request")
            keys.append((phone, device, _int(key, "id", 3), public))
        signed = signed_prekey(session, iq.require_child("skey"))

        def store(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT OR REPLACE INTO prekeys (phone, device, key_id, public) "
                "VALUES (?, ?, ?, ?)",
                keys,
            )
            db.execute(
                "UPDATE devices SET registration_id = ?, signed_prekey_id = ?, "
                "signed_prekey_public = ?, signed_prekey_signature = ? "
                "WHERE phone = ? AND device = ?",
                (registration, *signed, phone, device),
            )

        await state.run(store)
        return None

    @router.iq("encrypt", "rotate")
    async def rotate(session: Session, iq: Node) -> IQResult:
        phone, device = me(session)
        signed = signed_prekey(session, iq.require_child("rotate").require_child("skey"))
        await state.run(
            lambda db: db.execute(
                "UPDATE devices SET signed_prekey_id = ?, signed_prekey_public = ?, "
                "signed_prekey_signature = ? WHERE phone = ? AND device = ?",
                (*signed, phone, device),
            )
        )
        return None

    @router.iq("encrypt", "digest")
    async def digest(session: Session, iq: Node) -> IQResult:
        phone, device = me(session)

        def read(db: sqlite3.Connection) -> tuple[list[int], Device | None]:
            ids = [
                int(r[0])
                for r in db.execute(
                    "SELECT key_id FROM prekeys WHERE phone = ? AND device = ? ORDER BY key_id",
                    (phone, device),
                )
            ]
            return ids, device_by_id(db, phone, device)

        ids, stored = await state.run(read)
        if stored is None:
            raise IQFailure(404, "item-not-found")
        bundle = Bundle(
            stored.registration_id,
            stored.identity_public,
            stored.signed_prekey_id,
            stored.signed_prekey_public,
            stored.signed_prekey_signature,
            None,
        )
        id_list = Node("list", {}, [Node("id", {}, _u(i, 3)) for i in ids])
        return Node("digest", {}, [*bundle_nodes(bundle), id_list])

    @router.iq("encrypt", "key")
    async def fetch(session: Session, iq: Node) -> IQResult:
        me(session)
        answers: list[Node] = []
        for user in iq.require_child("key").children_by_tag("user"):
            jid = user.attr_jid("jid")
            bundle = await _take(sandbox, jid)
            if bundle is None:
                error = Node("error", {"code": "404", "text": "item-not-found"})
                answers.append(Node("user", {"jid": jid}, [error]))
            else:
                answers.append(Node("user", {"jid": jid}, bundle_nodes(bundle)))
        return Node("list", {}, answers)


async def _take(sandbox: Sandbox, jid: JID) -> Bundle | None:
    phone = await _phone_of(sandbox, jid)
    if phone is None:
        return None
    return await sandbox.state.run(lambda db: take_bundle(db, phone, jid.device))


async def _phone_of(sandbox: Sandbox, jid: JID) -> str | None:
    if jid.server == USER_SERVER:
        return jid.user
    if jid.server == LID_SERVER:
        account = await sandbox.state.account_by_lid(jid.user)
        return None if account is None else account.phone
    return None
