"""MessageKinds between two fake hosts: the message reaches the other side as a received
event (no encryption here: the wire is proven in the sandbox and Baileys tests)."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from wamd.binary import Node
from wamd.errors import MessageSecretMissing, StoreError
from wamd.events import Event
from wamd.messaging import builders as b
from wamd.messaging import content as c
from wamd.messaging.kinds import MessageKinds
from wamd.messaging.polls import PollTally, PollVote
from wamd.messaging.presence import ChatPresence, ChatState, Presence
from wamd.pairing.credentials import new_credentials
from wamd.proto import e2e_pb2
from wamd.store import Account, MemoryStore
from wamd.types import JID

_ids = itertools.count(1)


@dataclass(frozen=True)
class Received:
    id: str
    chat: JID
    sender: JID
    from_me: bool
    message: e2e_pb2.Message
    sender_alt: JID | None = None
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Host:
    jid: JID
    lid: JID
    account: Account
    peer: Host | None = None
    peer_uses_lid: bool = False
    kinds: MessageKinds = field(init=False)
    events: list[Event] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    sent: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        creds = dataclasses.replace(new_credentials(), push_name="Host")
        self.kinds = MessageKinds(self, lambda: self.account, lambda: creds)

    async def send_message(
        self, to: JID, message: e2e_pb2.Message, *, id: str | None = None
    ) -> Any:
        msg_id = id or f"ID{next(_ids)}"
        mine = Received(msg_id, to, self.jid, True, message, self.lid)
        self.sent.append(mine)
        peer = self.peer
        assert peer is not None
        assert to.user in (peer.jid.user, peer.lid.user)
        # the peer sees the chat as us, in the form its server uses
        chat = self.lid.to_non_ad() if peer.peer_uses_lid else self.jid.to_non_ad()
        sender = self.lid if peer.peer_uses_lid else self.jid
        alt = self.jid if peer.peer_uses_lid else self.lid
        theirs = Received(msg_id, chat, sender, False, message, alt)
        await peer.kinds.on_message(theirs)
        peer.events.append(_Got(theirs))
        return mine

    async def send_node(self, node: Node) -> None:
        self.nodes.append(node)

    async def dispatch(self, event: Event) -> None:
        self.events.append(event)


@dataclass(frozen=True)
class _Got(Event):
    received: Received


async def _pair(*, bob_uses_lid: bool = False) -> tuple[Host, Host]:
    store = MemoryStore()
    alice = Host(
        JID.parse("15550001111:2@s.whatsapp.net"),
        JID.parse("801:2@lid"),
        await store.new_account(new_credentials()),
    )
    bob = Host(
        JID.parse("15550002222:3@s.whatsapp.net"),
        JID.parse("802:3@lid"),
        await store.new_account(new_credentials()),
        peer_uses_lid=bob_uses_lid,
    )
    alice.peer, bob.peer = bob, alice
    return alice, bob


def _last_received(host: Host) -> Received:
    got = [e for e in host.events if isinstance(e, _Got)]
    return got[-1].received


@pytest.mark.parametrize("bob_uses_lid", [False, True])
async def test_poll_votes_both_ways(bob_uses_lid: bool) -> None:
    alice, bob = await _pair(bob_uses_lid=bob_uses_lid)
    bob_pn = bob.jid.to_non_ad()
    # the fake host returns our copy of the message as a received event
    sent: Any = await alice.kinds.send_poll(bob_pn, "Lunch?", ["pizza", "sushi"])
    poll_at_bob = _last_received(bob)
    assert c.kind_of(poll_at_bob.message) == "poll"
    # Bob votes; Alice gets a decrypted PollVote with the option names
    await bob.kinds.vote(poll_at_bob, ["sushi"])
    votes = [e for e in alice.events if isinstance(e, PollVote)]
    assert len(votes) == 1
    got = votes[0]
    assert (got.poll_id, got.selected, got.voter) == (sent.id, ("sushi",), bob.jid)
    assert not got.from_me
    # Alice votes in her own poll: Bob decrypts it
    await alice.kinds.vote(sent, ["pizza", "sushi"])
    bob_votes = [e for e in bob.events if isinstance(e, PollVote)]
    assert bob_votes[-1].selected == ("pizza", "sushi")
    assert bob_votes[-1].poll_sender.user in (alice.jid.user, alice.lid.user)
    # a change of mind replaces the vote in a tally
    await bob.kinds.vote(poll_at_bob, [])
    tally = PollTally.of(sent.message)
    for event in alice.events:
        if isinstance(event, PollVote):
            tally.add_vote(event)
    assert tally.counts() == {"pizza": 0, "sushi": 0}


async def test_vote_without_the_secret_fails_and_unknown_votes_are_dropped() -> None:
    alice, bob = await _pair()
    poll = Received("P", alice.jid.to_non_ad(), alice.jid, False, e2e_pb2.Message())
    with pytest.raises(MessageSecretMissing):
        await bob.kinds.vote(poll, ["x"])
    # a vote on a poll Alice never saw: logged, no event, no crash
    sent = await bob.kinds.send_poll(alice.jid.to_non_ad(), "Q", ["x", "y"])
    stray = Received("V", bob.jid.to_non_ad(), bob.jid, False, e2e_pb2.Message())
    stray.message.poll_update_message.poll_creation_message_key.id = "OTHER"
    await alice.kinds.on_message(stray)
    assert not [e for e in alice.events if isinstance(e, PollVote)]
    assert sent.id.startswith("3EB0")


async def test_text_reply_reaction_edit_revoke_and_timer() -> None:
    alice, bob = await _pair()
    bob_chat = bob.jid.to_non_ad()
    first = await alice.kinds.send_text(bob_chat, "question", mentions=[bob.jid])
    at_bob = _last_received(bob)
    assert c.text_of(at_bob.message) == "question"
    assert c.mentions_of(at_bob.message) == [bob_chat]
    await bob.kinds.send_text(alice.jid.to_non_ad(), "answer", quote=at_bob)
    reply = _last_received(alice)
    quoted = c.quoted_of(reply.message)
    assert quoted is not None
    assert (quoted.id, quoted.sender, quoted.text) == (first.id, alice.jid.to_non_ad(), "question")
    await bob.kinds.react(at_bob, "❤")
    reaction = c.reaction_of(_last_received(alice).message)
    assert reaction is not None
    assert (reaction.target_id, reaction.emoji, reaction.target_from_me) == (first.id, "❤", False)
    await alice.kinds.edit(bob_chat, first.id, "better question")
    edit = c.edit_of(_last_received(bob).message)
    assert edit is not None
    assert (edit.target_id, edit.text) == (first.id, "better question")
    await alice.kinds.revoke(bob_chat, first.id, sender=alice.jid)  # own: a sender revoke
    revoke = c.revoke_of(_last_received(bob).message)
    assert revoke is not None
    assert (revoke.target_id, revoke.by_admin) == (first.id, False)
    await alice.kinds.set_disappearing_timer(bob_chat, 86400)
    assert c.timer_setting_of(_last_received(bob).message) == 86400


async def test_receipts_and_presence() -> None:
    alice, bob = await _pair()
    await alice.kinds.mark_read(
        bob.jid.to_non_ad(), ["A", "B"], sender=bob.jid, timestamp=datetime.fromtimestamp(7, UTC)
    )
    await alice.kinds.send_chat_presence(bob.jid, ChatState.RECORDING)
    await alice.kinds.send_presence(True)
    await alice.kinds.subscribe_presence(bob.jid)
    tags = [(n.tag, n.attrs.get("type")) for n in alice.nodes]
    assert tags == [
        ("receipt", "read"),
        ("chatstate", None),
        ("presence", "available"),
        ("presence", "subscribe"),
    ]
    assert alice.nodes[2].attrs["name"] == "Host"
    await alice.kinds.on_presence(
        Node("presence", {"from": bob.jid.to_non_ad(), "type": "unavailable", "last": "5"})
    )
    await alice.kinds.on_chatstate(
        Node("chatstate", {"from": bob.jid.to_non_ad()}, [Node("composing", {})])
    )
    await alice.kinds.on_presence(Node("presence", {}))  # malformed: logged, dropped
    await alice.kinds.on_chatstate(Node("chatstate", {"from": bob.jid}))
    presence = [e for e in alice.events if isinstance(e, Presence)]
    chat = [e for e in alice.events if isinstance(e, ChatPresence)]
    assert len(presence) == 1
    assert not presence[0].available
    assert [e.state for e in chat] == [ChatState.COMPOSING]


async def test_hostile_votes_and_store_failures_do_not_raise() -> None:
    alice, bob = await _pair()
    await alice.kinds.send_poll(bob.jid.to_non_ad(), "Q", ["x", "y"])
    poll_at_bob = _last_received(bob)
    await bob.kinds.vote(poll_at_bob, ["x"])
    vote_msg = bob.sent[-1].message
    # a vote claiming an absurd timestamp: dispatched with the message's own time
    hostile = e2e_pb2.Message()
    hostile.CopyFrom(vote_msg)
    hostile.poll_update_message.sender_timestamp_ms = 2**62
    when = datetime.fromtimestamp(1_700_000_000, UTC)
    await alice.kinds.on_message(
        Received("H", bob.jid.to_non_ad(), bob.jid, False, hostile, bob.lid, when)
    )
    votes = [e for e in alice.events if isinstance(e, PollVote) and e.message_id == "H"]
    assert len(votes) == 1
    assert votes[0].timestamp == when
    # tampered ciphertext: logged, no event
    tampered = e2e_pb2.Message()
    tampered.CopyFrom(vote_msg)
    payload = bytearray(tampered.poll_update_message.vote.enc_payload)
    payload[0] ^= 1
    tampered.poll_update_message.vote.enc_payload = bytes(payload)
    await alice.kinds.on_message(
        Received("T", bob.jid.to_non_ad(), bob.jid, False, tampered, bob.lid)
    )
    assert not [e for e in alice.events if isinstance(e, PollVote) and e.message_id == "T"]

    # the store failing: logged, the handler does not raise (the inbox would redeliver)
    class Broken:
        async def put_many(self, rows: object) -> None:
            raise StoreError("disk full")

        async def get(self, *args: object) -> None:
            raise StoreError("disk full")

    broken = dataclasses.replace(alice)
    broken.account = _BrokenAccount(Broken())  # type: ignore[assignment]
    kinds = MessageKinds(broken, lambda: broken.account, lambda: new_credentials())
    await kinds.on_message(
        Received("P2", bob.jid.to_non_ad(), bob.jid, False, poll_at_bob.message, bob.lid)
    )
    await kinds.on_message(Received("V2", bob.jid.to_non_ad(), bob.jid, False, vote_msg, bob.lid))


@dataclass
class _BrokenAccount:
    message_secrets: Any


def test_wants_only_secrets_and_votes() -> None:
    jid = JID.parse("15550002222@s.whatsapp.net")
    plain = Received("A", jid, jid, False, e2e_pb2.Message(conversation="x"))
    assert not MessageKinds.wants(plain)
    poll = Received("B", jid, jid, False, b.poll("q", ["a", "b"]))
    assert MessageKinds.wants(poll)
    copy = e2e_pb2.Message()
    copy.device_sent_message.message.poll_update_message.poll_creation_message_key.id = "P"
    assert MessageKinds.wants(Received("C", jid, jid, True, copy))
