"""wamd's protobuf schemas against Baileys' (a schema nobody here wrote), both ways.

1. Schema: starting from the root messages, every field of ours is matched by number with
   Baileys' field; label, scalar type, message/enum kind and (normalised) name must agree, and
   enum values with the same name must have the same number.
2. Realistic messages built with Baileys' generated classes (tests/interop/proto_peer.mjs)
   decode in wamd to the same field-by-field tree, and wamd's re-encoding decodes in Baileys to
   that tree again.
3. Every field both schemas declare, filled with distinctive values (negative, 64-bit, zero,
   empty, unicode) is encoded by each side and decoded by the other.

Trees are keyed by field number; 64-bit integers are decimal strings, bytes are base64.
"""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import unknown_fields
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from wamd.proto import (
    adv_pb2,
    appstate_pb2,
    cert_pb2,
    common_pb2,
    companion_pb2,
    e2e_pb2,
    handshake_pb2,
    history_pb2,
    media_retry_pb2,
    web_pb2,
)

pytestmark = pytest.mark.interop

Tree = dict[str, Any]

# Our root messages and the Baileys (WAProto) type each corresponds to. Everything reachable
# from these through message-typed fields is paired by field number.
ROOTS: list[tuple[type[Message], str]] = [
    (handshake_pb2.HandshakeMessage, "proto.HandshakeMessage"),
    (handshake_pb2.ClientPayload, "proto.ClientPayload"),
    (cert_pb2.CertChain, "proto.CertChain"),
    (cert_pb2.CertChain.NoiseCertificate.Details, "proto.CertChain.NoiseCertificate.Details"),
    (cert_pb2.NoiseCertificate, "proto.NoiseCertificate"),
    (cert_pb2.NoiseCertificate.Details, "proto.NoiseCertificate.Details"),
    (adv_pb2.ADVSignedDeviceIdentityHMAC, "proto.ADVSignedDeviceIdentityHMAC"),
    (adv_pb2.ADVSignedDeviceIdentity, "proto.ADVSignedDeviceIdentity"),
    (adv_pb2.ADVDeviceIdentity, "proto.ADVDeviceIdentity"),
    (adv_pb2.ADVKeyIndexList, "proto.ADVKeyIndexList"),
    (adv_pb2.ADVSignedKeyIndexList, "proto.ADVSignedKeyIndexList"),
    (companion_pb2.DeviceProps, "proto.DeviceProps"),
    (companion_pb2.CompanionEphemeralIdentity, "proto.CompanionEphemeralIdentity"),
    (companion_pb2.ProloguePayload, "proto.ProloguePayload"),
    (companion_pb2.PrimaryEphemeralIdentity, "proto.PrimaryEphemeralIdentity"),
    (companion_pb2.PairingRequest, "proto.PairingRequest"),
    (companion_pb2.EncryptedPairingRequest, "proto.EncryptedPairingRequest"),
    (companion_pb2.ClientPairingProps, "proto.ClientPairingProps"),
    (common_pb2.MessageKey, "proto.MessageKey"),
    (e2e_pb2.Message, "proto.Message"),
    (e2e_pb2.PollVoteMessage, "proto.Message.PollVoteMessage"),
    (e2e_pb2.EventResponseMessage, "proto.Message.EventResponseMessage"),
    (e2e_pb2.MessageSecretMessage, "proto.MessageSecretMessage"),
    (web_pb2.WebMessageInfo, "proto.WebMessageInfo"),
    (web_pb2.WebNotificationsInfo, "proto.WebNotificationsInfo"),
    (web_pb2.NotificationMessageInfo, "proto.NotificationMessageInfo"),
    (history_pb2.HistorySync, "proto.HistorySync"),
    (appstate_pb2.SyncdPatch, "proto.SyncdPatch"),
    (appstate_pb2.SyncdSnapshot, "proto.SyncdSnapshot"),
    (appstate_pb2.SyncdMutations, "proto.SyncdMutations"),
    (appstate_pb2.SyncActionData, "proto.SyncActionData"),
    (appstate_pb2.PatchDebugData, "proto.PatchDebugData"),
    (media_retry_pb2.MediaRetryNotification, "proto.MediaRetryNotification"),
    (media_retry_pb2.ServerErrorReceipt, "proto.ServerErrorReceipt"),
]

