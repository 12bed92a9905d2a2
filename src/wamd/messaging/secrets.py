"""Message secrets: the per-message keys behind poll votes and encrypted reactions (sans-I/O).

A message that others may "modify" (a poll they vote in, a message they react to in an
encrypted way) carries 32 random bytes in ``messageContextInfo.messageSecret``. A
modification is encrypted with a key derived from that secret::

    key = HKDF-SHA256(secret, salt=none, info = original id | original sender | modifier | use case)

where both senders are the string form of the user JID without a device, and the use case is a
fixed label (``"Poll Vote"``, ``"Enc Reaction"``...). The payload is AES-256-GCM with a 12-byte
random IV; poll votes (and event responses) authenticate ``original id NUL modifier`` as
additional data, the other use cases none. This is how WhatsApp's clients do it (whatsmeow
``msgsecret.go``, Baileys ``decryptPollVote``), proven against Baileys in the interop tests.

WhatsApp is moving users from phone-number JIDs to LIDs, so a modification may have been
keyed with either form of either sender: :func:`decrypt_with_candidates` tries each pair.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from wamd.crypto import aes_gcm_decrypt, aes_gcm_encrypt, hkdf_sha256
from wamd.errors import CryptoError, InvalidMessage
from wamd.proto import e2e_pb2
from wamd.store import MessageSecret
from wamd.types import JID

__all__ = [
    "SECRET_SIZE",
    "SecretUse",
    "SecretValue",
    "decrypt_secret",
    "decrypt_with_candidates",
    "derive_key",
    "encrypt_secret",
    "message_secret",
    "new_secret",
    "secret_records",
]

SECRET_SIZE = 32
"""Length of a message secret in bytes."""

IV_SIZE = 12


class SecretUse(enum.StrEnum):
    """What a key derived from a message secret is for (the HKDF info's last part)."""

    POLL_VOTE = "Poll Vote"
    ENC_REACTION = "Enc Reaction"
    ENC_COMMENT = "Enc Comment"
    EVENT_RESPONSE = "Event Response"
    EVENT_EDIT = "Event Edit"
    MESSAGE_EDIT = "Message Edit"
    POLL_EDIT = "Poll Edit"


_WITH_AD = frozenset({SecretUse.POLL_VOTE, SecretUse.EVENT_RESPONSE})


def new_secret() -> bytes:
    """32 fresh random bytes for ``messageContextInfo.messageSecret``."""
    return os.urandom(SECRET_SIZE)


def _user(jid: JID | str) -> str:
    if isinstance(jid, str):
        jid = JID.parse(jid)
    return str(jid.to_non_ad())


def derive_key(
    secret: bytes,
    use: SecretUse,
    *,
    message_id: str,
    original_sender: JID | str,
    modifier: JID | str,
) -> tuple[bytes, bytes]:
    """The AES key and the GCM additional data for a modification of a message.

    ``message_id``/``original_sender`` name the original message (the poll), ``modifier``
    who modifies it (the voter). Devices are dropped from both JIDs.
    """
    if len(secret) != SECRET_SIZE:
        raise InvalidMessage(f"a message secret has {SECRET_SIZE} bytes, not {len(secret)}")
    original = _user(original_sender)
    by = _user(modifier)
    info = b"".join(part.encode() for part in (message_id, original, by, str(use)))
    key = hkdf_sha256(secret, 32, info=info)
    aad = f"{message_id}\x00{by}".encode() if use in _WITH_AD else b""
    return key, aad


@dataclass(frozen=True, slots=True)
class SecretValue:
    """An encrypted modification: the GCM ciphertext (with its tag) and the IV."""

    payload: bytes = field(repr=False)
    iv: bytes


def encrypt_secret(
    secret: bytes,
    use: SecretUse,
    plaintext: bytes,
    *,
    message_id: str,
    original_sender: JID | str,
    modifier: JID | str,
    iv: bytes | None = None,
) -> SecretValue:
    """Encrypt ``plaintext`` (a serialized protobuf) as ``modifier``'s modification."""
    key, aad = derive_key(
        secret, use, message_id=message_id, original_sender=original_sender, modifier=modifier
    )
    nonce = os.urandom(IV_SIZE) if iv is None else iv
    return SecretValue(aes_gcm_encrypt(key, nonce, plaintext, aad), nonce)


def decrypt_secret(
    secret: bytes,
    use: SecretUse,
    value: SecretValue,
    *,
    message_id: str,
    original_sender: JID | str,
    modifier: JID | str,
) -> bytes:
    """Decrypt a modification. Raises :class:`~wamd.errors.InvalidMessage` when it does not
    authenticate under this key (wrong secret, wrong JIDs, tampered bytes)."""
    key, aad = derive_key(
        secret, use, message_id=message_id, original_sender=original_sender, modifier=modifier
    )
    if len(value.iv) != IV_SIZE:
        raise InvalidMessage(f"a message-secret IV has {IV_SIZE} bytes, not {len(value.iv)}")
    try:
        return aes_gcm_decrypt(key, value.iv, value.payload, aad)
    except CryptoError as exc:
        raise InvalidMessage(f"{use} of {message_id} does not decrypt: {exc}") from exc


def _distinct(jids: Iterable[JID | str | None]) -> list[str]:
    seen: dict[str, None] = {}
    for jid in jids:
        if jid is not None:
            seen.setdefault(_user(jid), None)
    return list(seen)


def decrypt_with_candidates(
    secret: bytes,
    use: SecretUse,
    value: SecretValue,
    *,
    message_id: str,
    original_senders: Sequence[JID | str | None],
    modifiers: Sequence[JID | str | None],
) -> bytes:
    """:func:`decrypt_secret` trying each (original sender, modifier) pair, for a peer that
    keyed with the phone-number or the LID form of either. Raises
    :class:`~wamd.errors.InvalidMessage` when no pair decrypts."""
    originals = _distinct(original_senders)
    by = _distinct(modifiers)
    if not originals or not by:
        raise InvalidMessage("no sender to derive the message-secret key with")
    error: InvalidMessage | None = None
    for original in originals:
        for modifier in by:
            try:
                return decrypt_secret(
                    secret,
                    use,
                    value,
                    message_id=message_id,
                    original_sender=original,
                    modifier=modifier,
                )
            except InvalidMessage as exc:
                error = exc
    assert error is not None
    raise error


def message_secret(message: e2e_pb2.Message) -> bytes | None:
    """The ``messageSecret`` a message carries (looking inside ``DeviceSentMessage``)."""
    if message.HasField("device_sent_message") and message.device_sent_message.HasField("message"):
        inner = message_secret(message.device_sent_message.message)
        if inner is not None:
            return inner
    info = message.message_context_info
    if message.HasField("message_context_info") and len(info.message_secret) == SECRET_SIZE:
        return info.message_secret
    return None


def secret_records(
    message: e2e_pb2.Message,
    *,
    chat: JID,
    senders: Sequence[JID | None],
    message_id: str,
) -> list[MessageSecret]:
    """The store rows keeping a message's secret, one per known form of its sender.

    ``senders`` are the sender's JIDs (phone-number and LID forms, ``None`` when unknown);
    the chat and the senders are stored without a device. Empty when the message carries
    no secret. Store them in the transaction that records the message, so that a vote that
    follows always finds its poll's secret.
    """
    secret = message_secret(message)
    if secret is None:
        return []
    chat_text = str(chat.to_non_ad())
    return [MessageSecret(chat_text, sender, message_id, secret) for sender in _distinct(senders)]
