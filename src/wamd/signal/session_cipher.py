"""Pure record-level Signal operations: set up sessions, encrypt, decrypt ``msg`` and ``pkmsg``.

Every function takes a :class:`SessionRecord` (or ``None``) and returns a new record; nothing is
stored or modified in place. The facade in :mod:`wamd.signal.cipher` adds storage and trust.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from wamd.crypto import KeyPair, djb_encode
from wamd.errors import DuplicateMessage, InvalidMessage, NoSession
from wamd.signal import wire
from wamd.signal.keys import PreKeyBundle
from wamd.signal.ratchet import decrypt_state, encrypt_state
from wamd.signal.state import DEFAULT_LIMITS, Limits, SessionRecord, SessionState
from wamd.signal.x3dh import initiate, respond

__all__ = [
    "ENC_MSG",
    "ENC_PKMSG",
    "LocalIdentity",
    "PreKeyDecryption",
    "decrypt_prekey_message",
    "decrypt_signal_message",
    "encrypt",
    "session_from_bundle",
]

ENC_MSG = "msg"
ENC_PKMSG = "pkmsg"


@dataclass(frozen=True, slots=True)
class LocalIdentity:
    """Our own identity key pair and registration id."""

    key_pair: KeyPair
    registration_id: int
    djb: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "djb", djb_encode(self.key_pair.public))


def session_from_bundle(
    record: SessionRecord | None,
    local: LocalIdentity,
    bundle: PreKeyBundle,
    limits: Limits = DEFAULT_LIMITS,
) -> SessionRecord:
    """Verify ``bundle`` and start a new current session from it (the old one is archived).

    Raises :class:`~wamd.errors.CryptoError` when the signed prekey signature is bad.
    """
    bundle.verify()
    state = initiate(local.key_pair, bundle)
    return (record or SessionRecord()).promote(state, limits)


def encrypt(
    record: SessionRecord | None, local: LocalIdentity, plaintext: bytes
) -> tuple[SessionRecord, str, bytes]:
    """Encrypt with the current session: (new record, ``"pkmsg"`` or ``"msg"``, ciphertext).

    Raises :class:`NoSession` when there is no current session.
    """
    state = record.current if record is not None else None
    if record is None or state is None:
        raise NoSession("no session to encrypt with")
    new_state, message = encrypt_state(state, local.djb, plaintext)
    pending = state.pending
    if pending is None:
        return record.with_current(new_state), ENC_MSG, message
    data = wire.build_prekey_message(
        registration_id=local.registration_id,
        pre_key_id=pending.pre_key_id,
        signed_pre_key_id=pending.signed_pre_key_id,
        base_key=pending.base_key,
        identity_key=local.key_pair.public,
        message=message,
    )
    return record.with_current(new_state), ENC_PKMSG, data


def decrypt_signal_message(
    record: SessionRecord | None, local: LocalIdentity, data: bytes, limits: Limits = DEFAULT_LIMITS
) -> tuple[SessionRecord, bytes, SessionState]:
    """Decrypt a ``msg`` with the current session, else with an archived one.

    Returns (new record, plaintext, the state that decrypted it). Raises :class:`NoSession`,
    :class:`InvalidMessage` or :class:`DuplicateMessage`.
    """
    if record is None or (record.current is None and record.previous_count == 0):
        raise NoSession("no session to decrypt with")
    message = wire.parse_signal_message(data)
    first_error: InvalidMessage | None = None
    if record.current is not None:
        try:
            state, plaintext = decrypt_state(record.current, local.djb, message, limits)
            return record.with_current(state), plaintext, state
        except DuplicateMessage:
            raise
        except InvalidMessage as exc:
            first_error = exc
    for index in range(record.previous_count):
        try:
            state, plaintext = decrypt_state(
                record.previous_state(index), local.djb, message, limits
            )
            return record.with_previous(index, state), plaintext, state
        except DuplicateMessage:
            raise
        except InvalidMessage as exc:
            first_error = first_error or exc
    raise first_error or InvalidMessage("no session could decrypt the message")


class PreKeyDecryption(NamedTuple):
    """What decrypting a ``pkmsg`` produced."""

    record: SessionRecord
    plaintext: bytes
    state: SessionState
    consumed_prekey_id: int | None
    new_session: bool


def decrypt_prekey_message(
    record: SessionRecord | None,
    local: LocalIdentity,
    message: wire.PreKeyMessage,
    *,
    signed_prekey: Callable[[int], KeyPair | None],
    prekey: Callable[[int], KeyPair | None],
    limits: Limits = DEFAULT_LIMITS,
) -> PreKeyDecryption:
    """Decrypt a parsed ``pkmsg``, starting a new session from its X3DH header when needed.

    A header whose base key matches a known session (the peer repeats the header until we
    reply) reuses that session. Otherwise the signed prekey and one-time prekey it names are
    looked up (missing ones raise :class:`InvalidMessage`) and a new current session is made.
    """
    inner = wire.parse_signal_message(message.message)
    if record is not None:
        # the current state first, then archived ones (parsed only when reached)
        index, known, count = -1, record.current, record.previous_count
        while True:
            if known is not None and known.base_key == message.base_key and not known.initiator:
                if known.remote_identity != message.identity_key:
                    raise InvalidMessage("PreKeySignalMessage identity does not match its session")
                state, plaintext = decrypt_state(known, local.djb, inner, limits)
                new_record = (
                    record.with_current(state) if index < 0 else record.with_previous(index, state)
                )
                return PreKeyDecryption(new_record, plaintext, state, None, False)
            index += 1
            if index >= count:
                break
            known = record.previous_state(index)
    signed = signed_prekey(message.signed_pre_key_id)
    if signed is None:
        raise InvalidMessage(f"unknown signed prekey id {message.signed_pre_key_id}")
    one_time = None
    if message.pre_key_id is not None:
        one_time = prekey(message.pre_key_id)
        if one_time is None:
            raise InvalidMessage(f"unknown one-time prekey id {message.pre_key_id}")
    fresh = respond(
        local.key_pair,
        signed,
        one_time,
        message.identity_key,
        message.base_key,
        message.registration_id,
    )
    state, plaintext = decrypt_state(fresh, local.djb, inner, limits)
    new_record = (record or SessionRecord()).promote(state, limits)
    return PreKeyDecryption(new_record, plaintext, state, message.pre_key_id, True)
