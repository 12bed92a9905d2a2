"""App-state events and history chunks in the durable inbox: what is stored reads back as
the same event (``redelivered``), and unreadable payloads raise the typed error."""

from __future__ import annotations

import pytest

from wamd.appstate import actions
from wamd.appstate import events as ev
from wamd.appstate.state import Mutation
from wamd.errors import MalformedNode
from wamd.history.events import HistorySync
from wamd.history.parse import HistoryNotification, history_from_proto
from wamd.proto import e2e_pb2, history_pb2

CHAT = "15551230000@s.whatsapp.net"


def mutations() -> list[Mutation]:
    infos = [
        actions.mute(CHAT, True, until_ms=1_900_000_000_000),
        actions.archive(CHAT),
        actions.star(actions.MessageRef(CHAT, "3EB0", from_me=False, timestamp=1), True),
        actions.contact(CHAT, full_name="Ann Lee", first_name="Ann"),
        actions.remove_contact(CHAT),
        actions.label_edit("7", "Customers", color=3),
        actions.push_name("Me"),
    ]
    found: list[Mutation] = []
    for n, info in enumerate(infos):
        for m in info.mutations:
            found.append(
                Mutation(
                    collection=info.collection,
                    operation=m.operation,
                    index=tuple(m.index),
                    action=m.action,
                    api_version=m.api_version,
                    patch_version=n + 1,
                    index_mac=bytes([n]) * 32,
                    value_mac=bytes([n + 1]) * 32,
                    key_id=b"key-" + bytes([n]),
                )
            )
    return found


@pytest.mark.parametrize("full_sync", [False, True])
def test_every_mutation_event_reads_back_the_same(full_sync: bool) -> None:
    for mutation in mutations():
        event = ev.event_for(mutation, full_sync=full_sync)
        back = ev.from_payload(ev.to_payload(event), 42)
        assert back == event
        assert type(back) is type(event)
        assert (back.seq, back.redelivered, back.full_sync) == (42, True, full_sync)
        assert isinstance(back, ev.MutationEvent)
        assert back.mutation == mutation
        assert back.mutation.action == mutation.action


def test_sync_complete_reads_back_the_same() -> None:
    done = ev.AppStateSyncComplete(
        timestamp=5, full_sync=True, collection="regular", version=9, recovery=True
    )
    back = ev.from_payload(ev.to_payload(done), 7)
    assert back == done
    assert (back.seq, back.redelivered) == (7, True)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\xff",
        b"[]",
        b"{}",
        b'{"full": true}',
        b'{"full":1,"c":"x"}',
        b'{"full":1,"m":1}',
        b'{"full":1,"m":"x","op":9,"ix":[],"a":"","av":1,"pv":1,"im":"","vm":"","k":""}',
        b'{"full":1,"m":"x","op":0,"ix":["mute"],"a":"!!","av":1,"pv":1,"im":"","vm":"","k":""}',
        b'{"full":1,"m":"x","op":0,"ix":["mute"],"a":"/w==","av":1,"pv":1,"im":"","vm":"","k":""}',
    ],
)
def test_unreadable_appstate_payloads_raise_malformed(payload: bytes) -> None:
    with pytest.raises(MalformedNode):
        ev.from_payload(payload, 1)


def test_a_history_chunk_reads_back_the_same() -> None:
    sync = history_pb2.HistorySync(sync_type=history_pb2.HistorySync.RECENT, chunk_order=3)
    sync.conversations.add(id=CHAT, name="Old friend")
    sync.pushnames.add(id=CHAT, pushname="Ann")
    note = e2e_pb2.HistorySyncNotification(
        sync_type=e2e_pb2.RECENT, chunk_order=3, direct_path="/x"
    )
    event = HistorySync(
        notification=HistoryNotification.from_proto(note), data=history_from_proto(sync)
    )
    back = HistorySync.from_payload(event.to_payload(), 11)
    assert (back.seq, back.redelivered) == (11, True)
    assert back.notification == event.notification
    assert back.data.raw == sync
    assert back.data.push_names == event.data.push_names


@pytest.mark.parametrize("payload", [b"", b"\x00\x00\x00\x09ab", b"\x00\x00\x00\x01\xff\xff"])
def test_unreadable_history_payloads_raise_malformed(payload: bytes) -> None:
    with pytest.raises(MalformedNode):
        HistorySync.from_payload(payload, 1)
