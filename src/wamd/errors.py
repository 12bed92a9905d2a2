"""The exception family of wamd.

Every error wamd raises on purpose derives from :class:`WamdError`. Bad input from the
network (malformed frames, truncated nodes, bad MACs, hostile peers) always surfaces as one
of these typed errors, never as an ``IndexError`` or a crash of the receive loop.

Subsystems add their own subclasses here so that users can catch a whole family at once
(``except DecryptionError``) or one precise case (``except NoSession``).
"""

from __future__ import annotations

import base64


class WamdError(Exception):
    """Base class of every error wamd raises on purpose."""


# --- codec -----------------------------------------------------------------------------------


class DecodeError(WamdError):
    """Malformed or truncated binary input.

    ``offset`` is the byte position in the input where decoding failed (``-1`` when unknown).
    """

    def __init__(self, message: str, offset: int = -1) -> None:
        super().__init__(f"{message} (at offset {offset})" if offset >= 0 else message)
        self.offset = offset


class EncodeError(WamdError):
    """A value cannot be represented in the binary node format."""


class AttributeMissing(WamdError, KeyError):
    """A required node attribute is absent."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the plain message
        return str(self.args[0]) if self.args else "attribute missing"


class AttributeInvalid(WamdError, ValueError):
    """A node attribute is present but cannot be read as the requested type."""


class MalformedNode(WamdError, ValueError):
    """A node lacks a required child, or its content is not of the expected kind."""


class InvalidJID(WamdError, ValueError):
    """A string or binary value is not a valid JID."""


# --- crypto ----------------------------------------------------------------------------------


class CryptoError(WamdError):
    """A cryptographic check failed (bad tag, bad padding, bad MAC, bad signature, bad key)."""


# --- transport -------------------------------------------------------------------------------


class HandshakeError(WamdError):
    """The Noise handshake failed or the peer sent a malformed handshake message."""


class CertificateError(HandshakeError):
    """The server's certificate chain did not verify against the pinned root key."""


class FrameError(WamdError):
    """A transport frame is malformed, too large, or failed to decrypt."""


class NotConnected(WamdError):
    """The operation needs a live, logged-in connection."""


class IQError(WamdError):
    """The server answered an IQ with ``type="error"``.

    ``code`` and ``text`` come from the ``<error>`` child; ``node`` is the whole answer.
    """

    def __init__(self, code: int, text: str = "", node: object | None = None) -> None:
        super().__init__(f"iq error {code}: {text}" if text else f"iq error {code}")
        self.code = code
        self.text = text
        self.node = node


class IQTimeout(WamdError, TimeoutError):
    """The server did not answer an IQ in time."""


class PairingError(WamdError):
    """Pairing failed (bad HMAC, bad signature, bad pairing code, refs exhausted...)."""


class PairVerificationError(PairingError):
    """A ``<pair-success>`` failed verification.

    ``code`` and ``text`` are what the client answers the server in its ``<iq type="error">``.
    """

    code = 500
    text = "internal-error"


class PairHMACMismatch(PairVerificationError):
    """The device identity's HMAC does not match the adv secret (iq error 401 hmac-mismatch)."""

    code = 401
    text = "hmac-mismatch"


class PairSignatureMismatch(PairVerificationError):
    """The account signature on the device identity is invalid (401 signature-mismatch)."""

    code = 401
    text = "signature-mismatch"


# --- signal ----------------------------------------------------------------------------------


class DecryptionError(WamdError):
    """An end-to-end encrypted payload could not be decrypted."""


class NoSession(DecryptionError):
    """There is no Signal session (or no sender key) for the sender."""


class InvalidMessage(DecryptionError):
    """The ciphertext is malformed, has a bad MAC, or cannot be decrypted with the state held."""


class DuplicateMessage(DecryptionError):
    """The ciphertext was already decrypted (its message key has been used)."""


class UntrustedIdentity(DecryptionError):
    """The contact's identity key changed from the one stored."""

    def __init__(self, address: str, message: str = "") -> None:
        super().__init__(message or f"identity key of {address} changed")
        self.address = address