# Field names that differ from Baileys' beyond case and underscores (WhatsApp renamed them).
NAME_DIFFERENCES: set[tuple[str, str]] = {
    (
        "wamd.e2e.MessageHistoryMetadata.oldest_message_timestamp_in_window",
        "oldestMessageTimestamp",
    ),
}

SCALAR_NAMES = {
    FieldDescriptor.TYPE_DOUBLE: "double",
    FieldDescriptor.TYPE_FLOAT: "float",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_UINT64: "uint64",
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_FIXED64: "fixed64",
    FieldDescriptor.TYPE_FIXED32: "fixed32",
    FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_SFIXED32: "sfixed32",
    FieldDescriptor.TYPE_SFIXED64: "sfixed64",
    FieldDescriptor.TYPE_SINT32: "sint32",
    FieldDescriptor.TYPE_SINT64: "sint64",
}
LONG_TYPES = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
    FieldDescriptor.TYPE_SINT64,
}
FD = FieldDescriptor
PEER = Path(__file__).with_name("proto_peer.mjs")


def _peer(request: dict[str, Any], cwd: Path) -> Any:
    proc = subprocess.run(
        ["node", str(PEER)],
        input=json.dumps(request),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _is_repeated(fd: FieldDescriptor) -> bool:
    return bool(fd.is_repeated)


def _norm(name: str) -> str:
    return name.replace("_", "").lower()


# --- canonical trees -------------------------------------------------------------------------


def canon(msg: Message) -> Tree:
    """The field-number tree of a parsed message; unknown fields appear under "unknown"."""
    out: Tree = {}
    for fd, value in msg.ListFields():
        if _is_repeated(fd):
            out[str(fd.number)] = [_canon_value(fd, v) for v in value]
        else:
            out[str(fd.number)] = _canon_value(fd, value)
    unknown = unknown_fields.UnknownFieldSet(msg)
    if len(unknown):
        out["unknown"] = sorted({f.field_number for f in unknown})
    return out


def _canon_value(fd: FieldDescriptor, value: Any) -> Any:
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        return canon(value)
    if fd.type in LONG_TYPES:
        return str(value)
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode()
    return value


def from_tree(cls: type[Message], tree: Tree) -> Message:
    """Builds one of our messages from a field-number tree."""
    msg = cls()
    _fill(msg, tree)
    return msg


def _fill(msg: Message, tree: Tree) -> None:
    by_number = msg.DESCRIPTOR.fields_by_number
    for key, value in tree.items():
        fd = by_number[int(key)]
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            if _is_repeated(fd):
                for item in value:
                    _fill(getattr(msg, fd.name).add(), item)
            else:
                sub = getattr(msg, fd.name)
                sub.SetInParent()
                _fill(sub, value)
            continue
        conv = _from_canon(fd)
        if _is_repeated(fd):
            getattr(msg, fd.name).extend(conv(v) for v in value)
        else:
            setattr(msg, fd.name, conv(value))


def _from_canon(fd: FieldDescriptor) -> Any:
    if fd.type in LONG_TYPES:
        return int
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64decode
    return lambda v: v


# --- schema pairing ------------------------------------------------------------------------


@dataclass
class Pairing:
    """Our descriptors matched with Baileys' types, and what did not match."""

    messages: dict[str, set[str]] = field(default_factory=dict)  # ours -> Baileys types
    enums: dict[str, set[str]] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)
    unverified_fields: list[str] = field(default_factory=list)
    descriptors: dict[str, Descriptor] = field(default_factory=dict)


