"""The media_conn answer: parsing (incl. hostile variants) and the refreshing cache."""

from __future__ import annotations

import asyncio

import pytest

from wamd.binary import Node, decode_node, encode_node
from wamd.errors import MediaError
from wamd.media.conn import (
    MediaConn,
    MediaConnCache,
    MediaHost,
    media_conn_request,
    parse_media_conn,
)
from wamd.types import SERVER_JID


def answer(**attrs: str) -> Node:
    base = {"auth": "AUTH-TOKEN", "ttl": "300", "auth_ttl": "21600", "max_buckets": "12"}
    base.update(attrs)
    hosts = [
        Node("host", {"hostname": "mmg.example:443", "maxContentLengthBytes": "1000"}),
        Node("host", {"hostname": "127.0.0.1:8443"}),
    ]
    return Node("iq", {"type": "result"}, [Node("media_conn", dict(base), list(hosts))])


def test_request_node() -> None:
    req = media_conn_request()
    assert req.tag == "iq"
    assert req.attrs == {"xmlns": "w:m", "type": "set", "to": SERVER_JID}
    assert [c.tag for c in req.children] == ["media_conn"]
    assert decode_node(encode_node(req)) == req


def test_parse_through_the_codec() -> None:
    conn = parse_media_conn(decode_node(encode_node(answer())), now=100.0)
    assert conn.auth == "AUTH-TOKEN"
    assert conn.ttl == 300
    assert conn.auth_ttl == 21600
    assert conn.max_buckets == 12
    assert conn.hosts == (
        MediaHost("mmg.example:443", 1000),
        MediaHost("127.0.0.1:8443", None),
    )
    assert conn.expires_at == 400.0
    assert not conn.is_stale(399.0)
    assert conn.is_stale(400.0)
    assert "AUTH-TOKEN" not in repr(conn)


def test_auth_ttl_shorter_than_ttl_wins() -> None:
    conn = parse_media_conn(answer(ttl="300", auth_ttl="60"), now=0.0)
    assert conn.expires_at == 60.0


def test_parse_media_conn_node_directly() -> None:
    node = answer().children[0]
    assert parse_media_conn(node).auth == "AUTH-TOKEN"


@pytest.mark.parametrize(
    "node",
    [
        Node("iq", {"type": "result"}, []),
        Node("iq", {"type": "result"}, b"garbage"),
        Node("media_conn", {"ttl": "300"}, [Node("host", {"hostname": "h"})]),
        Node("media_conn", {"auth": "a"}, [Node("host", {"hostname": "h"})]),
        Node("media_conn", {"auth": "a", "ttl": "-5"}, [Node("host", {"hostname": "h"})]),
        Node("media_conn", {"auth": "a", "ttl": "1e9"}, [Node("host", {"hostname": "h"})]),
        Node("media_conn", {"auth": "a", "ttl": "9" * 40}, [Node("host", {"hostname": "h"})]),
        Node("media_conn", {"auth": "a", "ttl": "300"}, []),
        Node("media_conn", {"auth": "a", "ttl": "300"}, None),
        Node("media_conn", {"auth": "a", "ttl": "300"}, [Node("host", {})]),
        Node("media_conn", {"auth": "a", "ttl": "300"}, [Node("host", {"hostname": "a/b"})]),
        Node(
            "media_conn",
            {"auth": "a", "ttl": "300"},
            [Node("host", {"hostname": "h", "maxContentLengthBytes": "x"})],
        ),
    ],
)
def test_malformed_answers_are_typed_errors(node: Node) -> None:
    with pytest.raises(MediaError):
        parse_media_conn(node)


def _conn(auth: str, ttl: int = 300) -> MediaConn:
    return MediaConn(auth=auth, ttl=ttl, hosts=(MediaHost("h:1"),))


async def test_cache_fetches_once_and_shares() -> None:
    calls = 0

    async def fetch() -> MediaConn:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return _conn(f"a{calls}")

    cache = MediaConnCache(fetch)
    assert cache.current is None
    got = await asyncio.gather(*(cache.get() for _ in range(10)))
    assert calls == 1
    assert {c.auth for c in got} == {"a1"}
    assert (await cache.get()).auth == "a1"
    assert (await cache.get(force=True)).auth == "a2"
    cache.invalidate()
    assert (await cache.get()).auth == "a3"


async def test_cache_refreshes_when_stale() -> None:
    calls = 0

    async def fetch() -> MediaConn:
        nonlocal calls
        calls += 1
        return _conn(f"a{calls}", ttl=0)

    cache = MediaConnCache(fetch)
    assert (await cache.get()).auth == "a1"
    assert (await cache.get()).auth == "a2"


async def test_replacing_refreshes_once_for_all_who_saw_the_same_auth() -> None:
    calls = 0

    async def fetch() -> MediaConn:
        nonlocal calls
        calls += 1
        return _conn(f"a{calls}")

    cache = MediaConnCache(fetch)
    first = await cache.get()
    results = await asyncio.gather(*(cache.get(replacing=first) for _ in range(5)))
    assert calls == 2
    assert {c.auth for c in results} == {"a2"}


async def test_extra_hosts_come_first() -> None:
    async def fetch() -> MediaConn:
        return _conn("a")

    cache = MediaConnCache(fetch, extra_hosts=["pinned:1"])
    conn = await cache.get()
    assert [h.hostname for h in conn.hosts] == ["pinned:1", "h:1"]


async def test_fetcher_must_return_a_media_conn() -> None:
    async def fetch() -> MediaConn:
        return "nope"  # type: ignore[return-value]

    with pytest.raises(MediaError):
        await MediaConnCache(fetch).get()


async def test_fetcher_over_an_iq_sender() -> None:
    from wamd.media import media_conn_fetcher

    sent: list[Node] = []

    async def request(node: Node) -> Node:
        sent.append(node)
        return decode_node(encode_node(answer()))

    conn = await media_conn_fetcher(request)()
    assert sent == [media_conn_request()]
    assert conn.auth == "AUTH-TOKEN"
