"""Value objects the store reads and writes.

Everything here is a plain frozen dataclass. Byte strings the layers above serialize (Signal
session records, sender-key records, ADV identities, decrypted events) are opaque to the store.
JIDs are passed as their string form (``"491701234567:3@s.whatsapp.net"``); Signal addresses
as libsignal's ``"<name>.<device>"`` string.

Secrets (private keys, the ADV secret, app-state key data) never appear in a ``repr``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "AccountInfo",
    "AppStateSyncKey",
    "AppStateVersion",
    "ChatSettings",
    "Contact",
    "DeviceCredentials",
    "InboxEntry",
    "MessageSecret",
    "OutgoingMessage",
    "PreKey",
    "PrivacyToken",
    "SeenMessage",
    "SignedPreKey",
    "StoredKeyPair",
    "now",
]

EMPTY_LTHASH = bytes(128)
"""The app-state LT-hash of a collection that has never been synced (128 zero bytes)."""


def now() -> int:
    """The current Unix time in whole seconds (the store's timestamp unit)."""
    return int(time.time())


def _check_len(name: str, value: bytes, length: int) -> None:
    if len(value) != length:
        raise ValueError(f"{name} must be {length} bytes, got {len(value)}")


@dataclass(frozen=True, slots=True)
class StoredKeyPair:
    """A Curve25519 key pair as two 32-byte raw strings (the private half never in a repr).

    ``wamd.crypto.KeyPair.from_private(pair.private)`` turns it back into a usable key pair.
    """

    public: bytes
    private: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_len("public key", self.public, 32)
        _check_len("private key", self.private, 32)


@dataclass(frozen=True, slots=True)
class PreKey:
    """A one-time prekey: its id (1..0xFFFFFF) and key pair."""

    key_id: int
    key_pair: StoredKeyPair


@dataclass(frozen=True, slots=True)
class SignedPreKey:
    """A signed prekey: id, key pair, and the 64-byte XEdDSA signature by the identity key."""

    key_id: int
    key_pair: StoredKeyPair
    signature: bytes

    def __post_init__(self) -> None:
        _check_len("signed prekey signature", self.signature, 64)


@dataclass(frozen=True, slots=True)
class DeviceCredentials:
    """Everything a device needs to log in again: its keys, identity and profile.

    Created once before pairing (``jid`` is ``None`` until the phone accepts the device) and
    updated by pairing and login. One-time prekey counters live in the prekey store (they
    must be reserved atomically), not here.

    Attributes:
        noise_key: the static Noise key pair (the transport identity).
        identity_key: the Signal identity key pair.
        registration_id: the Signal registration id (14 bits in practice).
        signed_prekey: the current signed prekey.
        adv_secret_key: 32-byte secret that authenticates the pairing (HMAC of the ADV identity).
        jid: the device JID in phone-number form, ``None`` until paired.
        lid: the device JID in LID form, ``None`` until known.
        account: the serialized ``ADVSignedDeviceIdentity`` received at pairing.
        push_name: the user's display name.
        platform: the platform the primary device reported (``"android"``, ``"smbi"``...).
        business_name: the verified business name, if any.
        routing_info: the edge routing blob the server hands out (sent back on reconnect).
        extra: small named values other layers need to keep (opaque, treated as secret).
    """

    noise_key: StoredKeyPair
    identity_key: StoredKeyPair
    registration_id: int
    signed_prekey: SignedPreKey
    adv_secret_key: bytes = field(repr=False)
    jid: str | None = None
    lid: str | None = None
    account: bytes | None = field(default=None, repr=False)
    push_name: str = ""
    platform: str = ""
    business_name: str = ""
    routing_info: bytes | None = field(default=None, repr=False)
    extra: Mapping[str, bytes] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        _check_len("adv secret key", self.adv_secret_key, 32)
        if not 0 <= self.registration_id <= 0xFFFFFFFF:
            raise ValueError("registration id out of range")

    @property
    def paired(self) -> bool:
        """Whether the device has been accepted by a phone (it has a JID)."""
        return self.jid is not None


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """One account (device) in a store, as listed by ``Store.accounts()``."""

    id: int
    jid: str | None
    lid: str | None
    push_name: str
    created_at: int


@dataclass(frozen=True, slots=True)
class AppStateSyncKey:
    """An app-state sync key shared by the primary device."""

    key_id: bytes
    key_data: bytes = field(repr=False)
    fingerprint: bytes = b""
    timestamp: int = 0


@dataclass(frozen=True, slots=True)
class AppStateVersion:
    """The synced version of one app-state collection and its 128-byte LT-hash."""

    version: int = 0
    hash: bytes = EMPTY_LTHASH

    def __post_init__(self) -> None:
        _check_len("LT-hash", self.hash, 128)


@dataclass(frozen=True, slots=True)
class Contact:
    """Names known for a JID. On ``put``, a ``None`` field leaves the stored value unchanged."""

    jid: str
    first_name: str | None = None
    full_name: str | None = None
    push_name: str | None = None
    business_name: str | None = None


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """Local settings of a chat.

    ``muted_until`` is a Unix time in seconds: 0 means not muted, -1 muted forever.
    """

    muted_until: int = 0
    pinned: bool = False
    archived: bool = False


@dataclass(frozen=True, slots=True)
class MessageSecret:
    """The secret of a message (poll votes, reactions encrypted with it)."""

    chat: str
    sender: str
    message_id: str
    secret: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class PrivacyToken:
    """A trusted-contact token received from a user."""

    jid: str
    token: bytes = field(repr=False)
    timestamp: int = 0


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A sent message kept to answer retry receipts."""

    chat: str
    message_id: str
    plaintext: bytes = field(repr=False)
    timestamp: int = 0


@dataclass(frozen=True, slots=True)
class SeenMessage:
    """The identity of a received message, for the dedupe buffer."""

    chat: str
    sender: str
    message_id: str


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """A decrypted event waiting (or done) in the durable inbox.

    ``seq`` orders the entries of one account; ``kind`` names the payload's type for the layer
    that reads it back.
    """

    seq: int
    kind: str
    payload: bytes = field(repr=False)
    created_at: int = 0
    done: bool = False