def pair_schemas(schema: dict[str, Any]) -> Pairing:
    theirs_msgs: dict[str, Any] = schema["messages"]
    theirs_enums: dict[str, dict[str, int]] = schema["enums"]
    result = Pairing()
    todo: list[tuple[Descriptor, str]] = [(cls.DESCRIPTOR, name) for cls, name in ROOTS]
    for _, name in todo:
        assert name in theirs_msgs, f"Baileys has no {name}"
    while todo:
        ours, their_name = todo.pop()
        seen = result.messages.setdefault(ours.full_name, set())
        if their_name in seen:
            continue
        seen.add(their_name)
        result.descriptors[ours.full_name] = ours
        their_fields = {f["id"]: f for f in theirs_msgs[their_name]["fields"]}
        for fd in ours.fields:
            where = f"{ours.full_name}.{fd.name} ({fd.number}) vs {their_name}"
            theirs = their_fields.get(fd.number)
            if theirs is None:
                result.unverified_fields.append(f"{ours.full_name}.{fd.name}")
                continue
            if _norm(fd.name) != _norm(theirs["name"]) and (
                (ours.full_name + "." + fd.name, theirs["name"]) not in NAME_DIFFERENCES
            ):
                result.conflicts.append(f"{where}: name {theirs['name']!r}")
            if _is_repeated(fd) != theirs["repeated"]:
                result.conflicts.append(f"{where}: repeated {theirs['repeated']}")
            if fd.type == FieldDescriptor.TYPE_MESSAGE:
                if theirs["kind"] != "message":
                    result.conflicts.append(f"{where}: message vs {theirs['type']}")
                else:
                    todo.append((fd.message_type, theirs["resolved"]))
            elif fd.type == FieldDescriptor.TYPE_ENUM:
                if theirs["kind"] != "enum":
                    result.conflicts.append(f"{where}: enum vs {theirs['type']}")
                else:
                    _pair_enum(fd.enum_type, theirs["resolved"], theirs_enums, result)
            elif SCALAR_NAMES[fd.type] != theirs["type"]:
                result.conflicts.append(f"{where}: {SCALAR_NAMES[fd.type]} vs {theirs['type']}")
    return result


def _pair_enum(
    ours: EnumDescriptor, their_name: str, theirs: dict[str, dict[str, int]], result: Pairing
) -> None:
    result.enums.setdefault(ours.full_name, set()).add(their_name)
    values = theirs[their_name]
    for value in ours.values:
        if value.name in values and values[value.name] != value.number:
            result.conflicts.append(
                f"{ours.full_name}.{value.name} = {value.number} vs {their_name} = "
                f"{values[value.name]}"
            )


# --- populated trees -------------------------------------------------------------------------


class Values:
    """Distinctive values per scalar type, cycling through edge cases (zero, empty, negative)."""

    def __init__(self) -> None:
        self.n = 0

    def scalar(self, fd: FieldDescriptor) -> Any:
        self.n += 1
        n = self.n
        t = fd.type
        zero = n % 7 == 0  # an explicit zero / empty / false, to check presence survives
        if t == FieldDescriptor.TYPE_BOOL:
            return n % 2 == 0
        if t == FieldDescriptor.TYPE_STRING:
            return "" if zero else f"s{n}-ünï✓"
        if t == FieldDescriptor.TYPE_BYTES:
            return "" if zero else base64.b64encode(bytes([0, 255, n % 256, 1])).decode()
        if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return 0.0 if zero else n + 0.25
        if t in (FD.TYPE_INT32, FD.TYPE_SFIXED32, FD.TYPE_SINT32):
            return 0 if zero else -(n * 1000) if n % 2 else 2**31 - n
        if t in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
            return 0 if zero else 2**32 - n
        if t in (FD.TYPE_INT64, FD.TYPE_SFIXED64, FD.TYPE_SINT64):
            return "0" if zero else str(-(2**40 + n) if n % 2 else 2**62 + n)
        if t in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
            return "0" if zero else str(2**64 - n)
        raise AssertionError(f"unhandled type {t}")


