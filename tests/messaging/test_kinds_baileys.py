"""The message kinds against Baileys' own builders and helpers (baileys_msg_kinds.mjs).

What wamd builds, Baileys reads as the same kind with the same content; what Baileys builds,
wamd's content helpers read; poll votes encrypted by either side decrypt on the other; and
Baileys' vote aggregation agrees with :class:`PollTally`.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wamd.messaging import builders as b
from wamd.messaging import content as c
from wamd.messaging import polls as p
from wamd.proto import e2e_pb2
from wamd.types import JID

pytestmark = pytest.mark.interop

ME = JID.parse("15550001111@s.whatsapp.net")
BOB = JID.parse("15550002222@s.whatsapp.net")
GROUP = JID.parse("120363000000000001@g.us")


class KindsPeer:
    """One ``node baileys_msg_kinds.mjs`` process; requests are answered in order."""

    def __init__(self, interop: Path) -> None:
        self._proc = subprocess.Popen(
            ["node", str(interop / "baileys_msg_kinds.mjs")],
            cwd=interop,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def call(self, op: str, **req: Any) -> dict[str, Any]:
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.write(json.dumps({"op": op, **req}) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("baileys_msg_kinds.mjs exited")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def inspect(self, message: e2e_pb2.Message) -> dict[str, Any]:
        return self.call("inspect", b64=base64.b64encode(message.SerializeToString()).decode())

    def build(self, jid: JID, content: dict[str, Any], **extra: Any) -> e2e_pb2.Message:
        answer = self.call("build", jid=str(jid), content=content, me=str(ME), **extra)
        message = e2e_pb2.Message()
        message.ParseFromString(base64.b64decode(answer["b64"]))
        return message

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=10)


@pytest.fixture(scope="module")
def peer(node_peers: Path) -> Iterator[KindsPeer]:
    kinds = KindsPeer(node_peers)
    yield kinds
    kinds.close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- wamd builds, Baileys reads ------------------------------------------------------------


def test_baileys_reads_wamd_kinds(peer: KindsPeer) -> None:
    quoted = b.quote_context(_Received("Q1", BOB, BOB, False, b.text("question")), chat=BOB)
    cases: list[tuple[e2e_pb2.Message, str]] = [
        (b.text("plain"), "conversation"),
        (b.text("hi @15550002222", mentions=[BOB], quote=quoted), "extendedTextMessage"),
        (b.reaction(b.message_key(BOB, "T", from_me=False), "❤"), "reactionMessage"),
        (b.edit(BOB, "OLD", b.text("new")), "protocolMessage"),
        (b.revoke(BOB, "GONE"), "protocolMessage"),
        (b.location(48.85, 2.35, name="Paris"), "locationMessage"),
        (
            b.contacts(
                [
                    b.ContactCard("Ann", b.vcard("Ann", "15550004444")),
                    b.ContactCard("Bo", b.vcard("Bo", "15550005555")),
                ]
            ),
            "contactsArrayMessage",
        ),
        (b.poll("Lunch?", ["pizza", "sushi"]), "pollCreationMessageV3"),
        (b.poll("Pick", ["a", "b"], selectable=0), "pollCreationMessage"),
        (b.disappearing_timer(b.DISAPPEARING_7D), "protocolMessage"),
    ]
    for message, kind in cases:
        assert peer.inspect(message)["type"] == kind, kind
    reply = peer.inspect(cases[1][0])["json"]["extendedTextMessage"]["contextInfo"]
    assert reply["stanzaId"] == "Q1"
    assert reply["participant"] == str(BOB)
    assert reply["mentionedJid"] == [str(BOB)]
    assert reply["quotedMessage"] == {"conversation": "question"}
    edit = peer.inspect(cases[3][0])["json"]
    # Baileys unwraps editedMessage and reads the protocol message it holds
    inner = edit["editedMessage"]["message"]["protocolMessage"]
    assert inner["type"] == 14
    assert inner["key"]["id"] == "OLD"
    assert inner["editedMessage"] == {"conversation": "new"}
    timer = peer.inspect(cases[9][0])["json"]["protocolMessage"]
    assert timer == {"type": 3, "ephemeralExpiration": 604800}


# --- Baileys builds, wamd reads ------------------------------------------------------------


def test_wamd_reads_baileys_kinds(peer: KindsPeer) -> None:
    text = peer.build(BOB, {"text": "hello @15550002222", "mentions": [str(BOB)]})
    assert c.kind_of(text) == "text"
    assert c.text_of(text) == "hello @15550002222"
    assert c.mentions_of(text) == [BOB]

    original = b.text("the question")
    reply = peer.build(
        BOB,
        {"text": "the answer"},
        quoted={
            "key": {"remoteJid": str(BOB), "fromMe": False, "id": "QID"},
            "message": b64(original.SerializeToString()),
        },
    )
    quoted = c.quoted_of(reply)
    assert quoted is not None
    assert (quoted.id, quoted.sender, quoted.text) == ("QID", BOB, "the question")

    react = peer.build(
        BOB, {"react": {"text": "👍", "key": {"remoteJid": str(BOB), "fromMe": True, "id": "MINE"}}}
    )
    got = c.reaction_of(react)
    assert got is not None
    assert (got.target_id, got.emoji, got.target_from_me) == ("MINE", "👍", True)
    assert b.edit_attribute(react) == ""
    unreact = peer.build(
        BOB, {"react": {"text": "", "key": {"remoteJid": str(BOB), "fromMe": True, "id": "MINE"}}}
    )
    assert c.reaction_of(unreact).removed  # type: ignore[union-attr]

    edit = peer.build(
        BOB, {"text": "fixed", "edit": {"remoteJid": str(BOB), "fromMe": True, "id": "OLD"}}
    )
    got_edit = c.edit_of(edit)
    assert got_edit is not None
    assert (got_edit.target_id, got_edit.text) == ("OLD", "fixed")
    assert c.kind_of(edit) == "edit"
    assert b.edit_attribute(edit) == "1"

    delete = peer.build(BOB, {"delete": {"remoteJid": str(BOB), "fromMe": True, "id": "GONE"}})
    got_revoke = c.revoke_of(delete)
    assert got_revoke is not None
    assert got_revoke.target_id == "GONE"
    assert not got_revoke.by_admin
    assert b.edit_attribute(delete) == "7"

    loc = peer.build(BOB, {"location": {"degreesLatitude": 1.25, "degreesLongitude": -3.5}})
    assert c.kind_of(loc) == "location"
    assert (loc.location_message.degrees_latitude, loc.location_message.degrees_longitude) == (
        1.25,
        -3.5,
    )

    card = b.vcard("Ann", "15550004444")
    cards = peer.build(
        BOB,
        {
            "contacts": {
                "displayName": "two",
                "contacts": [
                    {"displayName": "Ann", "vcard": card},
                    {"displayName": "Bo", "vcard": card},
                ],
            }
        },
    )
    assert c.kind_of(cards) == "contacts"
    assert cards.contacts_array_message.contacts[0].vcard == card

    poll = peer.build(BOB, {"poll": {"name": "Q", "values": ["x", "y"], "selectableCount": 1}})
    assert c.kind_of(poll) == "poll"
    assert p.poll_options(poll) == ["x", "y"]
    assert b.stanza_extras(poll).nodes[0].attrs == {"polltype": "creation"}

    ephemeral = peer.build(BOB, {"text": "vanishing"}, ephemeral=86400)
    assert c.expiration_of(ephemeral) == 86400
    assert c.text_of(ephemeral) == "vanishing"

    timer = peer.build(BOB, {"disappearingMessagesInChat": 7776000})
    assert c.timer_setting_of(timer) == 7776000


# --- poll votes both ways ------------------------------------------------------------------


def test_baileys_decrypts_wamd_votes(peer: KindsPeer) -> None:
    secret = bytes(range(32))
    vote = p.vote(
        chat=BOB,
        poll_id="POLLID",
        poll_sender=BOB,
        poll_from_me=False,
        selected=["sushi", "salad"],
        secret=secret,
        voter=ME.with_device(2),
        timestamp_ms=1,
    )
    enc = vote.poll_update_message.vote
    answer = peer.call(
        "decrypt_vote",
        encPayload=b64(enc.enc_payload),
        encIv=b64(enc.enc_iv),
        pollCreatorJid=str(BOB),
        pollMsgId="POLLID",
        pollEncKey=b64(secret),
        voterJid=str(ME),
    )
    assert answer["selected"] == [p.option_hash("sushi").hex(), p.option_hash("salad").hex()]


def test_wamd_decrypts_baileys_votes(peer: KindsPeer) -> None:
    secret = bytes(range(1, 33))
    lid_me = JID.parse("99887766554433@lid")
    lid_bob = JID.parse("11223344556677@lid")
    answer = peer.call(
        "encrypt_vote",
        selected=["yes"],
        pollCreatorJid=str(lid_me),
        pollMsgId="P2",
        pollEncKey=b64(secret),
        voterJid=str(lid_bob),
    )
    update = e2e_pb2.PollUpdateMessage()
    update.poll_creation_message_key.id = "P2"
    update.vote.enc_payload = base64.b64decode(answer["encPayload"])
    update.vote.enc_iv = base64.b64decode(answer["encIv"])
    hashes = p.decrypt_vote(
        update,
        secret,
        poll_senders=[ME, lid_me],
        voters=[BOB.with_device(5), lid_bob.with_device(5)],
    )
    assert hashes == [p.option_hash("yes")]


def test_tally_agrees_with_baileys(peer: KindsPeer) -> None:
    poll = b.poll("Lunch?", ["pizza", "sushi", "salad"], selectable=0)
    votes = [
        ("15550002222@s.whatsapp.net", ["pizza", "sushi"]),
        ("15550003333@s.whatsapp.net", ["sushi"]),
        ("15550004444@s.whatsapp.net", ["salad", "pizza"]),
    ]
    tally = p.PollTally.of(poll)
    for i, (voter, chosen) in enumerate(votes):
        tally.add(voter, [p.option_hash(o) for o in chosen], i)
    answer = peer.call(
        "tally",
        poll=b64(poll.SerializeToString()),
        me=str(ME),
        votes=[{"voter": v, "selected": [p.option_hash(o).hex() for o in ch]} for v, ch in votes],
    )
    theirs = {r["name"]: sorted(r["voters"]) for r in answer["results"]}
    assert theirs == {name: sorted(voters) for name, voters in tally.results().items()}


class _Received:
    def __init__(
        self, id: str, chat: JID, sender: JID, from_me: bool, message: e2e_pb2.Message
    ) -> None:
        self.id, self.chat, self.sender, self.from_me, self.message = (
            id,
            chat,
            sender,
            from_me,
            message,
        )
