"""App-state patches and snapshots against Baileys rc14 (a real peer), in both directions.

Baileys encodes every chat modification it supports; wamd verifies every MAC, reaches the same
LTHash and version, and maps each mutation to the right typed event. wamd's builders encode
the same actions; Baileys decodes them with MAC validation and reports no warning (it only
logs, never throws, on a bad MAC, so the tests capture its warnings).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.appstate.conftest import BaileysAppState, b64, unb64
from wamd.appstate import actions
from wamd.appstate import events as ev
from wamd.appstate.decode import apply_patches, apply_snapshot, parse_patch
from wamd.appstate.encode import PatchInfo, encode_patch, encode_snapshot
from wamd.appstate.keys import Keyring
from wamd.appstate.lthash import EMPTY_HASH
from wamd.appstate.state import ALL_COLLECTIONS, CollectionState, SyncResult
from wamd.types import JID

pytestmark = pytest.mark.interop

KEY_ID = os.urandom(6)
KEY_DATA = os.urandom(32)
JID_TEXT = "15551234567@s.whatsapp.net"
CHAT = JID.parse(JID_TEXT)
LAST = [
    {
        "key": {"remoteJid": JID_TEXT, "id": "3EB0AA", "fromMe": True},
        "messageTimestamp": 1_700_000_000,
    }
]


@dataclass
class Side:
    """One device's view of every collection: state and index MAC -> value MAC."""

    states: dict[str, CollectionState] = field(
        default_factory=lambda: {str(c): CollectionState(str(c)) for c in ALL_COLLECTIONS}
    )
    macs: dict[str, dict[bytes, bytes]] = field(
        default_factory=lambda: {str(c): {} for c in ALL_COLLECTIONS}
    )

    def commit(self, result: SyncResult) -> None:
        name = result.state.name
        self.states[name] = result.state
        if result.macs.replace:
            self.macs[name].clear()
        for key in result.macs.remove:
            self.macs[name].pop(key, None)
        self.macs[name].update(result.macs.upsert)

    def baileys_state(self, name: str) -> dict[str, Any]:
        state = self.states[name]
        return {
            "version": state.version,
            "hash": b64(state.hash),
            "indexValueMap": {b64(k): b64(v) for k, v in self.macs[name].items()},
        }

    def assert_matches(self, name: str, theirs: dict[str, Any], *, with_map: bool = True) -> None:
        assert theirs["version"] == self.states[name].version
        assert unb64(theirs["hash"]) == self.states[name].hash
        if with_map:
            mine = self.macs[name]
            assert {unb64(k): unb64(v) for k, v in theirs["indexValueMap"].items()} == mine


def _keyring() -> Keyring:
    return Keyring({KEY_ID: KEY_DATA})


def _keys_json() -> dict[str, str]:
    return {b64(KEY_ID): b64(KEY_DATA)}