def populate(
    ours: Descriptor,
    their_name: str,
    schema: dict[str, Any],
    values: Values,
    variant: int,
    path: tuple[str, ...],
    depth: int,
) -> Tree:
    """A tree setting every field both schemas declare (one member per oneof).

    Message-typed fields are filled down to ``depth`` levels, skipping types already on
    ``path`` (so recursive schemas stay finite).
    """
    their_fields = {f["id"]: f for f in schema["messages"][their_name]["fields"]}
    tree: Tree = {}
    for fd in ours.fields:
        theirs = their_fields.get(fd.number)
        if theirs is None:
            continue
        oneof = fd.containing_oneof
        if oneof is not None and fd is not oneof.fields[variant % len(oneof.fields)]:
            continue
        count = 2 if _is_repeated(fd) else 1
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            count = 2 if _is_repeated(fd) and len(path) <= 1 else 1  # keep trees small
            if fd.message_type.full_name in path or depth == 0:
                continue
            items = [
                populate(
                    fd.message_type,
                    theirs["resolved"],
                    schema,
                    values,
                    variant,
                    (*path, fd.message_type.full_name),
                    depth - 1,
                )
                for _ in range(count)
            ]
        elif fd.type == FieldDescriptor.TYPE_ENUM:
            shared = sorted(
                v.number
                for v in fd.enum_type.values
                if schema["enums"][theirs["resolved"]].get(v.name) == v.number
            )
            if not shared:
                continue
            items = []
            for _ in range(count):
                values.n += 1
                items.append(shared[values.n % len(shared)])
        else:
            items = [values.scalar(fd) for _ in range(count)]
        tree[str(fd.number)] = items if _is_repeated(fd) else items[0]
    return tree


def covered_fields(d: Descriptor, tree: Tree, into: set[tuple[str, int]]) -> None:
    """Adds (message full name, field number) for every field set anywhere in ``tree``."""
    for key, value in tree.items():
        fd = d.fields_by_number[int(key)]
        into.add((d.full_name, fd.number))
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            for item in value if _is_repeated(fd) else [value]:
                covered_fields(fd.message_type, item, into)


PopulatedItem = tuple[str, type[Message], str, Tree]


def populated_items(schema: dict[str, Any], pairing: Pairing) -> list[PopulatedItem]:
    """Deep trees for the roots, then small trees for types whose fields those missed."""
    items: list[PopulatedItem] = []
    covered: set[tuple[str, int]] = set()
    for cls, their_name in ROOTS:
        d = cls.DESCRIPTOR
        for variant in (0, 1):
            tree = populate(d, their_name, schema, Values(), variant, (d.full_name,), 4)
            covered_fields(d, tree, covered)
            items.append((f"{d.full_name}#{variant}", cls, their_name, tree))
    for name, d in sorted(pairing.descriptors.items()):
        if all((name, fd.number) in covered for fd in d.fields):
            continue
        cls = message_class(d)
        variants = max([len(o.fields) for o in d.oneofs], default=1)
        for their_name in sorted(pairing.messages[name]):
            for variant in range(variants):
                tree = populate(d, their_name, schema, Values(), variant, (), 2)
                covered_fields(d, tree, covered)
                items.append((f"{name}@{their_name}#{variant}", cls, their_name, tree))
    return items


def message_class(d: Descriptor) -> type[Message]:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(d)


# --- tests -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema(node_peers: Path) -> dict[str, Any]:
    result: dict[str, Any] = _peer({"op": "schema"}, node_peers)
    return result


def test_schemas_agree_with_baileys(schema: dict[str, Any]) -> None:
    pairing = pair_schemas(schema)
    assert not pairing.conflicts, "\n".join(pairing.conflicts)


