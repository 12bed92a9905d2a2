"""A hostile peer: the friendly sender of :mod:`tests.hostile.harness` turned against the victim.

The peer holds a real Signal session with the victim, so what it sends passes the transport and
the envelope checks and fails (or succeeds) only where a real attacker's payload would: in the
ratchet, the padding, the protobuf, or in what the decrypted message claims. Its ciphertexts are
made with the sender's own stored session (the sender's state moves on and is stored, as a real
peer's would) and reach the victim as the server delivers them, through the sandbox.
"""

from __future__ import annotations

from tests.hostile.harness import Duo, next_id
from wamd.binary import AttrValue, Node
from wamd.client import Client
from wamd.crypto import KeyPair
from wamd.signal import LocalIdentity, PreKeyBundle, SignalCipher, pad
from wamd.signal.session_cipher import encrypt, session_from_bundle
from wamd.types import JID


def _victim_address(d: Duo) -> str:
    lid = d.victim.device.credentials.lid
    assert lid is not None
    return JID.parse(lid).signal_address


def _raw_cipher(d: Duo) -> SignalCipher:
    """The sender's identity in a cipher that leaves the padding to the caller."""
    local = d.sender.messaging.context().cipher.local
    return SignalCipher(local.key_pair, local.registration_id, padding=False)


async def peer_ciphertext(d: Duo, plaintext: bytes, *, padded: bool = True) -> tuple[str, bytes]:
    """``plaintext`` encrypted by the sender's session with the victim: ``(enc type, data)``.

    ``padded=False`` sends ``plaintext`` as it is (to test the victim's padding checks).
    """
    ctx = d.sender.messaging.context()
    batch = _raw_cipher(d).batch(ctx.account)
    address = _victim_address(d)
    result = await batch.encrypt(address, pad(plaintext) if padded else plaintext)
    async with ctx.account.transaction() as tx:
        await batch.commit(tx)
    # the sender's own cipher remembers the session it last committed: it was written behind
    # its back here, so it must read it from the store again
    ctx.cipher.forget([address])
    return result.enc_type, result.ciphertext


async def peer_group_ciphertext(d: Duo, group: JID, plaintext: bytes) -> tuple[bytes, bytes]:
    """The sender's ``skmsg`` for ``group`` and its sender-key distribution message."""
    ctx = d.sender.messaging.context()
    batch = _raw_cipher(d).batch(ctx.account)
    assert d.sender.jid is not None
    own = d.sender.device.credentials.lid
    assert own is not None
    result = await batch.group_encrypt(str(group), JID.parse(own).signal_address, pad(plaintext))
    async with ctx.account.transaction() as tx:
        await batch.commit(tx)
    return result.ciphertext, result.distribution


def from_peer(
    d: Duo, *encs: tuple[str, bytes], group: JID | None = None, stanza_id: str | None = None
) -> Node:
    """A ``<message>`` from the sender (in ``group`` when given) as the server delivers it,
    with the attributes the sandbox puts on the sender's real messages."""
    assert d.sender.jid is not None
    first = d.received[0].raw
    attrs: dict[str, AttrValue] = {k: v for k, v in first.attrs.items() if k != "id"}
    attrs["id"] = stanza_id or next_id()
    if group is not None:
        sender_lid = attrs.pop("sender_lid")
        attrs["from"] = group
        attrs["participant"] = d.sender.jid
        attrs["participant_lid"] = sender_lid
    children = [Node("enc", {"v": "2", "type": kind}, data) for kind, data in encs]
    if any(kind == "pkmsg" for kind, _ in encs):
        children += [c for c in first.children if c.tag == "device-identity"]
    return Node("message", attrs, children)


def prekey_bundle(client: Client, prekey_id: int, *, claimed_id: int | None = None) -> PreKeyBundle:
    """``client``'s real prekey bundle with its one-time prekey ``prekey_id`` (announced under
    the id ``claimed_id`` when given)."""
    tables = client.device.account._tables
    creds = tables.credentials
    return PreKeyBundle(
        registration_id=creds.registration_id,
        identity_key=creds.identity_key.public,
        signed_prekey_id=creds.signed_prekey.key_id,
        signed_prekey=creds.signed_prekey.key_pair.public,
        signed_prekey_signature=creds.signed_prekey.signature,
        prekey_id=prekey_id if claimed_id is None else claimed_id,
        prekey=tables.prekeys[prekey_id][0].key_pair.public,
    )


def stranger_pkmsg(bundle: PreKeyBundle, plaintext: bytes) -> bytes:
    """A real PreKeySignalMessage carrying ``plaintext`` (padded) from an identity nobody has
    seen to the owner of ``bundle``."""
    stranger = LocalIdentity(KeyPair.generate(), 4242)
    _, enc_type, data = encrypt(
        session_from_bundle(None, stranger, bundle), stranger, pad(plaintext)
    )
    assert enc_type == "pkmsg"
    return data
