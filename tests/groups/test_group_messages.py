"""Group messages between wamd clients through the sandbox: three members with two devices
each, sender keys distributed once per device, both ways, a removed member cut off and the
sender keys rotated, a non-member refused."""

from __future__ import annotations

import asyncio

import pytest

from tests.groups.conftest import Member, pair, text
from wamd.binary import Node
from wamd.errors import NotInGroup, SendError
from wamd.groups import GroupInfoChanged
from wamd.groups.client import ROTATE_MARK
from wamd.groups.send import own_sender
from wamd.messaging import Message
from wamd.messaging.polls import PollVote
from wamd.messaging.stanzas import participant_hash
from wamd.sandbox import Sandbox
from wamd.sandbox.groups import group_server_of
from wamd.sandbox.messaging import router_of
from wamd.types import JID

A, B, C = "15550001", "15550002", "15550003"


def record_stanzas(sandbox: Sandbox) -> list[Node]:
    """Every group ``<message>`` stanza the sandbox receives from a client, in order."""
    fanout = group_server_of(sandbox).messages
    assert fanout is not None
    seen: list[Node] = []
    original = fanout.on_message

    async def spy(session: object, node: Node) -> None:
        seen.append(node)
        await original(session, node)  # type: ignore[arg-type]

    fanout.on_message = spy  # type: ignore[method-assign]
    return seen


def pairwise_targets(stanza: Node) -> set[str]:
    participants = stanza.child("participants")
    if participants is None:
        return set()
    return {str(to.attrs["jid"]) for to in participants.children_by_tag("to")}


async def skdm_holders(member: Member, group: JID) -> set[str]:
    """The devices recorded as holding the member's sender key (not the rotation mark)."""
    holders = await member.client.device.account.sender_key_distribution.sent_to(str(group))
    return holders - {ROTATE_MARK}


async def own_sender_key(member: Member, group: JID) -> bytes | None:
    ctx = member.client.messaging.context()
    info = await member.client.groups.cached_info(group)
    address = own_sender(ctx, info).signal_address
    return await member.client.device.account.sender_keys.get(str(group), address)


async def nothing_queued(sandbox: Sandbox, member: Member) -> None:
    jid = member.client.jid
    assert jid is not None
    async with asyncio.timeout(10):
        while True:  # the queue lives in SQLite: poll it
            if not await router_of(sandbox).queued(jid.user, jid.device):
                return
            await asyncio.sleep(0.05)


