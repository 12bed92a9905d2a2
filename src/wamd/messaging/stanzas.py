"""The message path's stanzas, built and read without I/O.

Incoming ``<message>`` envelopes (:func:`parse_envelope`), delivery and retry receipts, acks,
incoming receipts (:func:`parse_receipt`) and retry requests (:func:`parse_retry_request`),
prekey fetches, counts and uploads, and the outgoing ``<message>`` with its
``<participants>``. Shapes follow WhatsApp Web as whatsmeow and Baileys speak it (see
docs/messaging.md). Readers raise :class:`~wamd.errors.MalformedNode` (or another
``wamd.errors`` attribute error) for stanzas missing what they must hold.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from wamd.binary import AttrValue, Node
from wamd.binary.encoder import write_value
from wamd.binary.tokens import LIST_8, TOKEN_INDEX
from wamd.errors import AttributeInvalid, AttributeMissing, InvalidJID, MalformedNode
from wamd.messaging.events import ReceiptType
from wamd.proto import e2e_pb2
from wamd.signal import PreKeyBundle
from wamd.types import JID, SERVER_JID
from wamd.types.jid import BROADCAST_SERVER, GROUP_SERVER, LID_SERVER

__all__ = [
    "KEY_BUNDLE_TYPE",
    "EncPart",
    "Envelope",
    "IncomingReceipt",
    "RetryRequest",
    "ack",
    "delivery_receipt",
    "delivery_receipt_payload",
    "media_type",
    "message_type",
    "parse_envelope",
    "parse_prekey_bundles",
    "parse_receipt",
    "parse_retry_request",
    "participant_hash",
    "prekey_count_request",
    "prekey_fetch_request",
    "prekey_node",
    "prekey_upload_request",
    "retry_receipt",
]

KEY_BUNDLE_TYPE = b"\x05"


def _u(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


def _jid(node: Node, name: str) -> JID | None:
    try:
        return node.attr_jid(name, None)
    except (AttributeInvalid, InvalidJID):
        return None


# --- incoming messages -----------------------------------------------------------------------


class EncPart(NamedTuple):
    """One ``<enc>`` child: its type (``pkmsg``/``msg``/``skmsg``), version and ciphertext.

    Immutable (a named tuple: built once per ``<enc>`` of every received message, where a
    frozen dataclass costs a call per field)."""

    type: str
    data: bytes
    version: int = 2
    retry_count: int = 0
    decrypt_fail: str = ""

    def __repr__(self) -> str:
        return (
            f"EncPart(type={self.type!r}, version={self.version!r}, "
            f"retry_count={self.retry_count!r}, decrypt_fail={self.decrypt_fail!r})"
        )


class Envelope(NamedTuple):
    """What a ``<message>`` stanza says around its ciphertexts (immutable: a named tuple,
    built once per received message)."""

    id: str
    sender: JID
    chat: JID
    from_me: bool
    timestamp: int
    encs: tuple[EncPart, ...]
    sender_alt: JID | None = None
    recipient: JID | None = None
    participant: JID | None = None
    is_group: bool = False
    push_name: str = ""
    type: str = "text"
    category: str = ""
    edit: str = ""
    offline: bool = False
    unavailable: bool = False

    @property
    def time(self) -> datetime:
        """:attr:`timestamp` as an aware datetime."""
        return datetime.fromtimestamp(self.timestamp, UTC)


def _is_own(jid: JID, own: Sequence[JID]) -> bool:
    return any(jid.user == o.user and jid.server == o.server for o in own)


def parse_envelope(node: Node, own: Sequence[JID]) -> Envelope:
    """Read a ``<message>`` stanza; ``own`` are our own JIDs (phone number and LID forms).

    The sender's other identity comes from ``sender_lid``/``sender_pn`` (1:1) or
    ``participant_lid``/``participant_pn`` (groups), with the sender's device. Raises
    :class:`~wamd.errors.MalformedNode` for a stanza that lacks what a message must hold.
    """
    try:
        return _parse_envelope(node, own)
    except (AttributeMissing, AttributeInvalid, InvalidJID) as exc:
        raise MalformedNode(f"bad message stanza: {exc}") from exc


def _str(node: Node, attrs: dict[str, AttrValue], key: str, default: str) -> str:
    value = attrs.get(key)
    if value is None:
        return default
    return value if value.__class__ is str else node.attr_str(key)


def _int(node: Node, attrs: dict[str, AttrValue], key: str, default: int) -> int:
    value = attrs.get(key)
    if value is None:
        return default
    if value.__class__ is str and value.isdigit() and value.isascii() and len(value) < 19:
        return int(value)
    return node.attr_int(key)  # a negative number, or the typed error


MAX_TIMESTAMP = 1 << 36
"""The largest ``t`` (seconds, year 4147) taken for a time: anything beyond is garbage, refused
before it reaches a ``datetime`` (which stops at year 9999) or a 64-bit column."""


def checked_timestamp(node: Node, key: str = "t") -> int:
    """The node's time attribute (0 when absent); :class:`~wamd.errors.MalformedNode` when it
    is not a number or out of range."""
    try:
        value = node.attr_int(key, 0)
    except AttributeInvalid as exc:
        raise MalformedNode(f"bad {key}: {exc}") from exc
    return _checked(value, key)


def _checked(seconds: int, key: str = "t") -> int:
    if not -MAX_TIMESTAMP <= seconds <= MAX_TIMESTAMP:
        raise MalformedNode(f"{key}={seconds} is not a time")
    return seconds


def _jid_attr(node: Node, attrs: dict[str, AttrValue], key: str) -> JID | None:
    value = attrs.get(key)
    if value is None or value.__class__ is JID:
        return value
    return _jid(node, key)


def _parse_envelope(node: Node, own: Sequence[JID]) -> Envelope:
    # The hot path of every received message: attributes are read straight from the dict
    # (the decoder already made JIDs of JID values, and most values are plain strings);
    # anything unusual goes through the node's typed readers, which raise the same errors.
    if node.tag != "message":
        raise MalformedNode(f"<{node.tag}> is not a message")
    attrs = node.attrs
    message_id = attrs.get("id")
    if message_id.__class__ is not str:
        message_id = node.attr_str("id")
    if not message_id:
        raise MalformedNode("message without an id")
    origin = attrs.get("from")
    if origin.__class__ is not JID:
        origin = node.attr_jid("from")
    assert isinstance(origin, JID)
    participant = _jid_attr(node, attrs, "participant")
    recipient = _jid_attr(node, attrs, "recipient")
    server = origin.server
    is_group = server in (GROUP_SERVER, BROADCAST_SERVER)
    if is_group:
        if participant is None:
            raise MalformedNode("group message without a participant")
        sender, chat = participant, origin
        mode = _str(node, attrs, "addressing_mode", "lid" if participant.is_lid else "pn")
        alt = _jid_attr(node, attrs, "participant_pn" if mode == "lid" else "participant_lid")
    else:
        if not origin.is_user:
            raise MalformedNode(f"message from {origin} is neither a user nor a group")
        sender = origin
        chat = recipient.to_non_ad() if recipient is not None else origin.to_non_ad()
        alt = _jid_attr(node, attrs, "sender_pn" if server == LID_SERVER else "sender_lid")
    if alt is not None and not alt.device and sender.device:
        # (the device number comes from a decoded JID: already valid)
        alt = (
            JID._make(alt.user, alt.server, 0, sender.device, alt.integrator)
            if alt.user
            else alt.with_device(sender.device)
        )
    from_me = _is_own(sender, own)
    if recipient is not None and not from_me and not is_group:
        raise MalformedNode("message with a recipient that is not from us")
    encs: list[EncPart] = []
    unavailable = False
    children = node.content
    for child in children if children.__class__ is list else ():
        tag = child.tag
        if tag == "enc":
            data = child.content
            if not isinstance(data, bytes):
                raise MalformedNode("<enc> without bytes")
            enc_attrs = child.attrs
            encs.append(
                EncPart(
                    _str(child, enc_attrs, "type", ""),
                    data,
                    _int(child, enc_attrs, "v", 2),
                    _int(child, enc_attrs, "count", 0),
                    _str(child, enc_attrs, "decrypt-fail", ""),
                )
            )
        elif tag == "unavailable":
            unavailable = True
    return Envelope(
        message_id,
        sender,
        chat,
        from_me,
        _checked(_int(node, attrs, "t", 0)),
        tuple(encs),
        alt,
        recipient,
        participant,
        is_group,
        _str(node, attrs, "notify", ""),
        _str(node, attrs, "type", "text"),
        _str(node, attrs, "category", ""),
        _str(node, attrs, "edit", ""),
        "offline" in attrs,
        unavailable,
    )


def _base_receipt(node: Node, message_id: str) -> dict[str, AttrValue]:
    attrs: dict[str, AttrValue] = {"id": message_id, "to": node.attrs.get("from", SERVER_JID)}
    for name in ("recipient", "participant"):
        value = node.attrs.get(name)
        if value is not None:
            attrs[name] = value
    return attrs


def delivery_receipt(node: Node, envelope: Envelope, *, active: bool) -> Node:
    """The receipt that confirms a decrypted and stored message (the server's ack too).

    ``type="sender"`` for a message from our own other device, ``peer_msg`` for peer
    (category ``peer``) messages, ``inactive`` while this client is not active, no type
    otherwise.
    """
    attrs = _base_receipt(node, envelope.id)
    if envelope.from_me:
        attrs["type"] = "peer_msg" if envelope.category == "peer" else "sender"
    elif not active:
        attrs["type"] = "inactive"
    return Node("receipt", attrs)


def _spliced(*texts: str) -> bytes:
    out = bytearray()
    for text in texts:
        write_value(out, text)
    return bytes(out)


# The frame payload of a delivery receipt with n attributes starts with the flag byte, the
# list header (tag + n name/value pairs), the tag and the first name: precomputed per n.
_RECEIPT_HEAD = tuple(
    b"\x00" + bytes((LIST_8, 2 * n + 1)) + TOKEN_INDEX["receipt"] + TOKEN_INDEX["id"]
    for n in range(6)
)
_TO = _spliced("to")
_RECIPIENT = _spliced("recipient")
_PARTICIPANT = _spliced("participant")
_TYPE = {kind: _spliced("type", kind) for kind in ("peer_msg", "sender", "inactive")}


def delivery_receipt_payload(node: Node, envelope: Envelope, *, active: bool) -> bytes:
    """The frame payload (flag byte and encoded node) of :func:`delivery_receipt`, byte for
    byte what ``encode_frame(delivery_receipt(node, envelope, active=active))`` gives, built
    without the node: the receipt's fixed parts are precomputed and its values spliced in
    (this runs once per received message)."""
    attrs = node.attrs
    to = attrs.get("from", SERVER_JID)
    recipient = attrs.get("recipient")
    participant = attrs.get("participant")
    if envelope.from_me:
        kind: bytes | None = _TYPE["peer_msg" if envelope.category == "peer" else "sender"]
    elif not active:
        kind = _TYPE["inactive"]
    else:
        kind = None
    count = 2 + (recipient is not None) + (participant is not None) + (kind is not None)
    out = bytearray(_RECEIPT_HEAD[count])
    write_value(out, envelope.id, "<receipt> attribute 'id'")
    out += _TO
    write_value(out, to, "<receipt> attribute 'to'")
    if recipient is not None:
        out += _RECIPIENT
        write_value(out, recipient, "<receipt> attribute 'recipient'")
    if participant is not None:
        out += _PARTICIPANT
        write_value(out, participant, "<receipt> attribute 'participant'")
    if kind is not None:
        out += kind
    return bytes(out)


def ack(node: Node, *, error: int = 0, own: JID | None = None) -> Node:
    """The ``<ack>`` of an incoming stanza (``class`` = its tag, ``error`` when non-zero)."""
    attrs: dict[str, AttrValue] = {
        "id": node.attrs.get("id", ""),
        "to": node.attrs.get("from", SERVER_JID),
        "class": node.tag,
    }
    for name in ("participant", "recipient"):
        value = node.attrs.get(name)
        if value is not None:
            attrs[name] = value
    kind = node.attrs.get("type")
    if kind is not None and node.tag != "message":
        attrs["type"] = kind
    if error:
        attrs["error"] = str(error)
    if node.tag == "message" and own is not None:
        attrs["from"] = own
    return Node("ack", attrs)


# --- retry receipts --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryKeys:
    """Our keys sent along with a retry receipt from the second attempt on."""

    identity: bytes
    prekey_id: int
    prekey: bytes
    signed_prekey_id: int
    signed_prekey: bytes
    signed_prekey_signature: bytes
    device_identity: bytes = field(repr=False)


def prekey_node(key_id: int, public: bytes, signature: bytes | None = None) -> Node:
    """``<key>`` (or ``<skey>`` with a signature) with a 3-byte id and the public key."""
    children = [Node("id", {}, _u(key_id, 3)), Node("value", {}, public)]
    if signature is not None:
        children.append(Node("signature", {}, signature))
        return Node("skey", {}, children)
    return Node("key", {}, children)


def retry_receipt(
    node: Node,
    envelope: Envelope,
    *,
    count: int,
    registration_id: int,
    keys: RetryKeys | None = None,
) -> Node:
    """Ask the sender to encrypt ``envelope``'s message again (``count`` from 1)."""
    attrs = _base_receipt(node, envelope.id)
    attrs["type"] = "retry"
    if envelope.category == "peer" and envelope.from_me:
        attrs["category"] = "peer"
    children = [
        Node(
            "retry",
            {"count": str(count), "id": envelope.id, "t": str(envelope.timestamp), "v": "1"},
        ),
        Node("registration", {}, _u(registration_id, 4)),
    ]
    if keys is not None:
        children.append(
            Node(
                "keys",
                {},
                [
                    Node("type", {}, KEY_BUNDLE_TYPE),
                    Node("identity", {}, keys.identity),
                    prekey_node(keys.prekey_id, keys.prekey),
                    prekey_node(
                        keys.signed_prekey_id, keys.signed_prekey, keys.signed_prekey_signature
                    ),
                    Node("device-identity", {}, keys.device_identity),
                ],
            )
        )
    return Node("receipt", attrs, children)


@dataclass(frozen=True, slots=True)
class RetryRequest:
    """An incoming retry receipt: which message, which attempt, and the keys it carries."""

    message_id: str
    count: int
    timestamp: int
    registration_id: int | None
    bundle: PreKeyBundle | None


def _int_bytes(data: bytes, size: int, what: str) -> int:
    if len(data) != size:
        raise MalformedNode(f"{what} is {len(data)} bytes, not {size}")
    return int.from_bytes(data, "big")


def _bundle_from(node: Node, registration_id: int) -> PreKeyBundle:
    """A prekey bundle from a node holding ``identity``, ``skey`` and optional ``key``."""
    skey = node.require_child("skey")
    key = node.child("key")
    return PreKeyBundle(
        registration_id=registration_id,
        identity_key=_key32(node.child_bytes("identity")),
        signed_prekey_id=_int_bytes(skey.child_bytes("id"), 3, "signed prekey id"),
        signed_prekey=_key32(skey.child_bytes("value")),
        signed_prekey_signature=skey.child_bytes("signature"),
        prekey_id=_int_bytes(key.child_bytes("id"), 3, "prekey id") if key else None,
        prekey=_key32(key.child_bytes("value")) if key else None,
    )


def _key32(data: bytes) -> bytes:
    if len(data) == 33 and data[:1] == KEY_BUNDLE_TYPE:
        data = data[1:]
    if len(data) != 32:
        raise MalformedNode(f"key of {len(data)} bytes")
    return data


def parse_retry_request(node: Node) -> RetryRequest:
    """Read a ``<receipt type="retry">`` (:class:`~wamd.errors.MalformedNode` when bad)."""
    try:
        return _parse_retry_request(node)
    except (AttributeMissing, AttributeInvalid, InvalidJID) as exc:
        raise MalformedNode(f"bad retry receipt: {exc}") from exc


def _parse_retry_request(node: Node) -> RetryRequest:
    retry = node.child("retry")
    if retry is None:
        raise MalformedNode("retry receipt without <retry>")
    registration = node.child("registration")
    registration_id = (
        _int_bytes(registration.content_bytes(), 4, "registration id")
        if registration is not None
        else None
    )
    keys = node.child("keys")
    bundle = None
    if keys is not None:
        if registration_id is None:
            raise MalformedNode("retry receipt with keys but no registration id")
        bundle = _bundle_from(keys, registration_id)
    return RetryRequest(
        message_id=retry.attr_str("id", node.attr_str("id")),
        count=retry.attr_int("count", 1),
        timestamp=checked_timestamp(retry),
        registration_id=registration_id,
        bundle=bundle,
    )


# --- incoming receipts -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncomingReceipt:
    """A ``<receipt>`` read: who, which chat, which messages, what kind."""

    chat: JID
    sender: JID
    ids: tuple[str, ...]
    type: ReceiptType | str
    timestamp: int
    from_me: bool
    is_group: bool


def parse_receipt(node: Node, own: Sequence[JID]) -> IncomingReceipt:
    """Read a ``<receipt>`` (``<list><item id>`` children add more message ids); raises
    :class:`~wamd.errors.MalformedNode` when it lacks its id or sender."""
    try:
        return _parse_receipt(node, own)
    except (AttributeMissing, AttributeInvalid, InvalidJID) as exc:
        raise MalformedNode(f"bad receipt: {exc}") from exc


def _parse_receipt(node: Node, own: Sequence[JID]) -> IncomingReceipt:
    origin = node.attr_jid("from")
    participant = _jid(node, "participant")
    recipient = _jid(node, "recipient")
    is_group = origin.is_group or origin.is_broadcast_list or origin.is_status_broadcast
    sender = participant if (is_group and participant is not None) else origin
    from_me = _is_own(sender, own)
    if is_group:
        chat = origin
    elif from_me and recipient is not None:
        chat = recipient.to_non_ad()
    else:
        chat = origin.to_non_ad()
    ids = [node.attr_str("id")]
    listing = node.child("list")
    if listing is not None:
        ids += [
            item.attr_str("id")
            for item in listing.children_by_tag("item")
            if isinstance(item.attrs.get("id"), str)
        ]
    return IncomingReceipt(
        chat=chat,
        sender=sender,
        ids=tuple(ids),
        type=ReceiptType.parse(node.attr_str("type", "")),
        timestamp=checked_timestamp(node),
        from_me=from_me,
        is_group=is_group,
    )


# --- prekeys ---------------------------------------------------------------------------------


def _iq(kind: str, children: list[Node]) -> Node:
    return Node("iq", {"xmlns": "encrypt", "type": kind, "to": SERVER_JID}, children)


def prekey_fetch_request(jids: Iterable[JID], *, reason: str | None = None) -> Node:
    """Ask for the prekey bundles of devices (``reason="identity"`` forces a fresh one)."""
    users = []
    for jid in jids:
        attrs: dict[str, AttrValue] = {"jid": jid}
        if reason:
            attrs["reason"] = reason
        users.append(Node("user", attrs))
    return _iq("get", [Node("key", {}, users)])


def parse_prekey_bundles(answer: Node) -> dict[JID, PreKeyBundle | MalformedNode]:
    """The bundles of a prekey-fetch answer, by device JID (a per-device failure is a
    :class:`MalformedNode` carrying the server's error)."""
    listing = answer.child("list")
    if listing is None:
        raise MalformedNode("prekey answer without <list>")
    result: dict[JID, PreKeyBundle | MalformedNode] = {}
    for user in listing.children_by_tag("user"):
        jid = _jid(user, "jid")
        if jid is None:
            continue
        error = user.child("error")
        if error is not None:
            result[jid] = MalformedNode(
                f"no prekeys for {jid}: {error.attr_str('code', '')} {error.attr_str('text', '')}"
            )
            continue
        try:
            registration = _int_bytes(user.child_bytes("registration"), 4, "registration id")
            result[jid] = _bundle_from(user, registration)
        except (MalformedNode, AttributeMissing, AttributeInvalid) as exc:
            result[jid] = MalformedNode(f"bad prekey bundle for {jid}: {exc}")
    return result


def prekey_count_request() -> Node:
    """``<iq xmlns=encrypt type=get><count/>``: how many one-time prekeys the server has."""
    return _iq("get", [Node("count")])


def parse_prekey_count(answer: Node) -> int:
    """The ``<count value>`` of an answer (or of an ``encrypt`` notification)."""
    count = answer.child("count")
    if count is None:
        raise MalformedNode("no <count>")
    return count.attr_int("value")


def prekey_upload_request(
    *,
    registration_id: int,
    identity: bytes,
    prekeys: Iterable[tuple[int, bytes]],
    signed_prekey: tuple[int, bytes, bytes],
) -> Node:
    """Upload one-time prekeys ``(id, public)`` and the signed prekey ``(id, public, sig)``."""
    return _iq(
        "set",
        [
            Node("registration", {}, _u(registration_id, 4)),
            Node("type", {}, KEY_BUNDLE_TYPE),
            Node("identity", {}, identity),
            Node("list", {}, [prekey_node(i, public) for i, public in prekeys]),
            prekey_node(*signed_prekey),
        ],
    )


# --- outgoing messages -----------------------------------------------------------------------


def participant_hash(jids: Iterable[JID]) -> str:
    """The ``phash`` of a recipient device list: ``2:`` + base64 of SHA-256's first 6 bytes
    over the sorted ``user.agent:device@server`` forms."""
    forms = sorted(f"{j.user}.{j.agent}:{j.device}@{j.server}" for j in jids)
    digest = hashlib.sha256("".join(forms).encode()).digest()[:6]
    return "2:" + base64.b64encode(digest).decode().rstrip("=")


def _unwrap(msg: e2e_pb2.Message) -> e2e_pb2.Message:
    for name in (
        "ephemeral_message",
        "view_once_message",
        "view_once_message_v2",
        "view_once_message_v2_extension",
        "document_with_caption_message",
        "lottie_sticker_message",
    ):
        if msg.HasField(name):
            return _unwrap(getattr(msg, name).message)
    return msg


_MEDIA_TYPES: tuple[tuple[str, str], ...] = (
    ("image_message", "image"),
    ("sticker_message", "sticker"),
    ("document_message", "document"),
    ("contact_message", "vcard"),
    ("contacts_array_message", "contact_array"),
    ("live_location_message", "livelocation"),
    ("list_message", "list"),
    ("list_response_message", "list_response"),
    ("buttons_response_message", "buttons_response"),
    ("product_message", "product"),
    ("interactive_response_message", "native_flow_response"),
    ("group_invite_message", "url"),
)


def media_type(message: e2e_pb2.Message) -> str:
    """The ``mediatype`` of an ``<enc>`` for this message (empty for non-media)."""
    msg = _unwrap(message)
    if msg.HasField("video_message"):
        return "gif" if msg.video_message.gif_playback else "video"
    if msg.HasField("audio_message"):
        return "ptt" if msg.audio_message.ptt else "audio"
    for name, kind in _MEDIA_TYPES:
        if msg.HasField(name):
            return kind
    return ""


def message_type(message: e2e_pb2.Message) -> str:
    """The stanza ``type``: ``reaction``, ``poll``, ``media`` or ``text``."""
    msg = _unwrap(message)
    if msg.HasField("reaction_message") or msg.HasField("enc_reaction_message"):
        return "reaction"
    if any(
        msg.HasField(n)
        for n in (
            "poll_creation_message",
            "poll_creation_message_v2",
            "poll_creation_message_v3",
            "poll_update_message",
        )
    ):
        return "poll"
    if media_type(msg):
        return "media"
    return "text"
