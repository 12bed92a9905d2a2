"""A hostile server sends a logged-in wamd client malformed and adversarial stanzas of every
tag it handles. For each: a typed error is logged (never an untyped exception reaching a
catch-all), the stanza is answered where the protocol wants it (an ack, an ack with an error,
a retry receipt), the reader keeps running (no reconnect), the stored Signal state is
untouched, and a good message sent afterwards is still delivered.

One sandbox with two paired clients serves the whole module (pairing is the slow part).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from tests.hostile.harness import Duo, duo, next_id
from tests.hostile.peer import prekey_bundle, stranger_pkmsg
from wamd import events
from wamd.binary import AttrValue, Node
from wamd.messaging.events import UndecryptableMessage
from wamd.proto import e2e_pb2
from wamd.types import JID, SERVER_JID

pytestmark = pytest.mark.asyncio(loop_scope="module")

GROUP = JID("120363000000000001", "g.us")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def d() -> AsyncIterator[Duo]:
    async with duo() as pair_of_clients:
        yield pair_of_clients


@pytest.fixture(autouse=True)
def _fresh_problems(d: Duo) -> None:
    d.problems.clear()


def _stanza(
    d: Duo,
    tag: str,
    attrs: dict[str, AttrValue | None],
    content: list[Node] | bytes | str | None = None,
) -> Node:
    base: dict[str, AttrValue | None] = {"id": next_id(), "from": d.sender.jid, "t": "1700000000"}
    if tag == "message":
        base["type"] = "text"
    base.update(attrs)
    return Node(tag, {k: v for k, v in base.items() if v is not None}, content)


def _enc(data: bytes | str | list[Node] | None, kind: str = "msg", **attrs: str) -> Node:
    return Node("enc", {"v": "2", "type": kind, **attrs}, data)


def _acks(d: Duo, stanza_id: str) -> list[Node]:
    return [n for n in d.answers_to(stanza_id) if n.tag == "ack"]


def _retries(d: Duo, stanza_id: str) -> list[Node]:
    return [
        n for n in d.answers_to(stanza_id) if n.tag == "receipt" and n.attrs.get("type") == "retry"
    ]


# --- <message> -----------------------------------------------------------------------------

NACK_PARSE = "487"  # the stanza cannot be read
NACK_NOTHING = "488"  # nothing this client can decrypt
RETRY = "retry"  # read, but undecryptable: a retry receipt, then a plain ack

Case = tuple[str, Callable[[Duo], Node], str]

MESSAGE_CASES: list[Case] = [
    ("no from", lambda d: _stanza(d, "message", {"from": None}, [_enc(b"x")]), NACK_PARSE),
    (
        "from not a JID",
        lambda d: _stanza(d, "message", {"from": "not a jid"}, [_enc(b"x")]),
        NACK_PARSE,
    ),
    (
        "from the server",
        lambda d: _stanza(d, "message", {"from": SERVER_JID}, [_enc(b"x")]),
        NACK_PARSE,
    ),
    (
        "group without participant",
        lambda d: _stanza(d, "message", {"from": GROUP}, [_enc(b"x", "skmsg")]),
        NACK_PARSE,
    ),
    (
        "participant not a JID",
        lambda d: _stanza(
            d, "message", {"from": GROUP, "participant": "junk"}, [_enc(b"x", "skmsg")]
        ),
        NACK_PARSE,
    ),
    ("t not a number", lambda d: _stanza(d, "message", {"t": "abc"}, [_enc(b"x")]), NACK_PARSE),
    ("t huge", lambda d: _stanza(d, "message", {"t": "9" * 30}, [_enc(b"x")]), NACK_PARSE),
    ("t negative", lambda d: _stanza(d, "message", {"t": "-5"}, [_enc(b"x")]), RETRY),
    (
        "t past year 9999",
        lambda d: _stanza(d, "message", {"t": "9" * 14}, [_enc(b"x")]),
        NACK_PARSE,
    ),
    (
        "recipient on a message from a contact",
        lambda d: _stanza(d, "message", {"recipient": d.sender.jid}, [_enc(b"x")]),
        NACK_PARSE,
    ),
    ("enc v not a number", lambda d: _stanza(d, "message", {}, [_enc(b"x", v="abc")]), NACK_PARSE),
    (
        "enc count not a number",
        lambda d: _stanza(d, "message", {}, [_enc(b"x", count="zz")]),
        NACK_PARSE,
    ),
    (
        "enc holding a string",
        lambda d: _stanza(d, "message", {}, [_enc("a string")]),
        RETRY,
    ),  # strings are bytes on the wire: it decodes as a (bad) ciphertext
    ("enc holding nodes", lambda d: _stanza(d, "message", {}, [_enc([Node("x")])]), NACK_PARSE),
    ("enc empty", lambda d: _stanza(d, "message", {}, [_enc(None)]), NACK_PARSE),
    ("no content", lambda d: _stanza(d, "message", {}), NACK_NOTHING),
    ("raw bytes content", lambda d: _stanza(d, "message", {}, b"raw"), NACK_NOTHING),
    ("only unavailable", lambda d: _stanza(d, "message", {}, [Node("unavailable")]), NACK_NOTHING),
    ("unknown enc type", lambda d: _stanza(d, "message", {}, [_enc(b"x", "weird")]), RETRY),
    ("unknown enc version", lambda d: _stanza(d, "message", {}, [_enc(b"x", v="7")]), RETRY),
    ("empty ciphertext", lambda d: _stanza(d, "message", {}, [_enc(b"")]), RETRY),
    ("garbage msg", lambda d: _stanza(d, "message", {}, [_enc(b"\x33" + b"\x00" * 100)]), RETRY),
    (
        "garbage pkmsg",
        lambda d: _stanza(d, "message", {}, [_enc(b"\x33" + b"\xff" * 200, "pkmsg")]),
        RETRY,
    ),
    (
        "wrong version byte",
        lambda d: _stanza(d, "message", {}, [_enc(b"\x22" + b"\x01" * 60)]),
        RETRY,
    ),
    (
        "skmsg without a distribution",
        lambda d: _stanza(
            d,
            "message",
            {"from": GROUP, "participant": d.sender.jid},
            [_enc(b"\x33" * 80, "skmsg")],
        ),
        RETRY,
    ),
    (
        "skmsg with a garbage pkmsg",
        lambda d: _stanza(
            d,
            "message",
            {"from": GROUP, "participant": d.sender.jid},
            [_enc(b"zz", "pkmsg"), _enc(b"\x33" * 80, "skmsg")],
        ),
        RETRY,
    ),
    (
        "status broadcast",
        lambda d: _stanza(
            d,
            "message",
            {"from": JID("status", "broadcast"), "participant": d.sender.jid},
            [_enc(b"x", "skmsg")],
        ),
        RETRY,
    ),
    (
        "sender_lid not a JID",
        lambda d: _stanza(d, "message", {"sender_lid": "junk"}, [_enc(b"x")]),
        RETRY,
    ),
    (
        "from our own device",
        lambda d: _stanza(d, "message", {"from": d.victim.jid}, [_enc(b"x")]),
        RETRY,
    ),
    (
        "hosted device",
        lambda d: _stanza(
            d,
            "message",
            {"from": JID(d.sender.jid.user if d.sender.jid else "", "s.whatsapp.net", device=99)},
            [_enc(b"x")],
        ),
        RETRY,
    ),
    (
        "offline redelivery of garbage",
        lambda d: _stanza(d, "message", {"offline": "1"}, [_enc(b"x")]),
        RETRY,
    ),
    ("3000 enc children", lambda d: _stanza(d, "message", {}, [_enc(b"x")] * 3000), RETRY),
    ("2 MiB ciphertext", lambda d: _stanza(d, "message", {}, [_enc(b"\x00" * (2 << 20))]), RETRY),
]


@pytest.mark.parametrize(
    ("name", "make", "expected"), MESSAGE_CASES, ids=[c[0] for c in MESSAGE_CASES]
)
async def test_bad_message_stanzas(
    d: Duo, name: str, make: Callable[[Duo], Node], expected: str
) -> None:
    before = d.stored()
    node = make(d)
    await d.inject(node)
    await d.survived(before, label=name)
    stanza_id = str(node.attrs["id"])
    acks = _acks(d, stanza_id)
    assert len(acks) == 1, f"{name}: {d.answers_to(stanza_id)}"
    if expected == RETRY:
        assert _retries(d, stanza_id), f"{name}: no retry receipt"
        assert "error" not in acks[0].attrs
    else:
        assert acks[0].attrs.get("error") == expected, acks[0]


async def test_message_without_an_id_is_dropped(d: Duo) -> None:
    before = d.stored()
    await d.inject(_stanza(d, "message", {"id": None}, [_enc(b"x")]))
    await d.survived(before, label="no id")


def _fresh_pkmsg(
    d: Duo, *, tamper: Callable[[bytes], bytes] = lambda b: b, prekey_id: int | None = None
) -> bytes:
    """A real PreKeySignalMessage to the victim from an identity it has never seen, built
    on the victim's real signed prekey and one of its uploaded one-time prekeys."""
    tables = d.victim.device.account._tables
    uploaded = sorted(k for k, (_, done) in tables.prekeys.items() if done)
    bundle = prekey_bundle(d.victim, uploaded[0], claimed_id=prekey_id)
    message = e2e_pb2.Message(conversation="from an impostor").SerializeToString()
    return tamper(stranger_pkmsg(bundle, message))


