"""Baileys (the real peer) and wamd exchange text, replies, reactions, edits, revokes and a
poll with votes both ways through the sandbox; each side's events carry the right content.

The Node side is tests/interop/baileys_msg_peer.mjs (a long-lived Baileys client driven over
JSON lines, see baileys_msg_peer.py); the wamd side is a :class:`wamd.Client`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.interop.baileys_msg_peer import BaileysPeer
from tests.messaging.collector import Collector
from wamd.client import Client
from wamd.crypto import sha256
from wamd.messaging import Message
from wamd.messaging import content as c
from wamd.messaging.polls import PollVote
from wamd.sandbox import Sandbox
from wamd.sandbox.testing import paired_client
from wamd.types import JID

pytestmark = [pytest.mark.interop, pytest.mark.slow]


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox(state_dir=tmp_path / "sandbox", port=0) as running:
        yield running


def _text(message: dict[str, Any] | None) -> str | None:
    message = message or {}
    if "conversation" in message:
        return str(message["conversation"])
    ext = message.get("extendedTextMessage")
    return None if ext is None else str(ext.get("text"))


async def test_baileys_and_wamd_exchange_every_kind(
    sandbox: Sandbox, node_peers: Path, tmp_path: Path
) -> None:
    peer = await BaileysPeer.paired(node_peers, sandbox, tmp_path / "baileys", "15550005555")
    try:
        async with paired_client(sandbox, "15550006666") as client:
            await _exchange(peer, client)
    finally:
        await peer.close()


async def _exchange(peer: BaileysPeer, client: Client) -> None:
    events = Collector(client, Message, PollVote)
    baileys_user = JID.parse(peer.me["id"]).to_non_ad()
    assert client.jid is not None
    wamd_user = client.jid.to_non_ad()

    # --- text both ways ---------------------------------------------------------------------
    mine = await client.send_text(baileys_user, "hello Baileys")
    got = await peer.message(lambda e: e["id"] == mine.id)
    assert _text(got["message"]) == "hello Baileys"
    assert not got["fromMe"]
    chat_at_baileys = got["remoteJid"]  # how Baileys names the chat with wamd

    theirs = await peer.command("send", to=str(wamd_user), content={"text": "hello wamd"})
    from_baileys: Message = await events.message(theirs["id"])
    assert from_baileys.text == "hello wamd"
    assert not from_baileys.from_me
    assert from_baileys.sender.user in {baileys_user.user, JID.parse(peer.me["lid"]).user}

    # --- replies both ways ------------------------------------------------------------------
    reply = await client.send_text(from_baileys.chat, "my reply", quote=from_baileys)
    got_reply = await peer.message(lambda e: e["id"] == reply.id)
    ctx = got_reply["message"]["extendedTextMessage"]["contextInfo"]
    assert ctx["stanzaId"] == theirs["id"]
    assert _text(ctx["quotedMessage"]) == "hello wamd"

    their_reply = await peer.command(
        "send", to=str(wamd_user), content={"text": "their reply"}, quoted=mine.id
    )
    got_their_reply: Message = await events.get(Message, lambda e: e.id == their_reply["id"])
    quoted = c.quoted_of(got_their_reply.message)
    assert quoted is not None
    assert (quoted.id, quoted.text) == (mine.id, "hello Baileys")

    # --- reactions both ways ----------------------------------------------------------------
    await client.react(from_baileys, "👍")
    reaction = await peer.wait_for(
        lambda e: e["event"] == "reaction" and e["key"]["id"] == theirs["id"]
    )
    assert reaction["reaction"]["text"] == "👍"

    key = {"remoteJid": chat_at_baileys, "fromMe": False, "id": mine.id}
    their_react = await peer.command(
        "send", to=str(wamd_user), content={"react": {"text": "🔥", "key": key}}
    )
    got_react: Message = await events.get(Message, lambda e: e.id == their_react["id"])
    got_reaction = c.reaction_of(got_react.message)
    assert got_reaction is not None
    assert (got_reaction.target_id, got_reaction.emoji) == (mine.id, "🔥")

    # --- edits both ways --------------------------------------------------------------------
    await client.edit_message(baileys_user, mine.id, "hello Baileys (edited)")
    edited = await peer.wait_for(
        lambda e: e["event"] == "update" and e["id"] == mine.id and "message" in e["update"]
    )
    new = edited["update"]["message"]["editedMessage"]["message"]
    assert _text(new) == "hello Baileys (edited)"

    own_key = {"remoteJid": str(wamd_user), "fromMe": True, "id": theirs["id"]}
    their_edit = await peer.command(
        "send", to=str(wamd_user), content={"text": "hello wamd (edited)", "edit": own_key}
    )
    got_edit: Message = await events.get(Message, lambda e: e.id == their_edit["id"])
    assert got_edit.edit == "1"
    edit = c.edit_of(got_edit.message)
    assert edit is not None
    assert (edit.target_id, edit.text) == (theirs["id"], "hello wamd (edited)")

    # --- revokes both ways ------------------------------------------------------------------
    await client.revoke_message(baileys_user, reply.id)
    revoked = await peer.wait_for(
        lambda e: (
            e["event"] == "update"
            and e["id"] == reply.id
            and e["update"].get("messageStubType") is not None
        )
    )
    assert revoked["update"]["message"] is None

    their_delete = await peer.command(
        "send",
        to=str(wamd_user),
        content={"delete": {"remoteJid": str(wamd_user), "fromMe": True, "id": their_reply["id"]}},
    )
    got_delete: Message = await events.get(Message, lambda e: e.id == their_delete["id"])
    assert got_delete.edit == "7"
    assert got_delete.is_revoke
    assert got_delete.target_id == their_reply["id"]

    # --- a poll from wamd, Baileys votes ------------------------------------------------------
    poll = await client.send_poll(baileys_user, "Lunch?", ["pizza", "sushi", "salad"], selectable=0)
    got_poll = await peer.message(lambda e: e["id"] == poll.id)
    assert got_poll["type"] == "pollCreationMessage"
    assert [o["optionName"] for o in got_poll["message"]["pollCreationMessage"]["options"]] == [
        "pizza",
        "sushi",
        "salad",
    ]
    await peer.command("vote", to=str(wamd_user), poll=poll.id, selected=["sushi", "salad"])
    vote: PollVote = await events.get(PollVote, lambda e: e.poll_id == poll.id)
    assert vote.selected == ("sushi", "salad")
    assert vote.voter.user in {baileys_user.user, JID.parse(peer.me["lid"]).user}

    # --- a poll from Baileys, wamd votes ------------------------------------------------------
    their_poll = await peer.command(
        "send",
        to=str(wamd_user),
        content={"poll": {"name": "Tea?", "values": ["yes", "no"], "selectableCount": 1}},
    )
    got_their_poll: Message = await events.get(Message, lambda e: e.id == their_poll["id"])
    assert c.kind_of(got_their_poll.message) == "poll"
    my_vote = await client.vote(got_their_poll, ["no"])
    got_vote = await peer.message(lambda e: e["id"] == my_vote.id)
    assert got_vote["type"] == "pollUpdateMessage"
    assert got_vote["vote"].get("selected") == [sha256(b"no").hex()], got_vote["vote"]
