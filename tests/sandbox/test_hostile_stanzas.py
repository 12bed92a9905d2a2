"""A hostile client sends every handler of the sandbox malformed stanzas (missing attributes,
attributes that are not JIDs or numbers, content of the wrong kind, unexpected children).

For each: no handler fails with an untyped exception (the session's "handler failed"
catch-all), IQs are answered (an error answer for bad input: a client waiting on an IQ must not
stall), the session keeps answering, and afterwards the sandbox still serves other clients.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from tests.sandbox.raw import Companion, RawClient, login, pair_by_qr
from wamd.binary import Node
from wamd.sandbox import Sandbox
from wamd.sandbox import session as session_module
from wamd.sandbox.messaging import router_of

PHONE = "15550088"
OTHER = "15550089"

_JUNK_ATTRS = {
    "jid": "@@",
    "to": "not a jid@",
    "id": "",
    "t": "zz",
    "count": "-1",
    "v": "x",
    "type": "??",
    "participant": "@",
    "key-index": "q",
}


class _Failures(logging.Handler):
    """Records logged with a traceback at ERROR: an untyped exception reached a catch-all."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info is not None:
            self.records.append(record)

    def describe(self) -> list[str]:
        return [f"{r.getMessage()}: {r.exc_info[1]!r}" for r in self.records if r.exc_info]


@pytest.fixture
def failures() -> Iterator[_Failures]:
    handler = _Failures()
    logger = logging.getLogger("wamd")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def _children(child: str) -> list[list[Node] | None]:
    """Bodies for an IQ or stanza whose first child should be ``<child>``."""
    return [
        None,
        [Node(child)],
        [Node(child, dict(_JUNK_ATTRS))],
        [Node(child, {}, b"\xff\x00garbage")],
        [
            Node(
                child,
                dict(_JUNK_ATTRS),
                [
                    Node("user", dict(_JUNK_ATTRS)),
                    Node(child),
                    Node("list", {}, [Node("item", {}, b"\x01")]),
                ],
            )
        ],
    ]


def _iqs(sandbox: Sandbox) -> list[Node]:
    nodes = []
    for n, (xmlns, child) in enumerate(sorted(sandbox.router._iq)):
        name = "x" if child == "*" else child
        for k, body in enumerate(_children(name)):
            for kind in ("get", "set"):
                nodes.append(
                    Node(
                        "iq",
                        {
                            "id": f"h{n}.{k}.{kind}",
                            "xmlns": xmlns,
                            "type": kind,
                            "to": "s.whatsapp.net",
                        },
                        body,
                    )
                )
        nodes.append(
            Node(
                "iq",
                {"id": f"h{n}.bad-to", "xmlns": xmlns, "type": "get", "to": "@@@"},
                [Node(name)],
            )
        )
    return nodes


def _stanzas(sandbox: Sandbox) -> list[Node]:
    nodes = []
    for n, (tag, child) in enumerate(sorted(sandbox.router._stanza)):
        name = "x" if child == "*" else child
        for k, body in enumerate(_children(name)):
            nodes.append(Node(tag, {}, body))
            nodes.append(Node(tag, {"id": f"s{n}.{k}", **_JUNK_ATTRS}, body))
            nodes.append(
                Node(
                    tag, {"id": f"s{n}.{k}", "to": f"{OTHER}@s.whatsapp.net", "type": "text"}, body
                )
            )
    return nodes


async def _alive(client: RawClient) -> None:
    ping = await client.query(Node("iq", {"xmlns": "w:p", "type": "get"}), 20)
    assert ping.attrs["type"] == "result"


async def _answer_queries_and_collect(client: RawClient, ids: set[str]) -> dict[str, Node]:
    """Read until every IQ in ``ids`` is answered; answer the sandbox's own IQs with an
    error (a hostile client does not cooperate)."""
    answers: dict[str, Node] = {}
    while ids - answers.keys():
        node = await client.recv(20)
        if node.tag == "iq" and node.attrs.get("type") in ("get", "set"):
            await client.send(
                Node(
                    "iq",
                    {"id": node.attrs.get("id", ""), "type": "error"},
                    [Node("error", {"code": "400", "text": "no"})],
                )
            )
        elif node.tag == "iq" and str(node.attrs.get("id")) in ids:
            answers[str(node.attrs["id"])] = node
    return answers


