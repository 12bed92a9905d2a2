"""Message secrets, poll votes and the tally (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wamd.crypto import hkdf_sha256, sha256
from wamd.errors import InvalidMessage
from wamd.messaging import builders as b
from wamd.messaging import polls as p
from wamd.messaging import secrets as s
from wamd.proto import e2e_pb2
from wamd.types import JID

CREATOR = JID.parse("15550001111@s.whatsapp.net")
CREATOR_LID = JID.parse("98765432101234@lid")
VOTER = JID.parse("15550002222:4@s.whatsapp.net")
VOTER_LID = JID.parse("11112222333344:4@lid")
SECRET = bytes(range(32))


def test_derive_key_known_answer() -> None:
    # Written out from the definition: HKDF-SHA256(secret, no salt, info = id | creator |
    # voter | use case), devices dropped; votes authenticate "id NUL voter".
    key, aad = s.derive_key(
        SECRET,
        s.SecretUse.POLL_VOTE,
        message_id="3EB0AA",
        original_sender=CREATOR.with_device(7),
        modifier=VOTER,
    )
    info = b"3EB0AA" + b"15550001111@s.whatsapp.net" + b"15550002222@s.whatsapp.net" + b"Poll Vote"
    assert key == hkdf_sha256(SECRET, 32, info=info)
    assert aad == b"3EB0AA\x0015550002222@s.whatsapp.net"
    # Baileys' own formulation: HMAC(HMAC(zeros, secret), info | 0x01)
    import hmac

    prk = hmac.new(bytes(32), SECRET, "sha256").digest()
    assert key == hmac.new(prk, info + b"\x01", "sha256").digest()
    react_key, react_aad = s.derive_key(
        SECRET,
        s.SecretUse.ENC_REACTION,
        message_id="3EB0AA",
        original_sender=CREATOR,
        modifier=VOTER,
    )
    assert react_aad == b""
    assert react_key != key


def test_secret_roundtrip_and_tamper() -> None:
    value = s.encrypt_secret(
        SECRET,
        s.SecretUse.ENC_REACTION,
        b"payload",
        message_id="M",
        original_sender=CREATOR,
        modifier=VOTER,
    )
    assert len(value.iv) == 12
    assert (
        s.decrypt_secret(
            SECRET,
            s.SecretUse.ENC_REACTION,
            value,
            message_id="M",
            original_sender=CREATOR,
            modifier=VOTER,
        )
        == b"payload"
    )
    bad = s.SecretValue(value.payload[:-1] + bytes([value.payload[-1] ^ 1]), value.iv)
    for args in (
        dict(value=bad, message_id="M", original_sender=CREATOR, modifier=VOTER),
        dict(value=value, message_id="N", original_sender=CREATOR, modifier=VOTER),
        dict(value=value, message_id="M", original_sender=VOTER, modifier=VOTER),
        dict(
            value=s.SecretValue(value.payload, b"short"),
            message_id="M",
            original_sender=CREATOR,
            modifier=VOTER,
        ),
    ):
        with pytest.raises(InvalidMessage):
            s.decrypt_secret(SECRET, s.SecretUse.ENC_REACTION, **args)  # type: ignore[arg-type]
    with pytest.raises(InvalidMessage):
        s.derive_key(
            b"short", s.SecretUse.POLL_VOTE, message_id="M", original_sender=CREATOR, modifier=VOTER
        )
    assert "payload" not in repr(value)


def test_candidates_cover_lid_and_pn_forms() -> None:
    value = s.encrypt_secret(
        SECRET,
        s.SecretUse.POLL_VOTE,
        b"v",
        message_id="M",
        original_sender=CREATOR_LID,
        modifier=VOTER_LID,
    )
    got = s.decrypt_with_candidates(
        SECRET,
        s.SecretUse.POLL_VOTE,
        value,
        message_id="M",
        original_senders=[CREATOR, None, CREATOR_LID],
        modifiers=[VOTER, VOTER_LID],
    )
    assert got == b"v"
    with pytest.raises(InvalidMessage):
        s.decrypt_with_candidates(
            SECRET,
            s.SecretUse.POLL_VOTE,
            value,
            message_id="M",
            original_senders=[CREATOR],
            modifiers=[VOTER],
        )
    with pytest.raises(InvalidMessage):
        s.decrypt_with_candidates(
            SECRET,
            s.SecretUse.POLL_VOTE,
            value,
            message_id="M",
            original_senders=[None],
            modifiers=[VOTER],
        )


def test_secret_records() -> None:
    poll = b.poll("q", ["a", "b"], secret=SECRET)
    rows = s.secret_records(
        poll, chat=CREATOR.with_device(3), senders=[CREATOR, CREATOR_LID, None], message_id="P1"
    )
    assert [(r.chat, r.sender, r.message_id, r.secret) for r in rows] == [
        (str(CREATOR), str(CREATOR), "P1", SECRET),
        (str(CREATOR), str(CREATOR_LID), "P1", SECRET),
    ]
    assert repr(SECRET) not in repr(rows[0])
    assert (
        s.secret_records(b.text("no secret"), chat=CREATOR, senders=[CREATOR], message_id="T") == []
    )
    dsm = e2e_pb2.Message()
    dsm.device_sent_message.message.CopyFrom(poll)
    assert s.message_secret(dsm) == SECRET
    wrong = b.text("x")
    wrong.message_context_info.message_secret = b"short"
    assert s.message_secret(wrong) is None


def _vote(
    selected: list[str], *, voter: JID = VOTER, creator: JID = CREATOR, ts: int = 1000
) -> e2e_pb2.Message:
    return p.vote(
        chat=creator,
        poll_id="POLL",
        poll_sender=creator,
        poll_from_me=False,
        selected=selected,
        secret=SECRET,
        voter=voter,
        timestamp_ms=ts,
    )


def test_vote_message_shape_and_decrypt() -> None:
    msg = _vote(["sushi"])
    update = msg.poll_update_message
    key = update.poll_creation_message_key
    assert (key.remote_jid, key.id, key.from_me) == (str(CREATOR), "POLL", False)
    assert update.sender_timestamp_ms == 1000
    assert len(update.vote.enc_iv) == 12
    extras = b.stanza_extras(msg)
    assert extras.enc_attrs == {"decrypt-fail": "hide"}
    assert [n.attrs for n in extras.nodes] == [{"polltype": "vote"}]
    hashes = p.decrypt_vote(update, SECRET, poll_senders=[CREATOR], voters=[VOTER])
    assert hashes == [sha256(b"sushi")] == [p.option_hash("sushi")]
    with pytest.raises(InvalidMessage):
        p.decrypt_vote(update, bytes(32), poll_senders=[CREATOR], voters=[VOTER])
    with pytest.raises(InvalidMessage):
        p.decrypt_vote(e2e_pb2.PollUpdateMessage(), SECRET, poll_senders=[CREATOR], voters=[VOTER])


def test_vote_that_is_not_a_vote_message() -> None:
    value = s.encrypt_secret(
        SECRET,
        s.SecretUse.POLL_VOTE,
        b"\xff\xff\xff",
        message_id="POLL",
        original_sender=CREATOR,
        modifier=VOTER,
    )
    update = e2e_pb2.PollUpdateMessage()
    update.poll_creation_message_key.id = "POLL"
    update.vote.enc_payload = value.payload
    update.vote.enc_iv = value.iv
    with pytest.raises(InvalidMessage, match="PollVoteMessage"):
        p.decrypt_vote(update, SECRET, poll_senders=[CREATOR], voters=[VOTER])


def test_tally_keeps_latest_vote_per_voter() -> None:
    poll = b.poll("Lunch?", ["pizza", "sushi", "salad"], selectable=0)
    tally = p.PollTally.of(poll)
    h = p.option_hash
    assert tally.add(VOTER, [h("pizza")], 10)
    assert tally.add(VOTER.with_device(9), [h("sushi"), h("salad")], 20)  # same user, newer
    assert not tally.add(VOTER, [h("pizza")], 15)  # older: ignored
    assert tally.add("15550003333@s.whatsapp.net", [h("sushi"), h("sushi"), b"junk"], 5)
    assert tally.counts() == {"pizza": 0, "sushi": 2, "salad": 1}
    assert tally.results()["sushi"] == ["15550002222@s.whatsapp.net", "15550003333@s.whatsapp.net"]
    assert tally.choice_of(VOTER) == ["sushi", "salad"]
    assert tally.add(VOTER, [], 30)  # withdrawn
    assert tally.choice_of(VOTER) == []
    assert tally.counts()["sushi"] == 1
    assert not tally.add(VOTER, [h("pizza")], 25)  # an older vote does not come back
    event = p.PollVote(
        CREATOR,
        VOTER,
        "POLL",
        CREATOR,
        (h("pizza"),),
        ("pizza",),
        datetime.fromtimestamp(40, UTC),
        "V1",
    )
    assert tally.add_vote(event)
    assert tally.choice_of(VOTER) == ["pizza"]
    assert "pizza" in repr(tally)
    with pytest.raises(ValueError, match="creates no poll"):
        p.PollTally.of(b.text("no poll"))
    assert p.poll_options(poll) == ["pizza", "sushi", "salad"]


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 50), st.sets(st.integers(0, 2))), max_size=30
    )
)
def test_tally_matches_a_model(votes: list[tuple[int, int, set[int]]]) -> None:
    options = ["a", "b", "c"]
    tally = p.PollTally(options)
    model: dict[int, tuple[int, set[int]]] = {}
    for who, ts, chosen in votes:
        voter = JID(f"1555000{who}", "s.whatsapp.net")
        tally.add(voter, [p.option_hash(options[i]) for i in sorted(chosen)], ts)
        if who not in model or model[who][0] <= ts:
            model[who] = (ts, chosen)
    expected = {o: sum(1 for _, ch in model.values() if i in ch) for i, o in enumerate(options)}
    assert tally.counts() == expected