async def test_three_members_two_devices_each(sandbox: Sandbox) -> None:
    stanzas = record_stanzas(sandbox)
    a1, a2 = await pair(sandbox, A), await pair(sandbox, A)
    b1, b2 = await pair(sandbox, B), await pair(sandbox, B)
    c1, c2 = await pair(sandbox, C), await pair(sandbox, C)
    everyone = [a1, a2, b1, b2, c1, c2]
    try:
        info = await a1.client.create_group("three of us", [b1.pn, c1.lid])
        gid = info.jid
        assert {p.phone_number for p in info.participants} == {a1.pn, b1.pn, c1.pn}
        assert info.participant(a1.pn) is not None
        assert info.participant(a1.pn).is_super_admin  # type: ignore[union-attr]
        for member in everyone:  # the creating device included
            await member.wait(lambda m=member: bool(m.joined))  # type: ignore[misc]
            joined = member.joined[0]
            assert joined.jid == gid
            assert joined.type == "new"
            assert joined.actor == a1.lid
            assert joined.actor_pn == a1.pn
            assert len(joined.group.participants) == 3
        assert a1.joined[0].create_key  # the creator's devices see the create key
        assert a2.joined[0].create_key == a1.joined[0].create_key

        # A sends: every other device gets it once; each device got the SKDM pairwise.
        first = await a1.client.send_message(gid, text("hello from a1"))
        for member in (a2, b1, b2, c1, c2):
            await member.wait(lambda m=member: m.texts(gid) == ["hello from a1"])  # type: ignore[misc]
            got = member.messages[-1]
            assert (got.id, got.chat, got.is_group) == (first.id, gid, True)
            assert got.sender.user == a1.lid.user
            assert got.sender.device == a1.client.jid.device
            assert got.sender_alt is not None
            assert got.sender_alt.user == A
        # Each reader's delivery receipt reaches the sender's devices through the group.
        readers = {m.client.lid for m in (b1, b2, c1, c2)}
        await a1.wait(lambda: readers <= {r.sender for r in a1.receipts if first.id in r.ids})
        receipt = next(r for r in a1.receipts if first.id in r.ids)
        assert (receipt.chat, receipt.is_group, receipt.from_me) == (gid, True, False)
        assert a2.messages[-1].from_me
        assert not b1.messages[-1].from_me
        device_addresses = {d.signal_address for d in first.recipients}
        assert len(first.recipients) == 3 + 6 - 1  # phones + companions, minus a1
        assert await skdm_holders(a1, gid) == device_addresses
        assert pairwise_targets(stanzas[-1]) == {str(d) for d in first.recipients}
        assert stanzas[-1].attrs["phash"] == participant_hash(first.recipients)
        assert first.server_phash is None

        # A's second message needs no sender key distribution.
        second = await a1.client.send_message(gid, text("second from a1"))
        assert pairwise_targets(stanzas[-1]) == set()
        assert second.server_phash is None
        for member in (a2, b1, b2, c1, c2):
            await member.wait(lambda m=member: "second from a1" in m.texts(gid))  # type: ignore[misc]

        # The other way: B's second device and C send; everybody else reads them.
        await b2.client.send_message(gid, text("b2 here"))
        await c1.client.send_message(gid, text("c1 here"))
        for member in everyone:
            expect = (
                {"b2 here", "c1 here"}
                - ({"b2 here"} if member is b2 else set())
                - ({"c1 here"} if member is c1 else set())
            )
            await member.wait(lambda m=member, e=expect: e <= set(m.texts(gid)))  # type: ignore[misc]
        assert all(m.texts(gid).count("b2 here") <= 1 for m in everyone)

        # A removes C: both of C's devices and everyone else see it, with A as the actor.
        b_key_before = await own_sender_key(b2, gid)
        a_key_before = await own_sender_key(a1, gid)
        assert a_key_before is not None
        assert b_key_before is not None
        results = await a1.client.groups.remove(gid, [c1.pn])
        assert [r.ok for r in results] == [True]
        for member in (a2, b1, b2, c1, c2):
            change = await member.change(lambda c: bool(c.removed))
            assert change.actor == a1.lid
            assert change.removed[0].is_user(c1.pn)
            assert change.changes == ("removed",)
            assert not change.left
        # Every remaining member's sender key is dropped (rotated on the next send).
        async with asyncio.timeout(10):
            while True:  # dropped in the background
                if await own_sender_key(b2, gid) is None:
                    break
                await asyncio.sleep(0.02)
        assert await skdm_holders(a1, gid) == set()

        await a1.client.send_message(gid, text("after c left"))
        redistributed = pairwise_targets(stanzas[-1])
        assert redistributed
        assert not any(C in t or c1.lid.user in t for t in redistributed)
        await b2.client.send_message(gid, text("b2 after c left"))
        assert pairwise_targets(stanzas[-1])  # B's key rotated too
        for member in (a2, b1):
            await member.wait(lambda m=member: "b2 after c left" in m.texts(gid))  # type: ignore[misc]
        await b1.wait(lambda: "after c left" in b1.texts(gid))
        assert await own_sender_key(a1, gid) != a_key_before
        await asyncio.sleep(0.3)
        for member in (c1, c2):
            assert "after c left" not in member.texts(gid)
            assert "b2 after c left" not in member.texts(gid)
            await nothing_queued(sandbox, member)

        # C is no member any more: it cannot read the group, and the server refuses its
        # messages (403) even when it sends from a stale member list.
        with pytest.raises(NotInGroup):
            await c2.client.send_message(gid, text("let me in"))
        c2.client.groups.cache.put(info)
        with pytest.raises(SendError) as refused:
            await c2.client.send_message(gid, text("let me in"))
        assert "403" in str(refused.value)
        await asyncio.sleep(0.2)
        assert "let me in" not in a1.texts(gid)
        for member in everyone:
            assert all(isinstance(c, GroupInfoChanged) for c in member.changes)
            assert member.messages
            assert all(m.chat == gid for m in member.messages)
    finally:
        for member in everyone:
            await member.client.close()


async def test_lost_sender_key_recovered_by_retry(sandbox: Sandbox) -> None:
    a, b = await pair(sandbox, A), await pair(sandbox, B)
    try:
        info = await a.client.create_group("retry", [b.pn])
        gid = info.jid
        await a.client.send_message(gid, text("first"))
        await b.wait(lambda: b.texts(gid) == ["first"])
        # B loses A's sender key: A's next skmsg cannot be decrypted; B's retry receipt
        # reaches A through the group, A sends the message again pairwise to B alone.
        sender = b.messages[0].sender
        await b.client.device.account.sender_keys.delete(str(gid), sender.signal_address)
        b.client.messaging.context().cipher.clear_cache()
        sent = await a.client.send_message(gid, text("second"))
        await b.wait(lambda: b.texts(gid) == ["first", "second"])
        assert b.messages[-1].id == sent.id
        assert b.messages[-1].sender == sender
        assert a.client.messaging.retry.resent == 1
    finally:
        for member in (a, b):
            await member.client.close()