# (Baileys chat modification, jid, the event wamd must produce, its expected fields)
CHAT_MODS: list[tuple[dict[str, Any], str, type[ev.AppStateEvent], dict[str, Any]]] = [
    (
        {"mute": 1_900_000_000_000},
        JID_TEXT,
        ev.Mute,
        {"chat": CHAT, "muted": True, "until_ms": 1_900_000_000_000},
    ),
    ({"mute": None}, JID_TEXT, ev.Mute, {"chat": CHAT, "muted": False}),
    (
        {"archive": True, "lastMessages": LAST},
        JID_TEXT,
        ev.Archive,
        {"chat": CHAT, "archived": True},
    ),
    (
        {"markRead": False, "lastMessages": LAST},
        JID_TEXT,
        ev.MarkChatAsRead,
        {"chat": CHAT, "read": False},
    ),
    ({"pin": True}, JID_TEXT, ev.Pin, {"chat": CHAT, "pinned": True}),
    (
        {"star": {"messages": [{"id": "3EB0AA", "fromMe": True}], "star": True}},
        JID_TEXT,
        ev.Star,
        {"chat": CHAT, "message_id": "3EB0AA", "from_me": True, "sender": None, "starred": True},
    ),
    (
        {
            "deleteForMe": {
                "key": {"id": "3EB0BB", "fromMe": False, "remoteJid": JID_TEXT},
                "timestamp": 1_700_000_001,
                "deleteMedia": True,
            }
        },
        JID_TEXT,
        ev.DeleteForMe,
        {
            "chat": CHAT,
            "message_id": "3EB0BB",
            "from_me": False,
            "delete_media": True,
            "message_timestamp": 1_700_000_001,
        },
    ),
    (
        {"clear": True, "lastMessages": LAST},
        JID_TEXT,
        ev.ClearChat,
        {"chat": CHAT, "delete_starred": True, "delete_media": False},
    ),
    (
        {"delete": True, "lastMessages": LAST},
        JID_TEXT,
        ev.DeleteChat,
        {"chat": CHAT, "delete_media": True},
    ),
    (
        {"contact": {"fullName": "Ann Smith", "firstName": "Ann", "lidJid": "123456789@lid"}},
        JID_TEXT,
        ev.Contact,
        {
            "jid": CHAT,
            "full_name": "Ann Smith",
            "first_name": "Ann",
            "lid": JID.parse("123456789@lid"),
            "removed": False,
        },
    ),
    ({"contact": None}, JID_TEXT, ev.Contact, {"jid": CHAT, "removed": True}),
    ({"pushNameSetting": "Bot Name"}, "", ev.PushName, {"name": "Bot Name"}),
    (
        {"addLabel": {"id": "7", "name": "VIP", "color": 3, "deleted": False}},
        "",
        ev.LabelEdit,
        {"label_id": "7", "name": "VIP", "color": 3, "deleted": False},
    ),
    (
        {"addChatLabel": {"labelId": "7"}},
        JID_TEXT,
        ev.LabelAssociation,
        {"label_id": "7", "chat": CHAT, "message_id": None, "labeled": True},
    ),
    (
        {"removeChatLabel": {"labelId": "7"}},
        JID_TEXT,
        ev.LabelAssociation,
        {"labeled": False, "message_id": None},
    ),
    (
        {"addMessageLabel": {"labelId": "7", "messageId": "3EB0AA"}},
        JID_TEXT,
        ev.LabelAssociation,
        {"label_id": "7", "chat": CHAT, "message_id": "3EB0AA", "labeled": True},
    ),
]


def test_baileys_patches_verify_and_map_to_events(baileys: BaileysAppState) -> None:
    theirs, ours = Side(), Side()
    for mod, jid, event_type, fields in CHAT_MODS:
        out = baileys.call(
            "encode",
            keys=_keys_json(),
            keyId=b64(KEY_ID),
            state=theirs.baileys_state(_collection_of(mod)),
            chatMod=mod,
            jid=jid,
        )
        name = out["type"]
        patch = parse_patch(unb64(out["patch"]))
        result = apply_patches(ours.states[name], [patch], _keyring(), ours.macs[name])
        ours.commit(result)
        theirs_commit(theirs, name, out["state"])
        # Baileys' encoder keeps a REMOVEd index in its own map (its decoder does not): compare
        # the map only after SETs. The LTHash and version, which are what goes on the wire, match.
        removed = mod.get("contact", True) is None
        ours.assert_matches(name, out["state"], with_map=not removed)
        if removed:
            theirs.macs[name] = dict(ours.macs[name])
        assert result.warnings == []
        [mutation] = result.mutations
        assert list(mutation.index) == out["index"]
        assert mutation.api_version == out["apiVersion"]
        event = ev.event_for(mutation)
        assert type(event) is event_type, (mod, event)
        for key, value in fields.items():
            assert getattr(event, key) == value, (mod, key)
        assert event.timestamp > 1_600_000_000_000


def theirs_commit(side: Side, name: str, state: dict[str, Any]) -> None:
    side.states[name] = CollectionState(name, state["version"], unb64(state["hash"]))
    side.macs[name] = {unb64(k): unb64(v) for k, v in state["indexValueMap"].items()}


def _collection_of(mod: dict[str, Any]) -> str:
    kind = next(iter(mod))
    return {
        "mute": "regular_high",
        "archive": "regular_low",
        "markRead": "regular_low",
        "pin": "regular_low",
        "star": "regular_low",
        "deleteForMe": "regular_high",
        "clear": "regular_high",
        "delete": "regular_high",
        "contact": "critical_unblock_low",
        "pushNameSetting": "critical_block",
        "addLabel": "regular",
        "addChatLabel": "regular",
        "removeChatLabel": "regular",
        "addMessageLabel": "regular",
    }[kind]