async def _connected(sandbox: Sandbox, phone: str) -> RawClient:
    companion = Companion()
    await pair_by_qr(sandbox, companion, phone)
    client = await login(sandbox, companion, passive=False)
    await client.expect("ib")
    return client


async def test_malformed_stanzas_to_every_handler(sandbox: Sandbox, failures: _Failures) -> None:
    """Each malformed IQ is answered (or its connection closed: some, like an unlink of a
    device, may end the session); no handler fails untyped."""
    await sandbox.admin.create_account(OTHER)
    iqs = _iqs(sandbox)
    assert len(iqs) > 100  # every IQ handler of every area module
    closed_by: list[Node] = []
    client = await _connected(sandbox, PHONE)
    try:
        for node in iqs:
            try:
                await client.send(node)
                (answer,) = (
                    await _answer_queries_and_collect(client, {str(node.attrs["id"])})
                ).values()
            except (ConnectionError, ConnectionResetError):
                closed_by.append(node)
                await client.close()
                client = await _connected(sandbox, PHONE)
                continue
            assert answer.attrs.get("type") in ("result", "error"), (node, answer)
            assert not failures.describe(), (node, failures.describe())
        for node in _stanzas(sandbox):
            await client.send(node)
        await _alive(client)
        assert not failures.describe(), failures.describe()
    finally:
        await client.close()
    # only the IQs that end a session on purpose (a companion unlinking itself) closed it
    assert {n.attrs["xmlns"] for n in closed_by} <= {"md", "passive"}, closed_by
    # the sandbox serves a new client
    again = await _connected(sandbox, PHONE)
    try:
        await _alive(again)
    finally:
        await again.close()


async def test_a_flood_from_a_client_that_does_not_read(sandbox: Sandbox) -> None:
    """Thousands of stanzas from a client that never reads the answers: its session stops
    reading (a bounded queue) instead of buffering without end; another client is served
    meanwhile; when the flooder goes, its session ends."""
    flooder = await _connected(sandbox, PHONE)
    try:
        session = sandbox.sessions_of(PHONE)[0]
        flooder._reader.cancel()  # never read again
        junk = b"\x00" * 2048
        for n in range(6000):
            await flooder.send(Node("iq", {"id": f"f{n}", "xmlns": "w:p", "type": "get"}))
            await flooder.send(Node("presence", {"type": "available", "name": "x"}, junk))
        other = await _connected(sandbox, OTHER)
        try:
            await _alive(other)
        finally:
            await other.close()
        assert session._inbox.qsize() <= session_module.INBOX_SIZE
    finally:
        await flooder.close()
    async with asyncio.timeout(20):
        await session.closed.wait()


async def test_a_flood_to_an_offline_device_is_bounded(sandbox: Sandbox) -> None:
    """Messages to a device that never comes back: its queue stops at ``max_queued`` (the
    rest are dropped and counted), the sender is still answered, nothing else is held up."""
    router = router_of(sandbox)
    router.max_queued = 50
    absent = Companion()
    target = await pair_by_qr(sandbox, absent, OTHER)  # paired, never logged in
    already = await router.queued(OTHER, target.device)
    client = await _connected(sandbox, PHONE)
    try:
        for n in range(120):
            await client.send(
                Node(
                    "message",
                    {"id": f"flood{n}", "to": target, "type": "text"},
                    [Node("enc", {"v": "2", "type": "msg"}, b"x" * 64)],
                )
            )
            ack = await client.expect("ack")
            assert ack.attrs["id"] == f"flood{n}"
            assert "error" not in ack.attrs
        await _alive(client)
    finally:
        await client.close()
    assert await router.queued(OTHER, target.device) == 50
    assert router.dropped == 120 - (50 - already)
    # the device comes back: it gets what was kept, in order
    returning = await login(sandbox, absent, passive=False)
    try:
        ids = []
        while len(ids) < 50 - already:
            node = await returning.recv()
            if node.tag == "message":
                await returning.send(Node("ack", {"id": node.attrs["id"], "class": "message"}))
                if str(node.attrs["id"]).startswith("flood"):
                    ids.append(node.attrs["id"])
        assert ids == [f"flood{n}" for n in range(50 - already)]
        await _alive(returning)
    finally:
        await returning.close()