@pytest.mark.parametrize("variant", ["bad MAC", "unknown one-time prekey", "truncated"])
async def test_pkmsg_with_a_new_identity_that_fails(d: Duo, variant: str) -> None:
    """A pkmsg claiming to come from the sender with another identity key, that does not
    decrypt: the sender's stored identity and session stay, no prekey is consumed."""
    tamper: Callable[[bytes], bytes] = {
        "bad MAC": lambda b: b[:-1] + bytes([b[-1] ^ 1]),
        "unknown one-time prekey": lambda b: b,
        "truncated": lambda b: b[: len(b) // 2],
    }[variant]
    prekey_id = 0xFFFFF0 if variant == "unknown one-time prekey" else None
    before = d.stored()
    node = _stanza(
        d, "message", {}, [_enc(_fresh_pkmsg(d, tamper=tamper, prekey_id=prekey_id), "pkmsg")]
    )
    await d.inject(node)
    await d.survived(before, label=variant)
    assert _retries(d, str(node.attrs["id"]))
    assert not [
        e
        for e in d.all_events
        if isinstance(e, events.Event) and type(e).__name__ == "IdentityChanged"
    ]


async def test_a_burst_of_garbage_then_a_good_message(d: Duo) -> None:
    """A hundred bad stanzas, each undecryptable one repeated up to five times (so retry
    receipts carry keys): at most one new one-time prekey is made for all those retries."""
    before = d.stored()
    burst = [make(d) for _, make, _ in MESSAGE_CASES[:20]] * 5
    await d.inject(*burst)
    await d.settle()
    after = d.stored()
    assert len(set(after["prekeys"]) - set(before["prekeys"])) <= 1
    before["prekeys"] = after["prekeys"]
    await d.survived(before, label="burst")


async def test_retries_give_up_with_a_typed_event(d: Duo) -> None:
    """The same undecryptable message delivered again and again: retry receipts up to the
    limit, then UndecryptableMessage and a plain ack — never a loop."""
    stanza_id = next_id()
    for count in range(6):  # the 6th copy (after five retry receipts) gives up
        node = _stanza(
            d, "message", {"id": stanza_id}, [_enc(b"\x33" + b"\x01" * 70, count=str(count))]
        )
        await d.inject(node)
        await d.settle(0.05)
    await d.survived(label="retries")
    assert len(_retries(d, stanza_id)) <= d.victim.messaging.options.max_retries
    gave_up = [e for e in d.all_events if isinstance(e, UndecryptableMessage) and e.id == stanza_id]
    assert len(gave_up) == 1


async def test_copies_of_an_undecryptable_message_in_one_batch(d: Duo) -> None:
    """The same undecryptable stanza three times in a row: the first copy gets the retry
    receipt, the copies only an ack — no copy claims delivery of what was not decrypted."""
    stanza_id = next_id()
    node = _stanza(d, "message", {"id": stanza_id}, [_enc(b"\x33" + b"\x02" * 70)])
    await d.inject(node, node, node)
    await d.survived(label="copies")
    answers = d.answers_to(stanza_id)
    assert not [n for n in answers if n.tag == "receipt" and n.attrs.get("type") != "retry"]
    assert len(_retries(d, stanza_id)) == 1
    assert len(_acks(d, stanza_id)) == 3


# --- <receipt> -----------------------------------------------------------------------------


def _retry_receipt(d: Duo, message_id: str, *children: Node, count: str = "1") -> Node:
    return _stanza(
        d,
        "receipt",
        {"type": "retry"},
        [Node("retry", {"count": count, "id": message_id, "t": "1", "v": "1"}), *children],
    )


REG = Node("registration", {}, b"\x00\x00\x00\x01")

RECEIPT_CASES: list[tuple[str, Callable[[Duo], Node], str | None]] = [
    ("plain", lambda d: _stanza(d, "receipt", {}), None),
    ("no from", lambda d: _stanza(d, "receipt", {"from": None}), NACK_PARSE),
    ("from not a JID", lambda d: _stanza(d, "receipt", {"from": "junk"}), NACK_PARSE),
    ("t not a number", lambda d: _stanza(d, "receipt", {"type": "read", "t": "x"}), NACK_PARSE),
    (
        "t past year 9999",
        lambda d: _stanza(d, "receipt", {"type": "read", "t": "9" * 18}),
        NACK_PARSE,
    ),
    ("unknown type", lambda d: _stanza(d, "receipt", {"type": "x" * 5000}), None),
    (
        "5000 listed ids",
        lambda d: _stanza(
            d,
            "receipt",
            {"type": "read"},
            [Node("list", {}, [Node("item", {"id": str(i)}) for i in range(5000)])],
        ),
        None,
    ),
    (
        "list of bytes",
        lambda d: _stanza(d, "receipt", {"type": "read"}, [Node("list", {}, b"x")]),
        None,
    ),
    (
        "group, junk participant",
        lambda d: _stanza(d, "receipt", {"from": GROUP, "participant": "junk"}),
        None,
    ),
    ("retry without <retry>", lambda d: _stanza(d, "receipt", {"type": "retry"}), None),
    ("retry, bad count", lambda d: _retry_receipt(d, "A", REG, count="x"), None),
    ("retry, huge count", lambda d: _retry_receipt(d, "A", REG, count="999999999"), None),
    (
        "retry, short registration",
        lambda d: _retry_receipt(d, "A", Node("registration", {}, b"\x01")),
        None,
    ),
    (
        "retry, registration of nodes",
        lambda d: _retry_receipt(d, "A", Node("registration", {}, [Node("x")])),
        None,
    ),
    (
        "retry, keys without registration",
        lambda d: _retry_receipt(d, "A", Node("keys", {}, [Node("identity", {}, b"\x05" * 33)])),
        None,
    ),
    (
        "retry, short identity",
        lambda d: _retry_receipt(
            d, "A", REG, Node("keys", {}, [Node("identity", {}, b"\x05" * 3)]), count="2"
        ),
        None,
    ),
    (
        "retry, badly signed keys",
        lambda d: _retry_receipt(
            d,
            "A",
            REG,
            Node(
                "keys",
                {},
                [
                    Node("identity", {}, b"\x05" + b"\x01" * 32),
                    Node(
                        "skey",
                        {},
                        [
                            Node("id", {}, b"\x00\x00\x01"),
                            Node("value", {}, b"\x05" * 33),
                            Node("signature", {}, b"\x00" * 64),
                        ],
                    ),
                ],
            ),
            count="2",
        ),
        None,
    ),
    ("retry for an unknown message", lambda d: _retry_receipt(d, "NEVER-SENT", REG), None),
]


@pytest.mark.parametrize(
    ("name", "make", "error"), RECEIPT_CASES, ids=[c[0] for c in RECEIPT_CASES]
)
async def test_bad_receipts(
    d: Duo, name: str, make: Callable[[Duo], Node], error: str | None
) -> None:
    before = d.stored()
    node = make(d)
    await d.inject(node)
    await d.survived(before, label=name)
    acks = _acks(d, str(node.attrs["id"]))
    assert len(acks) == 1, f"{name}: {d.answers_to(str(node.attrs['id']))}"
    assert acks[0].attrs.get("error") == error
    assert not [n for n in d.answers_to(str(node.attrs["id"])) if n.tag == "message"]


async def test_a_retry_receipt_with_bad_keys_for_a_real_message(d: Duo) -> None:
    """A retry receipt for a message the victim really sent, carrying a badly signed
    bundle: nothing is sent again and the session with the sender stays."""
    assert d.sender.jid is not None
    sent = await d.victim.send_message(
        d.sender.jid.to_non_ad(), e2e_pb2.Message(conversation="original")
    )
    await d.settle()
    before = d.stored()
    node = _retry_receipt(
        d,
        sent.id,
        REG,
        Node(
            "keys",
            {},
            [
                Node("type", {}, b"\x05"),
                Node("identity", {}, b"\x05" + b"\x01" * 32),
                Node("key", {}, [Node("id", {}, b"\x00\x00\x09"), Node("value", {}, b"\x05" * 33)]),
                Node(
                    "skey",
                    {},
                    [
                        Node("id", {}, b"\x00\x00\x01"),
                        Node("value", {}, b"\x05" * 33),
                        Node("signature", {}, b"\x00" * 64),
                    ],
                ),
            ],
        ),
        count="2",
    )
    resent = len([n for n in d.answers_to(sent.id) if n.tag == "message"])
    await d.inject(node)
    await d.survived(before, label="bad keys")
    assert len([n for n in d.answers_to(sent.id) if n.tag == "message"]) == resent


async def test_a_flood_of_retry_receipts_is_answered_with_bounded_work(d: Duo) -> None:
    """Retry receipts are answered in the background with at most MAX_RETRY_ANSWERS tasks
    at once (the reader waits beyond that); every one is acked in the end."""
    from wamd.messaging import core

    messaging = d.victim.messaging
    most = 0
    original = messaging._answer_retry

    async def counting(*args: object) -> None:
        nonlocal most
        most = max(most, sum(1 for t in messaging._background if not t.done()))
        await original(*args)  # type: ignore[arg-type]

    messaging._answer_retry = counting  # type: ignore[method-assign]
    try:
        nodes = [_retry_receipt(d, f"UNKNOWN{i}", REG, count="3") for i in range(300)]
        await d.inject(*nodes)
        await d.survived(label="retry flood")
        for node in nodes:
            assert len(_acks(d, str(node.attrs["id"]))) == 1
    finally:
        del messaging._answer_retry
    assert 0 < most <= core.MAX_RETRY_ANSWERS


# --- <notification> ------------------------------------------------------------------------

NOTIFICATION_TYPES = [
    "devices",
    "encrypt",
    "w:gp2",
    "server_sync",
    "picture",
    "link_code_companion_reg",
    "mediaretry",
    "account_sync",
    "status",
    "privacy_token",
    "business",
    "contacts",
    "psa",
    "disappearing_mode",
    "newsletter",
    "",
    "x" * 300,
]


def _notification_bodies(d: Duo, kind: str) -> list[Node]:
    n = _stanza
    return [
        n(d, "notification", {"type": kind}),
        n(d, "notification", {"type": kind, "from": SERVER_JID}),
        n(d, "notification", {"type": kind, "from": GROUP}),
        n(d, "notification", {"type": kind, "from": None}),
        n(d, "notification", {"type": kind, "from": "junk"}),
        n(d, "notification", {"type": kind}, b"bytes"),
        n(
            d,
            "notification",
            {"type": kind},
            [
                Node(tag)
                for tag in (
                    "add",
                    "remove",
                    "count",
                    "identity",
                    "collection",
                    "create",
                    "rmr",
                    "link_code_companion_reg",
                    "encrypt",
                    "delete",
                    "set",
                    "tokens",
                    "devices",
                )
            ],
        ),
        n(
            d,
            "notification",
            {"type": kind, "from": GROUP},
            [
                Node("add", {}, [Node("participant", {"jid": "junk"})]),
                Node("create", {}, [Node("group")]),
                Node("subject", {}, b"\xff\xfe"),
                Node("remove", {}, [Node("participant", {"jid": d.sender.jid})]),
            ],
        ),
        n(d, "notification", {"type": kind, "from": SERVER_JID}, [Node("count", {"value": "zz"})]),
        n(
            d,
            "notification",
            {"type": kind, "from": SERVER_JID},
            [Node("collection", {"name": "x" * 5000, "version": "z"})],
        ),
        n(
            d,
            "notification",
            {"type": kind},
            [
                Node(
                    "link_code_companion_reg",
                    {"stage": "primary_hello"},
                    [
                        Node("link_code_pairing_ref", {}, b"r"),
                        Node("primary_identity_pub", {}, b"\x01"),
                        Node("link_code_pairing_wrapped_primary_ephemeral_pub", {}, b"\x02"),
                    ],
                )
            ],
        ),
        n(
            d,
            "notification",
            {"type": kind},
            [
                Node("rmr", {"jid": "junk", "from_me": "zz", "participant": "junk"}),
                Node("encrypt", {}, [Node("enc_p", {}, b"x"), Node("enc_iv", {}, b"y")]),
            ],
        ),
        n(
            d,
            "notification",
            {"type": kind, "from": GROUP},
            [
                Node("delete", {"jid": GROUP}),
                Node("set", {"jid": GROUP, "id": "zz", "author": "junk"}),
            ],
        ),
        n(
            d,
            "notification",
            {"type": kind, "from": d.sender.jid},
            [
                Node("add", {"device_hash": "x"}, [Node("device", {"jid": "junk"})]),
                Node("remove", {}, [Node("device", {})]),
                Node("identity"),
            ],
        ),
    ]


@pytest.mark.parametrize(
    "kind", NOTIFICATION_TYPES, ids=[k[:20] or "empty" for k in NOTIFICATION_TYPES]
)
async def test_bad_notifications_are_acked(d: Duo, kind: str) -> None:
    """Every notification is acknowledged, whatever its type or content (the server
    redelivers what is not), and none hurts the client."""
    before = d.stored()
    nodes = _notification_bodies(d, kind)
    await d.inject(*nodes)
    if kind == "encrypt":  # an unreadable count reads as 0: uploading prekeys is right
        await d.settle()
        before["prekeys"] = d.stored()["prekeys"]
    await d.survived(before, label=kind)
    for node in nodes:
        acks = _acks(d, str(node.attrs["id"]))
        assert len(acks) == 1, f"{kind}: {node!r} got {d.answers_to(str(node.attrs['id']))}"
        assert acks[0].attrs.get("class") == "notification"


async def test_a_flood_of_low_prekey_counts_uploads_once(d: Duo) -> None:
    """200 ``<count value=0>`` notifications do not upload 200 batches of prekeys: the
    refills are coalesced and the later ones ask the server for its real count."""
    messaging = d.victim.messaging
    uploaded = messaging.prekeys.uploaded
    stored_before = len(d.victim.device.account._tables.prekeys)
    nodes = [
        _stanza(
            d,
            "notification",
            {"type": "encrypt", "from": SERVER_JID},
            [Node("count", {"value": "0"})],
        )
        for _ in range(200)
    ]
    await d.inject(*nodes)
    await d.survived(label="count flood")
    task = messaging._refill_task
    if task is not None:
        await task
    batch = messaging.options.prekey_batch
    assert messaging.prekeys.uploaded - uploaded <= 2 * batch
    assert len(d.victim.device.account._tables.prekeys) - stored_before <= 2 * batch
    for node in nodes:
        assert len(_acks(d, str(node.attrs["id"]))) == 1


# --- <ib>, <iq>, <ack>, <success> and other tags -------------------------------------------


def _misc(d: Duo) -> list[Node]:
    s = SERVER_JID
    return [
        Node("ib", {}),
        Node("ib", {}, b"x"),
        Node("ib", {}, [Node("edge_routing")]),
        Node("ib", {}, [Node("edge_routing", {}, [Node("routing_info", {}, b"\x00" * 100_000)])]),
        Node("ib", {}, [Node("edge_routing", {}, [Node("routing_info", {}, [Node("x")])])]),
        Node("ib", {}, [Node("offline", {"count": "zz"})]),
        Node("ib", {}, [Node("dirty", {"type": "account_sync", "timestamp": "z"})]),
        Node("ib", {}, [Node("offline_preview", {"count": "-1"})]),
        Node("ib", {}, [Node("downgrade_webclient")]),
        Node("iq", {"id": next_id(), "type": "set", "from": s}),
        Node("iq", {"id": next_id(), "type": "get", "xmlns": "urn:xmpp:ping", "from": s}),
        Node("iq", {"type": "get", "xmlns": "urn:xmpp:ping"}),
        Node(
            "iq",
            {"id": next_id(), "type": "set", "from": s},
            [Node("pair-device", {}, [Node("ref", {}, b"x")])],
        ),
        Node(
            "iq",
            {"id": next_id(), "type": "set", "from": s},
            [Node("pair-success", {}, [Node("device-identity", {}, b"\x00" * 10)])],
        ),
        Node("iq", {"id": next_id(), "type": "set", "from": s}, [Node("pair-success")]),
        Node("iq", {"id": next_id(), "type": "result"}),
        Node("iq", {"id": next_id(), "type": "error"}, [Node("error", {"code": "zz"})]),
        Node("ack", {"id": next_id(), "class": "message"}),
        Node("ack", {}),
        Node("success", {}),
        Node("success", {"lid": "junk"}),
        Node("success", {"lid": JID("1", "lid")}),
        Node("presence", {"from": "junk"}),
        Node("chatstate", {"from": "junk"}, [Node("composing")]),
        Node("call", {"from": d.sender.jid, "id": next_id()}, [Node("offer")]),
        Node("x" * 300, {"a" * 200: "b" * 200}),
    ]


async def test_other_tags(d: Duo) -> None:
    """``<ib>`` variants, server IQs (pings, a stray pair-device or pair-success on a paired
    device), answers to nothing, a second ``<success>``, unknown tags: none hurts."""
    before = d.stored()
    creds = d.victim.device.credentials
    for node in _misc(d):
        await d.inject(node)
    await d.survived(before, label="misc")
    assert d.victim.device.credentials == creds
    assert d.victim.is_connected


async def test_pair_success_on_a_paired_device_is_refused_without_disconnecting(d: Duo) -> None:
    """A pair-success on a logged-in device must not end the connection (nor touch the
    stored identity): it is answered with an error."""
    creds = d.victim.device.credentials
    node = Node(
        "iq",
        {"id": next_id(), "type": "set", "from": SERVER_JID},
        [
            Node(
                "pair-success",
                {},
                [
                    Node("device-identity", {}, b"\x00" * 40),
                    Node("device", {"jid": JID("1555", "s.whatsapp.net", device=9)}),
                ],
            )
        ],
    )
    await d.inject(node)
    await d.survived(label="pair-success")
    answers = d.answers_to(str(node.attrs["id"]))
    assert [(a.tag, a.attrs.get("type")) for a in answers] == [("iq", "error")]
    assert d.victim.device.credentials == creds
    assert not [e for e in d.all_events if isinstance(e, events.PairError)]


async def test_unhandled_notifications_and_calls_are_acked(d: Duo) -> None:
    nodes = [
        _stanza(d, "notification", {"type": "account_sync"}, [Node("devices")]),
        _stanza(d, "call", {}, [Node("offer", {"call-id": "1"})]),
    ]
    await d.inject(*nodes)
    await d.survived(label="unhandled")
    for node in nodes:
        acks = _acks(d, str(node.attrs["id"]))
        assert [a.attrs.get("class") for a in acks] == [node.tag]