async def test_new_device_of_a_member_gets_the_sender_key(sandbox: Sandbox) -> None:
    stanzas = record_stanzas(sandbox)
    a, b1 = await pair(sandbox, A), await pair(sandbox, B)
    b2: Member | None = None
    try:
        info = await a.client.create_group("growing", [b1.pn])
        gid = info.jid
        await a.client.send_message(gid, text("before"))
        await b1.wait(lambda: b1.texts(gid) == ["before"])
        b2 = await pair(sandbox, B)  # A learns of it from a devices notification
        b2_jid = b2.client.jid
        assert b2_jid is not None
        sent = await a.client.send_message(gid, text("after"))
        assert {JID.parse(t).device for t in pairwise_targets(stanzas[-1])} == {b2_jid.device}
        assert sent.server_phash is None
        await b2.wait(lambda: b2.texts(gid) == ["after"])
        await b1.wait(lambda: b1.texts(gid) == ["before", "after"])
        assert a.client.messaging.retry.resent == 0
    finally:
        for member in (a, b1, b2):
            if member is not None:
                await member.client.close()


async def test_phone_number_addressed_group(sandbox: Sandbox) -> None:
    group_server_of(sandbox).addressing_mode = "pn"
    a, b = await pair(sandbox, A), await pair(sandbox, B)
    try:
        info = await a.client.create_group("old style", [b.lid])
        assert info.addressing_mode == "pn"
        assert {p.jid for p in info.participants} == {a.pn, b.pn}
        assert {p.lid for p in info.participants} == {a.lid, b.lid}
        sent = await a.client.send_message(info.jid, text("pn hello"))
        assert all(d.is_pn for d in sent.recipients)
        assert sent.server_phash is None
        await b.wait(lambda: b.texts(info.jid) == ["pn hello"])
        got = b.messages[0]
        assert got.sender == a.client.jid
        assert got.sender_alt is not None
        assert got.sender_alt.user == a.lid.user
        await b.client.send_message(info.jid, text("pn reply"))
        await a.wait(lambda: a.texts(info.jid) == ["pn reply"])
        assert a.messages[0].sender == b.client.jid
    finally:
        for member in (a, b):
            await member.client.close()


async def test_message_kinds_in_a_group(sandbox: Sandbox) -> None:
    """The message kinds (replies, reactions, polls and encrypted votes) over group sends."""
    a, b = await pair(sandbox, A), await pair(sandbox, B)
    votes: list[PollVote] = []
    a.client.on(PollVote)(votes.append)
    try:
        gid = (await a.client.create_group("kinds", [b.pn])).jid
        await a.client.send_text(gid, "question?")
        await b.wait(lambda: b.texts(gid) == ["question?"])
        question = b.messages[0]
        await b.client.send_text(gid, "answer", quote=question)
        await a.wait(lambda: "answer" in a.texts(gid))
        reply = next(m for m in a.messages if m.text == "answer")
        context = reply.message.extended_text_message.context_info
        assert context.stanza_id == question.id
        assert JID.parse(context.participant).user in (A, a.lid.user)
        await b.client.react(question, "👍")
        await a.wait(lambda: any(m.message.HasField("reaction_message") for m in a.messages))
        reaction = next(m for m in a.messages if m.message.HasField("reaction_message"))
        assert reaction.message.reaction_message.text == "👍"
        assert reaction.message.reaction_message.key.id == question.id
        await a.client.send_poll(gid, "lunch?", ["pizza", "salad"])
        polls = ("poll_creation_message", "poll_creation_message_v2", "poll_creation_message_v3")

        def received_poll() -> Message | None:
            return next((m for m in b.messages if any(m.message.HasField(f) for f in polls)), None)

        await b.wait(lambda: received_poll() is not None)
        poll = received_poll()
        assert poll is not None
        await b.client.vote(poll, ["salad"])
        await a.wait(lambda: bool(votes))
        assert votes[0].selected == ("salad",)
        assert votes[0].chat == gid
    finally:
        for member in (a, b):
            await member.client.close()
