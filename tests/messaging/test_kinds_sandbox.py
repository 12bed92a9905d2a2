"""Two wamd clients on a sandbox: every message kind both ways, votes, receipts, presence."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.messaging.collector import Collector
from wamd.client import Client
from wamd.messaging import Message, Receipt, ReceiptType
from wamd.messaging import builders as b
from wamd.messaging import content as c
from wamd.messaging.polls import PollTally, PollVote
from wamd.messaging.presence import ChatPresence, ChatState
from wamd.proto import e2e_pb2
from wamd.sandbox import Sandbox
from wamd.sandbox.testing import paired_client
from wamd.types import JID

pytestmark = pytest.mark.slow


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox(state_dir=tmp_path / "sandbox", port=0) as running:
        yield running


def user(client: Client) -> JID:
    assert client.jid is not None
    return client.jid.to_non_ad()


async def test_every_kind_both_ways(sandbox: Sandbox) -> None:
    async with (
        paired_client(sandbox, "15550001111") as alice,
        paired_client(sandbox, "15550002222") as bob,
    ):
        at_alice = Collector(alice, Message, PollVote, Receipt, ChatPresence)
        at_bob = Collector(bob, Message, PollVote, Receipt, ChatPresence)
        for sender, receiver, inbox in ((alice, bob, at_bob), (bob, alice, at_alice)):
            to = user(receiver)
            # text with a mention
            sent = await sender.send_text(to, f"hi @{to.user}", mentions=[to])
            got = await inbox.message(sent.id)
            assert got.text == f"hi @{to.user}"
            assert got.mentions == [to]
            assert got.kind == "text"
            assert got.chat.user in (user(sender).user, (sender.lid or user(sender)).user)
            # reply quoting it
            back = (receiver is bob and at_alice) or at_bob
            reply = await receiver.send_text(got.chat, "a reply", quote=got)
            quoted_reply = await back.message(reply.id)
            quoted = quoted_reply.quoted
            assert quoted is not None
            assert (quoted.id, quoted.text) == (sent.id, f"hi @{to.user}")
            # reaction, and its removal
            react = await receiver.react(got, "👍")
            reaction = (await back.message(react.id)).reaction
            assert reaction is not None
            assert (reaction.target_id, reaction.emoji, reaction.target_from_me) == (
                sent.id,
                "👍",
                False,
            )
            unreact = await receiver.react(got, "")
            removed = await back.message(unreact.id)
            assert removed.edit == "7"
            assert c.reaction_of(removed.message).removed  # type: ignore[union-attr]
            # edit: the stanza says edit="1" and the event says what changed
            edited = await sender.edit_message(to, sent.id, "hi, edited")
            got_edit = await inbox.message(edited.id)
            assert got_edit.edit == "1"
            assert got_edit.is_edit
            assert got_edit.target_id == sent.id
            edit = got_edit.edited
            assert edit is not None
            assert edit.text == "hi, edited"
            # revoke for everyone: edit="7"
            revoked = await sender.revoke_message(to, sent.id)
            got_revoke = await inbox.message(revoked.id)
            assert (got_revoke.edit, got_revoke.is_revoke, got_revoke.target_id) == (
                "7",
                True,
                sent.id,
            )
            assert got_revoke.revoked is not None
            assert got_revoke.revoked.target_id == sent.id
            assert got_revoke.kind == "revoke"
            # location, contacts, view-once, disappearing timer and a text under it
            loc = await sender.send_message(to, b.location(48.85, 2.35, name="Paris"))
            got_loc = await inbox.message(loc.id)
            assert c.kind_of(got_loc.message) == "location"
            assert got_loc.message.location_message.name == "Paris"
            card = b.vcard("Ann", "15550004444")
            cards = await sender.send_message(
                to, b.contacts([b.ContactCard("Ann", card), b.ContactCard("Bo", card)])
            )
            got_cards = await inbox.message(cards.id)
            assert [x.vcard for x in got_cards.message.contacts_array_message.contacts] == [
                card,
                card,
            ]
            image = e2e_pb2.Message()
            image.image_message.caption = "once"
            image.image_message.mimetype = "image/jpeg"
            once = await sender.send_message(to, b.view_once(image))
            got_once = await inbox.message(once.id)
            assert c.is_view_once(got_once.message)
            assert c.text_of(got_once.message) == "once"
            timer = await sender.set_disappearing_timer(to, b.DISAPPEARING_7D)
            assert c.timer_setting_of((await inbox.message(timer.id)).message) == 604800
            vanishing = await sender.send_text(to, "gone in a week", expiration=b.DISAPPEARING_7D)
            assert c.expiration_of((await inbox.message(vanishing.id)).message) == 604800
            # read receipts
            await receiver.mark_read(got.chat, [sent.id, loc.id], sender=got.sender)
            back_inbox = at_alice if sender is alice else at_bob
            read = await back_inbox.get(Receipt, lambda e: e.type == ReceiptType.READ)
            assert set(read.ids) == {sent.id, loc.id}
            # typing
            await receiver.send_chat_presence(got.chat, ChatState.COMPOSING)
            typing = await back_inbox.get(ChatPresence)
            assert typing.state is ChatState.COMPOSING


async def test_poll_with_votes_both_ways(sandbox: Sandbox) -> None:
    async with (
        paired_client(sandbox, "15550003333") as alice,
        paired_client(sandbox, "15550004444") as bob,
    ):
        at_alice = Collector(alice, Message, PollVote, Receipt, ChatPresence)
        at_bob = Collector(bob, Message, PollVote, Receipt, ChatPresence)
        poll = await alice.send_poll(user(bob), "Lunch?", ["pizza", "sushi", "salad"], selectable=0)
        got_poll = await at_bob.message(poll.id)
        assert c.kind_of(got_poll.message) == "poll"
        assert got_poll.type == "poll"
        tally = PollTally.of(got_poll.message)
        # Bob votes twice (the second replaces the first); Alice decrypts both
        await bob.vote(got_poll, ["pizza"])
        first = await at_alice.get(PollVote)
        assert (first.poll_id, first.selected, first.voter.user) in {
            (poll.id, ("pizza",), u) for u in (user(bob).user, (bob.lid or user(bob)).user)
        }
        await bob.vote(got_poll, ["sushi", "salad"])
        second = await at_alice.get(PollVote)
        assert second.selected == ("sushi", "salad")
        for vote in (first, second):
            tally.add_vote(vote)
        assert tally.counts() == {"pizza": 0, "sushi": 1, "salad": 1}
        # and the other way: Bob's poll, Alice votes
        other = await bob.send_poll(user(alice), "Tea?", ["yes", "no"])
        got_other = await at_alice.message(other.id)
        await alice.vote(got_other, ["yes"])
        theirs = await at_bob.get(PollVote)
        assert (theirs.poll_id, theirs.selected) == (other.id, ("yes",))


async def test_link_preview_and_played_and_read_self_receipts(sandbox: Sandbox) -> None:
    """A text with a link preview arrives with its fields; a voice note marked played gives
    the sender a ``played`` receipt; ``read-self`` reaches our other device, not the sender."""
    async with (
        paired_client(sandbox, "15550005555") as alice,
        paired_client(sandbox, "15550006666") as bob,
        paired_client(sandbox, "15550006666") as bob2,
    ):
        at_alice = Collector(alice, Message, Receipt)
        at_bob = Collector(bob, Message, Receipt)
        at_bob2 = Collector(bob2, Message, Receipt)
        thumb = bytes(range(64))
        preview = b.LinkPreview(
            url="https://example.org/a", title="A page", description="what it says", thumbnail=thumb
        )
        sent = await alice.send_text(user(bob), "see https://example.org/a", preview=preview)
        got = await at_bob.message(sent.id)
        ext = got.message.extended_text_message
        assert (ext.text, ext.matched_text, ext.title, ext.description, ext.jpeg_thumbnail) == (
            "see https://example.org/a",
            "https://example.org/a",
            "A page",
            "what it says",
            thumb,
        )
        assert got.text == "see https://example.org/a"
        await at_bob2.message(sent.id)  # bob's second device has it too
        # played: the sender learns it
        await bob.mark_played(got.chat, [sent.id], sender=got.sender)
        played = await at_alice.get(Receipt, lambda e: e.type == ReceiptType.PLAYED)
        assert played.ids == (sent.id,) or list(played.ids) == [sent.id]
        assert not played.from_me
        # read-self: bob's other device learns it, alice gets no read receipt
        await bob.mark_read(got.chat, [sent.id], sender=got.sender, self_only=True)
        mine = await at_bob2.get(Receipt, lambda e: e.type == ReceiptType.READ_SELF)
        assert list(mine.ids) == [sent.id]
        assert mine.from_me
        await bob.mark_read(got.chat, [sent.id], sender=got.sender)  # a real one, as a marker
        read = await at_alice.get(
            Receipt, lambda e: e.type in (ReceiptType.READ, ReceiptType.READ_SELF)
        )
        assert read.type == ReceiptType.READ
