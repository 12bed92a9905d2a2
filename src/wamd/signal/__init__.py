"""The Signal protocol, wire-compatible with libsignal: X3DH, the Double Ratchet, sender keys.

The pure core works on record values (:class:`SessionRecord`, :class:`SenderKeyRecord`) that
serialize to bytes; :class:`SignalCipher` is the facade the client uses for the WhatsApp enc
types ``pkmsg`` / ``msg`` / ``skmsg`` over a store, with decryption that writes nothing until
the caller commits the :class:`ChangeSet`.
"""

from __future__ import annotations

from wamd.signal.cipher import (
    ENC_MSG,
    ENC_PKMSG,
    ENC_SKMSG,
    ChangeSet,
    DecryptResult,
    EncryptResult,
    GroupEncryptResult,
    IdentityChange,
    SignalBatch,
    SignalCipher,
    TrustPolicy,
)
from wamd.signal.group import SenderKeyRecord
from wamd.signal.keys import (
    MAX_PREKEY_ID,
    PreKey,
    PreKeyBundle,
    SignedPreKey,
    generate_prekeys,
    generate_registration_id,
    generate_signed_prekey,
    next_prekey_id,
)
from wamd.signal.padding import pad, unpad
from wamd.signal.session_cipher import LocalIdentity
from wamd.signal.state import Limits, SessionRecord, SessionState
from wamd.signal.store import SignalStore

__all__ = [
    "ENC_MSG",
    "ENC_PKMSG",
    "ENC_SKMSG",
    "MAX_PREKEY_ID",
    "ChangeSet",
    "DecryptResult",
    "EncryptResult",
    "GroupEncryptResult",
    "IdentityChange",
    "Limits",
    "LocalIdentity",
    "PreKey",
    "PreKeyBundle",
    "SenderKeyRecord",
    "SessionRecord",
    "SessionState",
    "SignalBatch",
    "SignalCipher",
    "SignalStore",
    "SignedPreKey",
    "TrustPolicy",
    "generate_prekeys",
    "generate_registration_id",
    "generate_signed_prekey",
    "next_prekey_id",
    "pad",
    "unpad",
]