def test_the_required_topics_are_checked_against_baileys(schema: dict[str, Any]) -> None:
    pairing = pair_schemas(schema)
    required = [
        "wamd.handshake.HandshakeMessage.ClientHello",
        "wamd.handshake.HandshakeMessage.ServerHello",
        "wamd.handshake.HandshakeMessage.ClientFinish",
        "wamd.handshake.ClientPayload.UserAgent",
        "wamd.handshake.ClientPayload.UserAgent.AppVersion",
        "wamd.handshake.ClientPayload.WebInfo",
        "wamd.handshake.ClientPayload.DevicePairingRegistrationData",
        "wamd.cert.CertChain.NoiseCertificate",
        "wamd.companion.DeviceProps.HistorySyncConfig",
        "wamd.e2e.ExtendedTextMessage",
        "wamd.e2e.ImageMessage",
        "wamd.e2e.VideoMessage",
        "wamd.e2e.AudioMessage",
        "wamd.e2e.DocumentMessage",
        "wamd.e2e.StickerMessage",
        "wamd.e2e.LocationMessage",
        "wamd.e2e.LiveLocationMessage",
        "wamd.e2e.ContactMessage",
        "wamd.e2e.ContactsArrayMessage",
        "wamd.e2e.ReactionMessage",
        "wamd.e2e.EncReactionMessage",
        "wamd.e2e.ProtocolMessage",
        "wamd.e2e.HistorySyncNotification",
        "wamd.e2e.AppStateSyncKeyShare",
        "wamd.e2e.AppStateSyncKeyRequest",
        "wamd.e2e.AppStateSyncKey",
        "wamd.e2e.AppStateSyncKeyData",
        "wamd.e2e.AppStateSyncKeyFingerprint",
        "wamd.e2e.PeerDataOperationRequestMessage",
        "wamd.e2e.PeerDataOperationRequestResponseMessage",
        "wamd.e2e.PollCreationMessage",
        "wamd.e2e.PollUpdateMessage",
        "wamd.e2e.PollEncValue",
        "wamd.e2e.SenderKeyDistributionMessage",
        "wamd.e2e.DeviceSentMessage",
        "wamd.e2e.MessageContextInfo",
        "wamd.e2e.DeviceListMetadata",
        "wamd.e2e.ContextInfo",
        "wamd.e2e.FutureProofMessage",
        "wamd.e2e.KeepInChatMessage",
        "wamd.e2e.PinInChatMessage",
        "wamd.e2e.GroupInviteMessage",
        "wamd.e2e.ButtonsMessage",
        "wamd.e2e.ButtonsResponseMessage",
        "wamd.e2e.ListMessage",
        "wamd.e2e.ListResponseMessage",
        "wamd.e2e.TemplateMessage",
        "wamd.e2e.TemplateButtonReplyMessage",
        "wamd.e2e.InteractiveMessage",
        "wamd.e2e.InteractiveResponseMessage",
        "wamd.web.UserReceipt",
        "wamd.web.Reaction",
        "wamd.web.PollUpdate",
        "wamd.history.Conversation",
        "wamd.history.HistorySyncMsg",
        "wamd.history.Pushname",
        "wamd.history.GlobalSettings",
        "wamd.appstate.SyncdMutation",
        "wamd.appstate.SyncdRecord",
        "wamd.appstate.SyncdIndex",
        "wamd.appstate.SyncdValue",
        "wamd.appstate.KeyId",
        "wamd.appstate.SyncdVersion",
        "wamd.appstate.ExternalBlobReference",
        "wamd.appstate.ExitCode",
        "wamd.appstate.SyncActionValue",
        "wamd.appstate.MuteAction",
        "wamd.appstate.PinAction",
        "wamd.appstate.ArchiveChatAction",
        "wamd.appstate.StarAction",
        "wamd.appstate.MarkChatAsReadAction",
        "wamd.appstate.DeleteMessageForMeAction",
        "wamd.appstate.ClearChatAction",
        "wamd.appstate.DeleteChatAction",
        "wamd.appstate.ContactAction",
        "wamd.appstate.PushNameSetting",
        "wamd.appstate.LabelEditAction",
        "wamd.appstate.LabelAssociationAction",
        "wamd.appstate.LocaleSetting",
        "wamd.appstate.UnarchiveChatsSetting",
        "wamd.appstate.TimeFormatAction",
        "wamd.appstate.SyncActionMessageRange",
    ]
    missing = [name for name in required if name not in pairing.messages]
    assert not missing, f"not reached from the roots / not in Baileys: {missing}"