def _last() -> list[actions.MessageRef]:
    return [actions.MessageRef(CHAT, "3EB0AA", True, 1_700_000_000)]


MSG = actions.MessageRef(CHAT, "3EB0AA", True, 1_700_000_000)
# wamd builders, each beside the Baileys chat modification that must give the same patch shape.
OUR_ACTIONS: list[tuple[PatchInfo, dict[str, Any] | None, str]] = [
    (actions.mute(CHAT, until_ms=1_900_000_000_000), {"mute": 1_900_000_000_000}, JID_TEXT),
    (actions.mute(CHAT, False), {"mute": None}, JID_TEXT),
    (actions.pin(CHAT), {"pin": True}, JID_TEXT),
    (actions.archive(CHAT, last_messages=_last()), None, JID_TEXT),  # + the unpin WhatsApp adds
    (
        actions.archive(CHAT, False, last_messages=_last()),
        {"archive": False, "lastMessages": LAST},
        JID_TEXT,
    ),
    (
        actions.mark_read(CHAT, False, last_messages=_last()),
        {"markRead": False, "lastMessages": LAST},
        JID_TEXT,
    ),
    (
        actions.star(MSG),
        {"star": {"messages": [{"id": "3EB0AA", "fromMe": True}], "star": True}},
        JID_TEXT,
    ),
    (
        actions.delete_for_me(MSG, delete_media=True),
        {
            "deleteForMe": {
                "key": {"id": "3EB0AA", "fromMe": True, "remoteJid": JID_TEXT},
                "timestamp": 1_700_000_000,
                "deleteMedia": True,
            }
        },
        JID_TEXT,
    ),
    (
        actions.clear_chat(CHAT, last_messages=_last()),
        {"clear": True, "lastMessages": LAST},
        JID_TEXT,
    ),
    (
        actions.delete_chat(CHAT, last_messages=_last()),
        {"delete": True, "lastMessages": LAST},
        JID_TEXT,
    ),
    (
        actions.contact(CHAT, full_name="Ann Smith", first_name="Ann"),
        {"contact": {"fullName": "Ann Smith"}},
        JID_TEXT,
    ),
    (actions.remove_contact(CHAT), {"contact": None}, JID_TEXT),
    (actions.push_name("Bot Name"), {"pushNameSetting": "Bot Name"}, ""),
    (
        actions.label_edit("7", "VIP", color=3),
        {"addLabel": {"id": "7", "name": "VIP", "color": 3}},
        "",
    ),
    (actions.label_chat(CHAT, "7"), {"addChatLabel": {"labelId": "7"}}, JID_TEXT),
    (actions.label_chat(CHAT, "7", False), {"removeChatLabel": {"labelId": "7"}}, JID_TEXT),
    (
        actions.label_message(CHAT, "7", "3EB0AA"),
        {"addMessageLabel": {"labelId": "7", "messageId": "3EB0AA"}},
        JID_TEXT,
    ),
    (actions.unarchive_chats_setting(True), None, ""),
]


def test_our_builders_have_the_shape_baileys_gives(baileys: BaileysAppState) -> None:
    for info, mod, jid in OUR_ACTIONS:
        if mod is None:
            continue
        out = baileys.call(
            "encode",
            keys=_keys_json(),
            keyId=b64(KEY_ID),
            state={"version": 0, "hash": b64(EMPTY_HASH), "indexValueMap": {}},
            chatMod=mod,
            jid=jid,
        )
        [mutation] = info.mutations
        # Baileys files stars under regular_low; WhatsApp (and whatsmeow) use regular_high.
        expected_collection = "regular_high" if "star" in mod else out["type"]
        assert (info.collection, list(mutation.index), mutation.api_version) == (
            expected_collection,
            out["index"],
            out["apiVersion"],
        ), mod


def _ours_to_baileys(baileys: BaileysAppState, ours: Side, info: PatchInfo) -> dict[str, Any]:
    """Encode ``info`` on our state, commit it, and let Baileys decode it from our old state."""
    name = info.collection
    before = ours.baileys_state(name)
    encoded = encode_patch(
        ours.states[name], info, _keyring(), KEY_ID, ours.macs[name], timestamp_ms=1_800_000_000_000
    )
    ours.commit(encoded.result)
    encoded.patch.version.version = encoded.result.state.version
    result: dict[str, Any] = baileys.call(
        "decodePatches",
        name=name,
        patches=[b64(encoded.serialize())],
        state=before,
        keys=_keys_json(),
    )
    return result


