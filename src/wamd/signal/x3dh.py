"""X3DH session setup as libsignal does it (both roles).

Master secret = 0xFF * 32 | DH(IK_A, SPK_B) | DH(EK_A, IK_B) | DH(EK_A, SPK_B) [| DH(EK_A, OPK_B)],
then HKDF(salt = 32 zero bytes, info = "WhisperText") -> root key | chain key. The initiator (A)
starts its first sending chain at once with a fresh ratchet key against SPK_B; the responder (B)
starts from SPK_B as its ratchet key and steps when the first message arrives.
"""

from __future__ import annotations

from wamd.crypto import KeyPair
from wamd.crypto.hashes import hmac_sha256
from wamd.errors import CryptoError, InvalidMessage
from wamd.signal import symmetric
from wamd.signal.keys import PreKeyBundle
from wamd.signal.state import PendingPreKey, SessionState

__all__ = ["initiate", "respond"]

_PREFIX = b"\xff" * 32
_ZERO32 = bytes(32)
_TEXT_INFO = b"WhisperText"


def _master_root(secret: bytes) -> bytes:
    prk = hmac_sha256(_ZERO32, secret)
    return hmac_sha256(prk, _TEXT_INFO + b"\x01")


def initiate(
    identity: KeyPair,
    bundle: PreKeyBundle,
    *,
    base_key: KeyPair | None = None,
    ratchet_key: KeyPair | None = None,
) -> SessionState:
    """A new session state from a remote device's bundle (we are the initiator).

    The bundle's signature must have been checked (:meth:`PreKeyBundle.verify`). The state
    carries the pending X3DH header that makes the first messages ``pkmsg``.
    """
    base = base_key or KeyPair.generate()
    secret = (
        _PREFIX
        + identity.dh(bundle.signed_prekey)
        + base.dh(bundle.identity_key)
        + base.dh(bundle.signed_prekey)
    )
    if bundle.prekey is not None:
        secret += base.dh(bundle.prekey)
    ratchet = ratchet_key or KeyPair.generate()
    root, send_chain = symmetric.active.kdf_root(
        _master_root(secret), ratchet.dh(bundle.signed_prekey)
    )
    return SessionState(
        remote_identity=bundle.identity_key,
        remote_registration_id=bundle.registration_id,
        root_key=root,
        base_key=base.public,
        initiator=True,
        sender_ratchet=ratchet,
        sender_chain_key=send_chain,
        pending=PendingPreKey(bundle.prekey_id, bundle.signed_prekey_id, base.public),
    )


def respond(
    identity: KeyPair,
    signed_prekey: KeyPair,
    one_time_prekey: KeyPair | None,
    their_identity: bytes,
    their_base_key: bytes,
    their_registration_id: int,
) -> SessionState:
    """A new session state from an incoming PreKeySignalMessage's header (we are the responder).

    Raises :class:`InvalidMessage` when the peer's keys are unusable.
    """
    try:
        secret = (
            _PREFIX
            + signed_prekey.dh(their_identity)
            + identity.dh(their_base_key)
            + signed_prekey.dh(their_base_key)
        )
        if one_time_prekey is not None:
            secret += one_time_prekey.dh(their_base_key)
    except CryptoError:
        raise InvalidMessage("unusable key in PreKeySignalMessage") from None
    return SessionState(
        remote_identity=their_identity,
        remote_registration_id=their_registration_id,
        root_key=_master_root(secret),
        base_key=their_base_key,
        initiator=False,
        sender_ratchet=signed_prekey,
        sender_chain_key=None,
    )