def test_every_declared_message_is_checked_or_known_to_be_newer(schema: dict[str, Any]) -> None:
    """Each of our messages is paired with a Baileys type unless Baileys rc14 predates it."""
    pairing = pair_schemas(schema)
    ours: set[str] = set()
    modules = (
        adv_pb2,
        appstate_pb2,
        cert_pb2,
        common_pb2,
        companion_pb2,
        e2e_pb2,
        handshake_pb2,
        history_pb2,
        media_retry_pb2,
        web_pb2,
    )

    def walk(d: Descriptor) -> None:
        ours.add(d.full_name)
        for nested in d.nested_types:
            walk(nested)

    for module in modules:
        for d in module.DESCRIPTOR.message_types_by_name.values():
            walk(d)
    unpaired = sorted(ours - set(pairing.messages))
    # rc14's WAProto is older than the schemas these files follow; what it lacks cannot be
    # checked against it. The list must be exact, so it shrinks when Baileys catches up.
    assert set(unpaired) == NEWER_THAN_BAILEYS, sorted(set(unpaired) ^ NEWER_THAN_BAILEYS)


NEWER_THAN_BAILEYS: set[str] = {
    "wamd.appstate.SyncdPlainTextRecord",  # fatal-recovery answers: WAProto of whatsmeow
    "wamd.appstate.SyncdSnapshotRecovery",
    "wamd.appstate.BubbleLockMessageAction",
    "wamd.appstate.CoexStateSync",
    "wamd.appstate.CoexStateSync.CollectionMutations",
    "wamd.appstate.CoexStateSync.Mutation",
    "wamd.appstate.LabelSublistAction",
    "wamd.appstate.NctSaltSyncAction",
    "wamd.appstate.OutContactAction",
    "wamd.appstate.SettingsSyncAction",
    "wamd.appstate.SharedDeviceAllowlistAction",
    "wamd.appstate.StatusPrivacyAction.CustomList",
    "wamd.appstate.ThreadPinAction",
    "wamd.e2e.BotHistoryShareSyncMetadata",
    "wamd.e2e.ChatCustomImageWallpaper",
    "wamd.e2e.ChatDefaultWallpaper",
    "wamd.e2e.ChatSolidColorWallpaper",
    "wamd.e2e.ChatStockImageWallpaper",
    "wamd.e2e.ChatThemeSetting",
    "wamd.e2e.ConditionalRevealMessage",
    "wamd.e2e.ContextInfo.InstagramThreadLink",
    "wamd.e2e.ContextInfo.PartiallySelectedContent",
    "wamd.e2e.EventInviteMessage",
    "wamd.e2e.FullHistorySyncOnDemandConfig",
    "wamd.e2e.GroupRootKeyShare",
    "wamd.e2e.GroupRootKeyShareEntry",
    "wamd.e2e.HistoryShareMessageEntry",
    "wamd.e2e.InteractiveMessage.BloksWidget",
    "wamd.e2e.MarkAsVerifiedAction",
    "wamd.e2e.MediaDomainInfo",
    "wamd.e2e.MusicMessage",
    "wamd.e2e.PeerDataOperationRequestMessage.BizBroadcastInsightsContactListRequest",
    "wamd.e2e.PeerDataOperationRequestMessage.BizBroadcastInsightsRefreshRequest",
    "wamd.e2e.PeerDataOperationRequestMessage.CompanionCanonicalUserNonceFetchRequest",
    "wamd.e2e.PeerDataOperationRequestResponseMessage.PeerDataOperationResult.BizBroadcastInsightsContactListResponse",
    "wamd.e2e.PeerDataOperationRequestResponseMessage.PeerDataOperationResult.BizBroadcastInsightsContactState",
    "wamd.e2e.PeerDataOperationRequestResponseMessage.PeerDataOperationResult.ContactRefreshResponse",
    "wamd.e2e.PeerDataOperationRequestResponseMessage.PeerDataOperationResult.FlowResponsesCsvBundle",
    "wamd.e2e.PollAddOptionMessage",
    "wamd.e2e.RootSecretDistributeMessage",
    "wamd.e2e.SplitPaymentMessage",
    "wamd.e2e.SplitPaymentParticipant",
    "wamd.e2e.SplitPaymentUpdateMessage",
    "wamd.e2e.StatusLinkPreviewMetadata",
    "wamd.history.IdentityVerificationState",
    "wamd.history.InlineContact",
    "wamd.web.PollAdditionalMetadata.PollNameHashHistoryEntry",
    "wamd.web.ScheduledMessageMetadata",
}