class MessageSecretMissing(DecryptionError):
    """The secret of the original message (a poll, an event...) is not known, so a vote or
    an encrypted reaction referring to it cannot be decrypted (or sent)."""


class SendError(WamdError):
    """A message could not be sent."""


# --- groups ----------------------------------------------------------------------------------


class GroupError(IQError):
    """The server refused a group request; ``code``/``text`` are its ``<error>``."""


class GroupNotFound(GroupError):
    """The group does not exist (404 item-not-found)."""


class NotInGroup(GroupError):
    """This account is not a member of the group (403 forbidden)."""


class NotGroupAdmin(GroupError):
    """The action needs a group admin (401 not-authorized)."""


class InviteLinkInvalid(GroupError):
    """The invite code is not valid (406 not-acceptable)."""


class InviteLinkRevoked(GroupError):
    """The invite code was revoked (410 gone)."""


# --- media -----------------------------------------------------------------------------------


class MediaError(WamdError):
    """A media upload or download failed."""


class IntegrityError(MediaError):
    """Downloaded media failed its MAC or SHA-256 check."""


class MediaExpired(MediaError):
    """The media is gone from the server (HTTP 403/404/410); ask the sender's phone to re-upload."""


class MediaRetryError(MediaError):
    """The phone could not re-upload the media, or its answer could not be read.

    ``code`` is the ``<error code>`` of the phone's answer (2: it no longer has the media),
    0 when there was none.
    """

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


# --- app state -------------------------------------------------------------------------------


class AppStateError(WamdError):
    """An app-state patch or snapshot failed to verify or apply."""


class AppStateMalformed(AppStateError):
    """An app-state patch, snapshot, mutation or server answer cannot be parsed."""


class AppStateKeyMissing(AppStateError):
    """Decoding needs app-state sync keys this device does not hold (yet).

    ``key_ids`` lists the missing key ids; ask one's own devices for them (an
    ``AppStateSyncKeyRequest``) and retry when they arrive.
    """

    def __init__(self, key_ids: list[bytes], message: str = "") -> None:
        shown = ", ".join(base64.b64encode(k).decode() for k in key_ids)
        super().__init__(message or f"missing app-state sync key(s): {shown}")
        self.key_ids = key_ids


class AppStateMACMismatch(AppStateError):
    """A MAC in an app-state patch or snapshot did not verify.

    ``kind`` says which: ``"value"`` (a mutation's content MAC), ``"index"`` (a mutation's
    index MAC), ``"snapshot"`` (the LTHash of the collection after the patch: the local state
    and the server's disagree) or ``"patch"``. ``collection`` and ``version`` locate it.
    The collection must be resynchronised from a snapshot (see ``wamd.appstate``).
    """

    def __init__(self, kind: str, collection: str, version: int, detail: str = "") -> None:
        text = f"{kind} MAC mismatch in app state {collection!r} v{version}"
        super().__init__(f"{text}: {detail}" if detail else text)
        self.kind = kind
        self.collection = collection
        self.version = version


class AppStateVersionError(AppStateError):
    """App-state patches arrived out of order (a version not after the current one)."""


# --- history sync ----------------------------------------------------------------------------


class HistorySyncError(WamdError):
    """A history-sync blob or notification is malformed."""


class HistorySyncTooLarge(HistorySyncError):
    """A history-sync blob inflates past the configured size limit."""


# --- store -----------------------------------------------------------------------------------


class StoreError(WamdError):
    """The persistent store failed or holds inconsistent data."""


class LeaseHeld(StoreError):
    """Another process owns this account's lease."""


class WrongStoreKey(StoreError):
    """The store's at-rest encryption key does not open the stored secrets."""


class SchemaTooNew(StoreError):
    """The database was written by a newer wamd than this one."""


class AccountNotFound(StoreError, KeyError):
    """No account in the store has the requested id or JID."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the plain message
        return str(self.args[0]) if self.args else "account not found"
