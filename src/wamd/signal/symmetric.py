"""The Signal protocol's symmetric steps, in pure Python and (optionally) compiled.

Per message the Double Ratchet steps a chain key, derives the message keys, checks or
computes the MAC and runs AES-256-CBC (see :mod:`wamd.signal.ratchet` for the KDFs); its DH
steps run the root KDF; sender keys (:mod:`wamd.signal.group`) step their chain and derive
their own message keys. The functions below are the pure-Python reference; ``_cratchet.c`` is
their compiled twin (same results, same errors), used when it is built: :data:`ACCELERATED`,
:data:`IMPLEMENTATIONS`. ``WAMD_PURE_PYTHON=1`` in the environment forces the pure-Python
functions, and a module built from another version of the C source than the one beside this
file is ignored.

Callers go through :data:`active` (``symmetric.active.open_message(...)``), looked up at each
call, so :func:`use` switches every caller (the tests run both).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

from wamd._compiled import load_compiled
from wamd.crypto import aes_cbc_decrypt, aes_cbc_encrypt
from wamd.crypto.hashes import HmacSha256, hmac_sha256
from wamd.errors import CryptoError, InvalidMessage

__all__ = [
    "ACCELERATED",
    "IMPLEMENTATIONS",
    "Implementation",
    "active",
    "derive_message_keys",
    "use",
]

_MESSAGE_INFO = b"WhisperMessageKeys"
_RATCHET_INFO = b"WhisperRatchet"
_GROUP_INFO = b"WhisperGroup"
_ONE = b"\x01"
_TWO = b"\x02"
_DJB_TYPE = b"\x05"
_MAC_LEN = 8
_ZERO_KEY = HmacSha256(bytes(32))
_compare = hmac.compare_digest


def _chain_step(chain_key: bytes) -> tuple[bytes, bytes]:
    """(message key seed, next chain key) = (HMAC(ck, 0x01), HMAC(ck, 0x02))."""
    return HmacSha256(chain_key).digests(_ONE, _TWO)


def derive_message_keys(seed: bytes) -> tuple[bytes, bytes, bytes]:
    """(cipher key, MAC key, IV) for a message key seed."""
    keys = HmacSha256(_ZERO_KEY.digest(seed)).expand(_MESSAGE_INFO, 80)
    return keys[:32], keys[32:64], keys[64:]


def _open_message(
    seed: bytes,
    remote_identity: bytes,
    local_identity_djb: bytes,
    signed: bytes,
    mac: bytes,
    ciphertext: bytes,
) -> bytes:
    """Plaintext of a received SignalMessage: check ``mac`` (over 0x05 | remote identity |
    local identity | ``signed``), then decrypt ``ciphertext`` with the seed's keys.

    Raises :class:`InvalidMessage` ("bad MAC", "ciphertext does not decrypt").
    """
    cipher_key, mac_key, iv = derive_message_keys(seed)
    expected = hmac_sha256(mac_key, _DJB_TYPE + remote_identity + local_identity_djb + signed)
    if not _compare(expected[:_MAC_LEN], mac):
        raise InvalidMessage("bad MAC")
    try:
        return aes_cbc_decrypt(cipher_key, iv, ciphertext)
    except CryptoError:
        raise InvalidMessage("ciphertext does not decrypt") from None


def _seal_message(seed: bytes, plaintext: bytes) -> tuple[bytes, bytes]:
    """(ciphertext, MAC key) of a message sent with the seed's keys."""
    cipher_key, mac_key, iv = derive_message_keys(seed)
    return aes_cbc_encrypt(cipher_key, iv, plaintext), mac_key


def _message_mac(
    mac_key: bytes, local_identity_djb: bytes, remote_identity: bytes, body: bytes
) -> bytes:
    """MAC of a sent SignalMessage: HMAC(MAC key, local | 0x05 | remote | body)[:8]."""
    return hmac_sha256(mac_key, local_identity_djb + _DJB_TYPE + remote_identity + body)[:_MAC_LEN]


def _kdf_root(root_key: bytes, dh_output: bytes) -> tuple[bytes, bytes]:
    """One root-chain step: (new root key, new chain key)."""
    keys = HmacSha256(hmac_sha256(root_key, dh_output)).expand(_RATCHET_INFO, 64)
    return keys[:32], keys[32:]


def _group_keys(seed: bytes) -> tuple[bytes, bytes]:
    """(IV, AES key) of a sender key message key seed."""
    keys = HmacSha256(_ZERO_KEY.digest(seed)).expand(_GROUP_INFO, 48)
    return keys[:16], keys[16:48]


def _open_group(seed: bytes, ciphertext: bytes) -> bytes:
    """Plaintext of a SenderKeyMessage's ciphertext.

    Raises :class:`InvalidMessage` ("group ciphertext does not decrypt").
    """
    iv, key = _group_keys(seed)
    try:
        return aes_cbc_decrypt(key, iv, ciphertext)
    except CryptoError:
        raise InvalidMessage("group ciphertext does not decrypt") from None


def _seal_group(seed: bytes, plaintext: bytes) -> bytes:
    """Ciphertext of a SenderKeyMessage."""
    iv, key = _group_keys(seed)
    return aes_cbc_encrypt(key, iv, plaintext)


class Implementation(NamedTuple):
    """One implementation of the symmetric steps (the functions as the ``_``-prefixed ones
    above: raising :class:`InvalidMessage` where they do)."""

    chain_step: Callable[[bytes], tuple[bytes, bytes]]
    open_message: Callable[[bytes, bytes, bytes, bytes, bytes, bytes], bytes]
    seal_message: Callable[[bytes, bytes], tuple[bytes, bytes]]
    message_mac: Callable[[bytes, bytes, bytes, bytes], bytes]
    kdf_root: Callable[[bytes, bytes], tuple[bytes, bytes]]
    open_group: Callable[[bytes, bytes], bytes]
    seal_group: Callable[[bytes, bytes], bytes]


def _load_compiled() -> ModuleType | None:
    """``_cratchet`` set up to raise :class:`InvalidMessage`, or ``None`` when it is not built,
    is disabled (``WAMD_PURE_PYTHON=1``) or was built from another version of its source."""
    if load_compiled("wamd.signal._cratchet", Path(__file__).with_name("_cratchet.c")) is None:
        return None
    from wamd.signal import _cratchet  # (imported by load_compiled: typed by _cratchet.pyi)

    _cratchet.setup(InvalidMessage)
    return _cratchet


IMPLEMENTATIONS: dict[str, Implementation] = {
    "python": Implementation(
        _chain_step,
        _open_message,
        _seal_message,
        _message_mac,
        _kdf_root,
        _open_group,
        _seal_group,
    )
}
"""The implementations available here by name: ``"python"`` always, ``"c"`` when compiled."""
_compiled = _load_compiled()
if _compiled is not None:
    IMPLEMENTATIONS["c"] = Implementation(*(getattr(_compiled, f) for f in Implementation._fields))
ACCELERATED = _compiled is not None
"""Whether the compiled implementation is in use by default."""
active = IMPLEMENTATIONS["c" if ACCELERATED else "python"]
"""The implementation in use (callers look it up at each call, so :func:`use` switches them)."""


def use(name: str) -> None:
    """Switch every caller to the implementation ``name`` (a key of :data:`IMPLEMENTATIONS`)."""
    global active
    active = IMPLEMENTATIONS[name]