@pytest.fixture(scope="module")
def samples(node_peers: Path) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = _peer({"op": "samples"}, node_peers)
    return result


CLASSES: dict[str, type[Message]] = {name: cls for cls, name in ROOTS}


def test_baileys_built_messages_decode_field_by_field(samples: list[dict[str, Any]]) -> None:
    assert len(samples) >= 50
    for sample in samples:
        cls = CLASSES[sample["type"]]
        ours = cls.FromString(base64.b64decode(sample["b64"]))
        assert canon(ours) == sample["tree"], sample["name"]


def test_wamd_reencoding_of_baileys_messages_decodes_in_baileys(
    samples: list[dict[str, Any]], node_peers: Path
) -> None:
    items = []
    for sample in samples:
        ours = CLASSES[sample["type"]].FromString(base64.b64decode(sample["b64"]))
        items.append({"type": sample["type"], "b64": _b64(ours.SerializeToString())})
    trees = _peer({"op": "decode", "items": items}, node_peers)
    for sample, tree in zip(samples, trees, strict=True):
        assert tree == sample["tree"], sample["name"]


def test_baileys_samples_read_by_name(samples: list[dict[str, Any]]) -> None:
    """Spot checks through our field names, so a number-correct but misnamed field shows."""
    by_name = {
        s["name"]: CLASSES[s["type"]].FromString(base64.b64decode(s["b64"])) for s in samples
    }

    def get(name: str, cls: type[Message]) -> Any:
        msg = by_name[name]
        assert isinstance(msg, cls)
        return msg

    text = get("extendedText", e2e_pb2.Message).extended_text_message
    assert text.matched_text == "https://example.org/page"
    assert text.context_info.quoted_message.conversation == "the original"
    assert list(text.context_info.mentioned_jid) == [
        "15550001111@s.whatsapp.net",
        "15550002222@s.whatsapp.net",
    ]
    assert text.context_info.is_forwarded
    assert text.HasField("invite_link_group_type_v2")
    audio = get("audioPtt", e2e_pb2.Message).audio_message
    assert audio.ptt
    assert audio.file_length == 123456
    assert audio.media_key == bytes([7]) * 32
    revoke = get("revoke", e2e_pb2.Message).protocol_message
    assert revoke.type == e2e_pb2.ProtocolMessage.REVOKE
    assert revoke.HasField("type")
    assert revoke.key.id == "3EB0C767D0D2F6A1B2C3"
    edit = get("messageEdit", e2e_pb2.Message).protocol_message
    assert edit.type == e2e_pb2.ProtocolMessage.MESSAGE_EDIT
    assert edit.edited_message.conversation == "edited text"
    share = get("appStateKeyShare", e2e_pb2.Message).protocol_message.app_state_sync_key_share
    assert list(share.keys[0].key_data.fingerprint.device_indexes) == [0, 1, 2]
    vote = get("pollUpdate", e2e_pb2.Message).poll_update_message
    assert vote.vote.enc_iv == bytes([0x44]) * 12
    assert vote.HasField("metadata")
    live = get("liveLocation", e2e_pb2.Message).live_location_message
    assert live.speed_in_mps == 1.5
    assert live.degrees_latitude == -33.8568
    reaction = get("reactionRemove", e2e_pb2.Message).reaction_message
    assert reaction.HasField("text")
    assert reaction.text == ""
    details = get("certDetails", cert_pb2.CertChain.NoiseCertificate.Details)
    assert details.HasField("issuer_serial")
    assert details.issuer_serial == 0
    payload = get("clientPayloadRegister", handshake_pb2.ClientPayload)
    assert payload.HasField("passive")
    assert not payload.passive
    assert payload.device_pairing_data.e_keytype == b"\x05"
    assert payload.user_agent.locale_country_iso31661_alpha2 == "US"
    assert payload.user_agent.platform == handshake_pb2.ClientPayload.UserAgent.WEB
    login = get("clientPayloadLogin", handshake_pb2.ClientPayload)
    assert login.username == 15551234567
    wmi = get("webMessageInfo", web_pb2.WebMessageInfo)
    assert wmi.message_stub_type == web_pb2.WebMessageInfo.GROUP_CREATE
    assert wmi.user_receipt[0].read_timestamp == 1718000002
    history = get("historySync", history_pb2.HistorySync)
    assert history.sync_type == history_pb2.HistorySync.FULL
    assert history.conversations[0].messages[0].message.push_name == "Bob"
    assert history.pushnames[0].pushname == "Bob"
    data = get("syncActionData", appstate_pb2.SyncActionData)
    assert data.value.mute_action.mute_end_timestamp == -1
    buttons = get("buttons", e2e_pb2.Message).buttons_message
    assert buttons.WhichOneof("header") == "text"
    assert [b.button_text.display_text for b in buttons.buttons] == ["One", "Two"]
    assert get("list", e2e_pb2.Message).list_message.sections[0].rows[0].row_id == "r1"
    hydrated = get("template", e2e_pb2.Message).template_message.hydrated_template
    assert hydrated.hydrated_buttons[2].call_button.phone_number == "+15551234567"
    flow = get("interactive", e2e_pb2.Message).interactive_message.native_flow_message
    assert flow.buttons[0].button_params_json == '{"display_text":"OK","id":"ok"}'
    patch = get("syncdPatch", appstate_pb2.SyncdPatch)
    assert patch.mutations[1].operation == appstate_pb2.SyncdMutation.REMOVE
    assert patch.HasField("device_index")
    assert patch.external_mutations.file_size_bytes == 1000


