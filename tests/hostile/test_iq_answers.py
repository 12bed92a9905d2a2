"""A hostile server answers the client's requests with garbage: device lists (usync),
prekey bundles (badly signed, short keys, errors), media_conn, group info, app-state sync,
user queries. Each call fails with a typed :class:`~wamd.errors.WamdError` (or, where the
answer is only partly bad, skips the bad part), stores nothing from the bad answer, and the
client keeps working.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from tests.hostile.harness import Duo, duo
from wamd.appstate.engine import AppStateEngine
from wamd.binary import Node
from wamd.errors import MediaError, WamdError
from wamd.proto import e2e_pb2
from wamd.sandbox.router import IQHandler
from wamd.sandbox.session import Session
from wamd.types import JID
from wamd.users.client import UsersClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

STRANGER = "15557770009"
KEY = b"\x05" + b"\x07" * 32


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def d() -> AsyncIterator[Duo]:
    async with duo() as pair_of_clients:
        await pair_of_clients.sandbox.admin.create_account(STRANGER)
        yield pair_of_clients


@pytest.fixture(autouse=True)
def _fresh_problems(d: Duo) -> None:
    d.problems.clear()


class Hostile:
    """Swaps one sandbox IQ handler for the victim only (the sender is served normally)."""

    def __init__(self, d: Duo, xmlns: str, child: str) -> None:
        self.d = d
        self.xmlns, self.child = xmlns, child
        original = d.sandbox.router.iq_handler(xmlns, child)
        assert original is not None
        self.original: IQHandler = original

    def answer(self, make: Callable[[Node], Any]) -> None:
        victim = self.d.victim.jid

        async def handler(session: Session, iq: Node) -> Any:
            if session.jid == victim:
                return make(iq)
            return await self.original(session, iq)

        self.d.sandbox.router.add_iq(self.xmlns, self.child, handler)

    def restore(self) -> None:
        self.d.sandbox.router.add_iq(self.xmlns, self.child, self.original)


async def _typed(call: Awaitable[Any]) -> WamdError:
    try:
        await call
    except WamdError as exc:
        return exc
    raise AssertionError("the call succeeded on a hostile answer")


def _user_list(jid: JID, children: list[Node]) -> Node:
    return Node("list", {}, [Node("user", {"jid": jid}, children)])


def _usync(children: list[Node]) -> Node:
    return Node("usync", {}, [Node("list", {}, children)])


STRANGER_JID = JID(STRANGER, "s.whatsapp.net")

USYNC_ANSWERS: dict[str, Callable[[Node], Any]] = {
    "empty": lambda iq: None,
    "wrong child": lambda iq: Node("junk"),
    "list of bytes": lambda iq: Node("usync", {}, [Node("list", {}, b"x")]),
    "junk users": lambda iq: _usync(
        [
            Node(
                "user",
                {"jid": "junk"},
                [Node("devices", {}, [Node("device-list", {}, [Node("device", {"id": "x"})])])],
            )
        ]
    ),
    "junk devices": lambda iq: _usync(
        [
            Node(
                "user",
                {"jid": STRANGER_JID},
                [
                    Node(
                        "devices",
                        {},
                        [
                            Node(
                                "device-list",
                                {},
                                [
                                    Node("device", {"id": "1"}),
                                    Node("device", {"id": "99999999"}),
                                    Node("device", {"id": "2", "key-index": "zz"}),
                                ],
                            )
                        ],
                    ),
                    Node("lid", {"val": "junk"}),
                ],
            )
        ]
    ),
}


@pytest.mark.parametrize("answer", list(USYNC_ANSWERS))
async def test_bad_device_lists(d: Duo, answer: str) -> None:
    hostile = Hostile(d, "usync", "*")
    hostile.answer(USYNC_ANSWERS[answer])
    before = d.stored()
    d.victim.messaging.context().devices.clear()
    try:
        await _typed(d.victim.send_message(STRANGER_JID, e2e_pb2.Message(conversation="x")))
    finally:
        hostile.restore()
    await d.survived(before, label=answer)


def _bundle(
    jid: JID,
    *,
    identity: bytes = KEY,
    value: bytes = KEY,
    signature: bytes = b"\x00" * 64,
    prekey: bool = True,
) -> Node:
    children = [
        Node("registration", {}, b"\x00\x00\x00\x01"),
        Node("identity", {}, identity),
        Node(
            "skey",
            {},
            [
                Node("id", {}, b"\x00\x00\x01"),
                Node("value", {}, value),
                Node("signature", {}, signature),
            ],
        ),
    ]
    if prekey:
        children.append(Node("key", {}, [Node("id", {}, b"\x00\x00\x02"), Node("value", {}, KEY)]))
    return _user_list(jid, children)


def _asked(iq: Node) -> JID:
    user = iq.find("key", "user")
    assert user is not None
    jid = user.attrs["jid"]
    assert isinstance(jid, JID)
    return jid


BUNDLE_ANSWERS: dict[str, Callable[[Node], Any]] = {
    "empty": lambda iq: None,
    "empty list": lambda iq: Node("list"),
    "bad signature": lambda iq: _bundle(_asked(iq)),
    "short identity": lambda iq: _bundle(_asked(iq), identity=b"\x05" + b"\x01" * 5),
    "short signed prekey": lambda iq: _bundle(_asked(iq), value=b"\x05\x01"),
    "short signature": lambda iq: _bundle(_asked(iq), signature=b"\x01"),
    "error": lambda iq: _user_list(_asked(iq), [Node("error", {"code": "zz"})]),
    "another user": lambda iq: _bundle(JID("1", "lid", device=1)),
    "junk jid": lambda iq: Node("list", {}, [Node("user", {"jid": "junk"})]),
}


@pytest.mark.parametrize("answer", list(BUNDLE_ANSWERS))
async def test_bad_prekey_bundles(d: Duo, answer: str) -> None:
    """No session is started from a bad bundle: the send fails typed, nothing is stored."""
    hostile = Hostile(d, "encrypt", "key")
    hostile.answer(BUNDLE_ANSWERS[answer])
    before = d.stored()
    d.victim.messaging.context().devices.clear()
    try:
        await _typed(d.victim.send_message(STRANGER_JID, e2e_pb2.Message(conversation="x")))
    finally:
        hostile.restore()
    await d.survived(before, label=answer)


GROUP = JID("120363000000000077", "g.us")

GROUP_ANSWERS: dict[str, Callable[[Node], Any]] = {
    "empty": lambda iq: None,
    "no id": lambda iq: Node("group"),
    "another group": lambda iq: Node("group", {"id": "120363000000000078", "subject": "x"}),
    "bad creation": lambda iq: Node("group", {"id": GROUP.user, "creation": "zz"}),
    "junk participant": lambda iq: Node(
        "group", {"id": GROUP.user}, [Node("participant", {"jid": "junk"})]
    ),
}


@pytest.mark.parametrize("answer", list(GROUP_ANSWERS))
async def test_bad_group_info(d: Duo, answer: str) -> None:
    hostile = Hostile(d, "w:g2", "query")
    hostile.answer(GROUP_ANSWERS[answer])
    try:
        await _typed(d.victim.get_group_info(GROUP))
    finally:
        hostile.restore()
    assert d.victim.groups.cache.get(GROUP) is None
    assert d.victim.groups.cache.get(JID("120363000000000078", "g.us")) is None
    await d.survived(label=answer)


AUTH = "hostile-media-auth-token-0123456789"

MEDIA_ANSWERS: dict[str, Callable[[Node], Any]] = {
    "empty": lambda iq: None,
    "no auth": lambda iq: Node("media_conn"),
    "bad ttl": lambda iq: Node("media_conn", {"auth": AUTH, "ttl": "zz"}),
    "no hosts": lambda iq: Node("media_conn", {"auth": AUTH, "ttl": "5"}),
    "dead host": lambda iq: Node(
        "media_conn", {"auth": AUTH, "ttl": "5"}, [Node("host", {"hostname": "127.0.0.1:1"})]
    ),
}


@pytest.mark.parametrize("answer", list(MEDIA_ANSWERS))
async def test_bad_media_conn(d: Duo, answer: str) -> None:
    hostile = Hostile(d, "w:m", "media_conn")
    hostile.answer(MEDIA_ANSWERS[answer])
    d.victim.media._conns._current = None  # forget a good one from an earlier test
    try:
        error = await _typed(d.victim.upload(b"hello", "document"))
    finally:
        hostile.restore()
        d.victim.media._conns._current = None
    assert isinstance(error, MediaError)
    assert AUTH not in "".join(traceback.format_exception(error))  # the auth token is secret
    await d.survived(label=answer)


APPSTATE_ANSWERS: dict[str, Callable[[Node], Any]] = {
    "empty": lambda iq: None,
    "junk collection": lambda iq: Node("sync", {}, [Node("collection", {"version": "z"})]),
    "bad patch": lambda iq: Node(
        "sync",
        {},
        [
            Node(
                "collection",
                {"name": "regular", "version": "3"},
                [Node("patches", {}, [Node("patch", {}, b"\xff\xff\xff")])],
            )
        ],
    ),
    "bad snapshot": lambda iq: Node(
        "sync",
        {},
        [
            Node(
                "collection",
                {"name": "regular", "version": "3"},
                [Node("snapshot", {}, b"\xff\x01")],
            )
        ],
    ),
    "patch without keys": lambda iq: Node(
        "sync",
        {},
        [
            Node(
                "collection",
                {"name": "regular", "version": "3"},
                [Node("patches", {}, [Node("patch", {}, b"\x0a\x02\x08\x07\x32\x02\x0a\x00")])],
            )
        ],
    ),
}


@pytest.mark.parametrize("answer", list(APPSTATE_ANSWERS))
async def test_bad_app_state_answers(d: Duo, answer: str) -> None:
    """The sync of a collection fails typed (kept in ``failures``); the stored version and
    MACs do not move."""
    hostile = Hostile(d, "w:sync:app:state", "sync")
    hostile.answer(APPSTATE_ANSWERS[answer])
    account = d.victim.device.account
    tables = account._tables
    versions, macs = dict(tables.app_state_versions), dict(tables.app_state_macs)

    async def no_download(ref: Any) -> bytes:
        raise MediaError("no downloads in this test")

    engine = AppStateEngine(account, d.victim.request, no_download)
    try:
        events = await engine.sync(["regular"])
    finally:
        hostile.restore()
    assert events == []
    assert isinstance(engine.failures.get("regular"), WamdError)
    assert tables.app_state_versions == versions
    assert tables.app_state_macs == macs
    await d.survived(label=answer)


USER_QUERIES: dict[str, tuple[str, str, Callable[[UsersClient], Awaitable[Any]]]] = {
    "is on whatsapp": ("usync", "*", lambda u: u.is_on_whatsapp([STRANGER])),
    "user info": ("usync", "*", lambda u: u.user_info([STRANGER_JID])),
    "privacy": ("privacy", "*", lambda u: u.privacy()),
    "blocklist": ("blocklist", "*", lambda u: u.blocklist()),
}


@pytest.mark.parametrize("query", list(USER_QUERIES))
@pytest.mark.parametrize("junk", ["nothing", "bytes", "junk children"])
async def test_bad_user_query_answers(d: Duo, query: str, junk: str) -> None:
    xmlns, child, call = USER_QUERIES[query]
    hostile = Hostile(d, xmlns, child)
    hostile.answer(
        {
            "nothing": lambda iq: None,
            "bytes": lambda iq: Node("list", {}, b"\xff"),
            "junk children": lambda iq: [
                Node(
                    "usync",
                    {},
                    [
                        Node(
                            "list",
                            {},
                            [Node("user", {"jid": "junk"}, [Node("lid", {"val": "junk"})])],
                        )
                    ],
                ),
                Node("privacy", {}, [Node("category", {"name": "x" * 500})]),
                Node("list", {"dhash": "x"}, [Node("item", {"jid": "junk"})]),
            ],
        }[junk]
    )
    lid_map = dict(d.victim.device.account._tables.lid_to_pn)
    try:
        with contextlib.suppress(WamdError):
            await call(UsersClient(d.victim, d.victim.device.account))
    finally:
        hostile.restore()
    assert d.victim.device.account._tables.lid_to_pn == lid_map
    await d.survived(label=f"{query}/{junk}")
