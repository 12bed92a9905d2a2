"""The media-retry request: asking the sender's phone to upload a gone blob again (sans-I/O).

When a download answers 403/404/410 (:class:`~wamd.errors.MediaExpired`), a companion sends
the phone::

    <receipt id=MSG_ID to=OWN_USER_JID type="server-error">
      <encrypt>
        <enc_p>AES-GCM(ServerErrorReceipt{stanza_id})</enc_p><enc_iv>12 bytes</enc_iv>
      </encrypt>
      <rmr jid=CHAT from_me="true|false" [participant=SENDER]/>
    </receipt>

and the phone answers with ``<notification type="mediaretry" id=MSG_ID>`` holding the same
``<rmr>`` and either ``<error code=..>`` or ``<encrypt>`` with an AES-GCM encrypted
``MediaRetryNotification`` (result and new ``direct_path``). Both payloads use the key
``HKDF-SHA256(media_key, info="WhatsApp Media Retry Notification", 32)``, a 12-byte IV and the
message id as associated data.

Both sides are here: the companion's (:func:`build_retry_receipt`,
:func:`parse_retry_notification`, :func:`decrypt_retry_notification`) and the phone's
(:func:`parse_retry_receipt`, :func:`build_retry_notification`), which the sandbox uses.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError as ProtoDecodeError

from wamd.binary import Node
from wamd.crypto import aes_gcm_decrypt, aes_gcm_encrypt, hkdf_sha256
from wamd.errors import CryptoError, MalformedNode, MediaError, MediaRetryError
from wamd.proto import media_retry_pb2
from wamd.types import JID

RETRY_INFO = b"WhatsApp Media Retry Notification"
IV_LENGTH = 12

NOT_ON_PHONE = 2
"""``<error code>`` of a notification when the phone no longer has the media."""


class RetryResult(enum.IntEnum):
    """``MediaRetryNotification.result``."""

    GENERAL_ERROR = 0
    SUCCESS = 1
    NOT_FOUND = 2
    DECRYPTION_ERROR = 3


@dataclass(frozen=True, slots=True)
class RetryTarget:
    """Which message the retry is about: its id, chat, direction and (in groups) sender."""

    message_id: str
    chat: JID
    from_me: bool
    participant: JID | None = None


@dataclass(frozen=True, slots=True)
class MediaRetryNotice:
    """A parsed ``<notification type="mediaretry">``: an error code or an encrypted answer."""

    target: RetryTarget
    timestamp: int | None
    error_code: int | None = None
    ciphertext: bytes | None = field(default=None, repr=False)
    iv: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class MediaRetryAnswer:
    """The decrypted answer: on ``SUCCESS``, ``direct_path`` locates the re-uploaded blob."""

    result: RetryResult
    direct_path: str | None
    stanza_id: str


def retry_key(media_key: bytes) -> bytes:
    """The AES-GCM key of both retry payloads."""
    if len(media_key) != 32:
        raise MediaError("a media key has 32 bytes")
    return hkdf_sha256(bytes(media_key), 32, info=RETRY_INFO)


def _rmr(target: RetryTarget) -> Node:
    attrs: dict[str, str | JID] = {
        "jid": target.chat,
        "from_me": "true" if target.from_me else "false",
    }
    if target.participant is not None:
        attrs["participant"] = target.participant
    return Node("rmr", attrs)


def _encrypt_node(ciphertext: bytes, iv: bytes) -> Node:
    return Node("encrypt", {}, [Node("enc_p", {}, ciphertext), Node("enc_iv", {}, iv)])


def build_retry_receipt(
    target: RetryTarget, media_key: bytes, own_jid: JID, *, iv: bytes | None = None
) -> Node:
    """The ``<receipt type="server-error">`` asking the phone to re-upload the media."""
    iv = os.urandom(IV_LENGTH) if iv is None else iv
    if len(iv) != IV_LENGTH:
        raise MediaError(f"the retry IV has {IV_LENGTH} bytes")
    payload = media_retry_pb2.ServerErrorReceipt(stanza_id=target.message_id).SerializeToString()
    aad = target.message_id.encode()
    ciphertext = aes_gcm_encrypt(retry_key(media_key), iv, payload, aad)
    return Node(
        "receipt",
        {"id": target.message_id, "to": own_jid.to_non_ad(), "type": "server-error"},
        [_encrypt_node(ciphertext, iv), _rmr(target)],
    )


def _target(node: Node) -> RetryTarget:
    rmr = node.require_child("rmr")
    return RetryTarget(
        message_id=node.attr_str("id"),
        chat=rmr.attr_jid("jid"),
        from_me=rmr.attr_bool("from_me", False),
        participant=rmr.attr_jid("participant", None),
    )


def _enc_parts(node: Node) -> tuple[bytes, bytes]:
    enc = node.require_child("encrypt")
    ciphertext, iv = enc.child_bytes("enc_p"), enc.child_bytes("enc_iv")
    if len(iv) != IV_LENGTH:
        raise MalformedNode(f"enc_iv has {len(iv)} bytes, not {IV_LENGTH}")
    return ciphertext, iv


def parse_retry_notification(node: Node) -> MediaRetryNotice:
    """Read a ``<notification type="mediaretry">``.

    Raises :class:`~wamd.errors.MalformedNode` (or an attribute error of the same family)
    when it is not one or lacks its parts.
    """
    if node.tag != "notification" or node.attr_str("type", "") != "mediaretry":
        raise MalformedNode(f"not a mediaretry notification: <{node.tag}>")
    target = _target(node)
    timestamp = node.attr_int("t", None)
    error = node.child("error")
    if error is not None:
        return MediaRetryNotice(target, timestamp, error_code=error.attr_int("code", 0))
    ciphertext, iv = _enc_parts(node)
    return MediaRetryNotice(target, timestamp, ciphertext=ciphertext, iv=iv)


def decrypt_retry_notification(notice: MediaRetryNotice, media_key: bytes) -> MediaRetryAnswer:
    """Decrypt the phone's answer with the message's media key.

    Raises :class:`~wamd.errors.MediaRetryError` for an error answer (``code`` 2: the phone
    no longer has the media) or an undecryptable/malformed payload.
    """
    if notice.ciphertext is None or notice.iv is None:
        code = notice.error_code or 0
        reason = "the phone no longer has the media" if code == NOT_ON_PHONE else "retry failed"
        raise MediaRetryError(f"{reason} (code {code})", code=code)
    aad = notice.target.message_id.encode()
    try:
        plain = aes_gcm_decrypt(retry_key(media_key), notice.iv, notice.ciphertext, aad)
        answer = media_retry_pb2.MediaRetryNotification.FromString(plain)
    except (CryptoError, ProtoDecodeError) as exc:
        raise MediaRetryError(f"cannot read the media retry answer: {exc}") from exc
    try:
        result = RetryResult(answer.result)
    except ValueError:
        result = RetryResult.GENERAL_ERROR
    return MediaRetryAnswer(
        result=result,
        direct_path=answer.direct_path if answer.HasField("direct_path") else None,
        stanza_id=answer.stanza_id,
    )


# --- the phone's side (used by the sandbox's simulated phone) --------------------------------


def parse_retry_receipt(node: Node, media_key: bytes) -> RetryTarget:
    """Check a server-error receipt with the media key; returns what it asks about.

    Raises :class:`~wamd.errors.MediaRetryError` when the payload does not decrypt or names
    another message.
    """
    if node.tag != "receipt" or node.attr_str("type", "") != "server-error":
        raise MalformedNode(f"not a server-error receipt: <{node.tag}>")
    target = _target(node)
    ciphertext, iv = _enc_parts(node)
    try:
        plain = aes_gcm_decrypt(retry_key(media_key), iv, ciphertext, target.message_id.encode())
        receipt = media_retry_pb2.ServerErrorReceipt.FromString(plain)
    except (CryptoError, ProtoDecodeError) as exc:
        raise MediaRetryError(f"cannot read the retry receipt: {exc}") from exc
    if receipt.stanza_id != target.message_id:
        raise MediaRetryError("the retry receipt names another message")
    return target


def build_retry_notification(
    target: RetryTarget,
    media_key: bytes | None,
    *,
    result: RetryResult = RetryResult.SUCCESS,
    direct_path: str | None = None,
    error_code: int | None = None,
    timestamp: int | None = None,
    notification_id: str | None = None,
    iv: bytes | None = None,
) -> Node:
    """The phone's ``<notification type="mediaretry">``: an error, or the encrypted answer."""
    attrs: dict[str, str | JID] = {"id": notification_id or target.message_id, "type": "mediaretry"}
    if timestamp is not None:
        attrs["t"] = str(timestamp)
    children = [_rmr(target)]
    if error_code is not None:
        children.append(Node("error", {"code": str(error_code)}))
    else:
        if media_key is None:
            raise MediaError("an encrypted retry answer needs the media key")
        iv = os.urandom(IV_LENGTH) if iv is None else iv
        answer = media_retry_pb2.MediaRetryNotification(
            stanza_id=target.message_id,
            result=result.name,
        )
        if direct_path is not None:
            answer.direct_path = direct_path
        aad = target.message_id.encode()
        ciphertext = aes_gcm_encrypt(retry_key(media_key), iv, answer.SerializeToString(), aad)
        children.insert(0, _encrypt_node(ciphertext, iv))
    return Node("notification", attrs, children)


__all__ = [
    "NOT_ON_PHONE",
    "MediaRetryAnswer",
    "MediaRetryNotice",
    "RetryResult",
    "RetryTarget",
    "build_retry_notification",
    "build_retry_receipt",
    "decrypt_retry_notification",
    "parse_retry_notification",
    "parse_retry_receipt",
    "retry_key",
]