@pytest.fixture(scope="module")
def populated(schema: dict[str, Any]) -> list[PopulatedItem]:
    return populated_items(schema, pair_schemas(schema))


def test_populated_trees_cover_the_shared_fields(
    schema: dict[str, Any], populated: list[PopulatedItem]
) -> None:
    pairing = pair_schemas(schema)
    assert not pairing.conflicts
    covered: set[tuple[str, int]] = set()
    for _, cls, _, tree in populated:
        covered_fields(cls.DESCRIPTOR, tree, covered)
    unverified = set(pairing.unverified_fields)
    missing = [
        f"{name}.{fd.name}"
        for name, d in pairing.descriptors.items()
        for fd in d.fields
        if (name, fd.number) not in covered and f"{name}.{fd.name}" not in unverified
    ]
    assert not missing, missing


def test_baileys_encodes_wamd_decodes_every_shared_field(
    populated: list[PopulatedItem], node_peers: Path
) -> None:
    answers = _peer(
        {"op": "encode", "items": [{"type": t, "tree": tree} for _, _, t, tree in populated]},
        node_peers,
    )
    for (name, cls, _, tree), answer in zip(populated, answers, strict=True):
        assert answer["tree"] == tree, f"Baileys itself: {name}"
        assert canon(cls.FromString(base64.b64decode(answer["b64"]))) == tree, name


def test_wamd_encodes_baileys_decodes_every_shared_field(
    populated: list[PopulatedItem], node_peers: Path
) -> None:
    items = []
    for _, cls, their_name, tree in populated:
        msg = from_tree(cls, tree)
        assert canon(cls.FromString(msg.SerializeToString())) == tree
        items.append({"type": their_name, "b64": _b64(msg.SerializeToString())})
    trees = _peer({"op": "decode", "items": items}, node_peers)
    for (name, _, _, tree), theirs in zip(populated, trees, strict=True):
        assert theirs == tree, name
