"""Shared helpers of the Signal unit tests: two parties with sessions at the record level."""

from __future__ import annotations

from dataclasses import dataclass, field

from wamd.crypto import KeyPair
from wamd.signal import keys, wire
from wamd.signal.session_cipher import (
    LocalIdentity,
    decrypt_prekey_message,
    decrypt_signal_message,
    encrypt,
    session_from_bundle,
)
from wamd.signal.state import DEFAULT_LIMITS, Limits, SessionRecord


@dataclass
class Party:
    """One side: identity, prekeys and the record it holds for the other side."""

    local: LocalIdentity = field(
        default_factory=lambda: LocalIdentity(KeyPair.generate(), keys.generate_registration_id())
    )
    limits: Limits = DEFAULT_LIMITS
    record: SessionRecord | None = None
    signed: keys.SignedPreKey | None = None
    prekeys: dict[int, keys.PreKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.signed = keys.generate_signed_prekey(self.local.key_pair, 5)
        for pk in keys.generate_prekeys(0xFFFFFE, 4):  # wraps: ids 0xFFFFFE, 0xFFFFFF, 1, 2
            self.prekeys[pk.key_id] = pk

    def bundle(self, prekey_id: int | None = 1) -> keys.PreKeyBundle:
        assert self.signed is not None
        pk = self.prekeys[prekey_id] if prekey_id is not None else None
        return keys.PreKeyBundle(
            self.local.registration_id,
            self.local.key_pair.public,
            self.signed.key_id,
            self.signed.key_pair.public,
            self.signed.signature,
            pk.key_id if pk else None,
            pk.key_pair.public if pk else None,
        )

    def start(self, other: Party, prekey_id: int | None = 1) -> None:
        self.record = session_from_bundle(
            self.record, self.local, other.bundle(prekey_id), self.limits
        )

    def send(self, plaintext: bytes) -> tuple[str, bytes]:
        self.record, enc_type, data = encrypt(self.record, self.local, plaintext)
        return enc_type, data

    def receive(self, enc_type: str, data: bytes) -> bytes:
        if enc_type == "msg":
            self.record, plaintext, _ = decrypt_signal_message(
                self.record, self.local, data, self.limits
            )
            return plaintext
        signed = self.signed
        assert signed is not None
        result = decrypt_prekey_message(
            self.record,
            self.local,
            wire.parse_prekey_message(data),
            signed_prekey=lambda i: signed.key_pair if i == signed.key_id else None,
            prekey=lambda i: self.prekeys[i].key_pair if i in self.prekeys else None,
            limits=self.limits,
        )
        if result.consumed_prekey_id is not None:
            del self.prekeys[result.consumed_prekey_id]
        self.record = result.record
        return result.plaintext

    def snapshot(self) -> bytes:
        return self.record.serialize() if self.record is not None else b""


def connected(limits: Limits = DEFAULT_LIMITS) -> tuple[Party, Party]:
    """Alice and Bob after Alice's pkmsg and Bob's reply (both sides have stepped once)."""
    alice, bob = Party(limits=limits), Party(limits=limits)
    alice.start(bob)
    assert bob.receive(*alice.send(b"hello")) == b"hello"
    assert alice.receive(*bob.send(b"hi")) == b"hi"
    return alice, bob