def test_our_patches_verify_in_baileys(baileys: BaileysAppState) -> None:
    ours = Side()
    for info, _, _ in OUR_ACTIONS:
        name = info.collection
        out = _ours_to_baileys(baileys, ours, info)
        assert out["warnings"] == [], info
        ours.assert_matches(name, out["state"])
        decoded = {tuple(m["index"]): m for m in out["mutations"]}
        for mutation in info.mutations:
            got = decoded[mutation.index]
            assert got["version"] == mutation.api_version
            assert int(got["value"]["timestamp"]) == 1_800_000_000_000
            for field_name, _ in mutation.action.ListFields():
                camel = _camel(field_name.name)
                assert camel in got["value"], (field_name.name, got["value"])


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def test_a_chain_written_by_both_peers(baileys: BaileysAppState) -> None:
    """Baileys and wamd take turns writing one collection, overwriting the same indexes."""
    ours, theirs = Side(), Side()
    name = "regular_high"
    for turn in range(12):
        jid = f"1555000000{turn % 3}@s.whatsapp.net"
        if turn % 2 == 0:
            out = baileys.call(
                "encode",
                keys=_keys_json(),
                keyId=b64(KEY_ID),
                state=theirs.baileys_state(name),
                chatMod={"mute": 1_900_000_000_000 + turn} if turn % 4 else {"mute": None},
                jid=jid,
            )
            theirs_commit(theirs, name, out["state"])
            ours.commit(
                apply_patches(
                    ours.states[name],
                    [parse_patch(unb64(out["patch"]))],
                    _keyring(),
                    ours.macs[name],
                )
            )
            ours.assert_matches(name, out["state"])
        else:
            out = _ours_to_baileys(baileys, ours, actions.mute(JID.parse(jid), until_ms=turn))
            assert out["warnings"] == []
            ours.assert_matches(name, out["state"])
            theirs_commit(theirs, name, out["state"])
    assert ours.states[name].version == 12
    assert len(ours.macs[name]) == 3


def test_our_snapshot_verifies_in_baileys(baileys: BaileysAppState) -> None:
    infos = [actions.mute(JID.parse(f"1555000000{i}@s.whatsapp.net"), until_ms=i) for i in range(5)]
    snapshot = encode_snapshot(
        "regular_high", 42, [i.mutations[0] for i in infos], _keyring(), KEY_ID, timestamp_ms=1
    )
    ours = apply_snapshot("regular_high", snapshot, _keyring())
    out = baileys.call(
        "decodeSnapshot",
        name="regular_high",
        snapshot=b64(snapshot.SerializeToString()),
        keys=_keys_json(),
    )
    assert out["warnings"] == []
    assert out["state"]["version"] == 42
    assert unb64(out["state"]["hash"]) == ours.state.hash
    assert len(out["mutations"]) == 5
    # ... and a wrong snapshot MAC is what Baileys warns about (the capture works).
    snapshot.mac = bytes(32)
    out = baileys.call(
        "decodeSnapshot",
        name="regular_high",
        snapshot=b64(snapshot.SerializeToString()),
        keys=_keys_json(),
    )
    assert any("LTHash" in w for w in out["warnings"])


def test_tampered_patch_is_refused_by_both(baileys: BaileysAppState) -> None:
    out = baileys.call(
        "encode",
        keys=_keys_json(),
        keyId=b64(KEY_ID),
        state={"version": 0, "hash": b64(EMPTY_HASH), "indexValueMap": {}},
        chatMod={"pin": True},
        jid=JID_TEXT,
    )
    patch = parse_patch(unb64(out["patch"]))
    patch.patch_mac = bytes(32)
    from wamd.errors import AppStateMACMismatch

    with pytest.raises(AppStateMACMismatch):
        apply_patches(CollectionState("regular_low"), [patch], _keyring(), {})
    theirs = baileys.call(
        "decodePatches",
        name="regular_low",
        patches=[b64(patch.SerializeToString())],
        state={"version": 0, "hash": b64(EMPTY_HASH), "indexValueMap": {}},
        keys=_keys_json(),
    )
    assert theirs["warnings"]
    assert theirs["mutations"] == []
