"""The client and connection manager against an in-memory fake server (no sockets).

Covers pairing by QR and by code, login from the stored session, every disconnect cause, the
keepalive, automatic reconnect with backoff and veto, and the typed certificate error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.unit.conn_fakes import FakeServer, Recorder
from wamd import events
from wamd.binary import Node
from wamd.client import Client
from wamd.conn.keepalive import KeepAliveConfig
from wamd.conn.options import ServerInfo
from wamd.conn.reconnect import ReconnectPolicy
from wamd.conn.state import ConnState
from wamd.crypto import KeyPair
from wamd.errors import CertificateError, IQError, NotConnected
from wamd.store import MemoryStore
from wamd.types import SERVER_JID

FAST_RECONNECT = ReconnectPolicy(initial_delay=0.01, max_delay=0.05, jitter=0)


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    srv = FakeServer()
    yield srv
    await srv.close()


def make_client(server: FakeServer, store: MemoryStore | None = None, **kwargs: Any) -> Client:
    kwargs.setdefault("reconnect", FAST_RECONNECT)
    return Client(
        store if store is not None else MemoryStore(),
        server=server.info,
        transport_factory=server.factory,
        **kwargs,
    )


async def pair_by_qr(server: FakeServer, client: Client) -> events.PairSuccess:
    qr_task = asyncio.create_task(client.wait_for(events.QR, timeout=5))
    success_task = asyncio.create_task(client.wait_for(events.PairSuccess, timeout=5))
    await client.connect()
    qr = await qr_task
    await server.scan(qr.text)
    success = await success_task
    await client.wait_until_connected(timeout=5)
    await client.dispatcher.drain()
    return success


async def test_qr_pairing_then_login_with_the_stored_identity(server: FakeServer) -> None:
    store = MemoryStore()
    client = make_client(server, store)
    rec = Recorder(client)
    assert client.state is ConnState.DISCONNECTED
    success = await pair_by_qr(server, client)
    assert str(success.jid) == "15550100000:1@s.whatsapp.net"
    assert success.lid is not None
    assert success.platform == "fake"
    assert client.is_connected
    assert client.jid == success.jid
    assert client.lid == success.lid
    creds = client.credentials
    assert creds is not None
    assert creds.account is not None
    # The primary's identity is trusted for the account's main device.
    primary = server.accounts["15550100000"].primary.public
    address = success.lid.with_device(0).signal_address
    assert await client.device.account.identities.get(address) == primary
    # Restart after pairing: registration, then a second connection that logged in.
    assert server.connects == 2
    assert server.logins == 1
    assert [type(e) for e in rec.events if not isinstance(e, events.QR)] == [
        events.PairSuccess,
        events.Connected,
    ]
    qr = rec.of(events.QR)[0]
    assert qr.text.startswith("https://wa.me/settings/linked_devices#ref-0,")
    assert qr.text.endswith(",1")
    await client.close()
    assert client.state is ConnState.DISCONNECTED

    # A new client on the same store logs straight in, without pairing.
    again = make_client(server, store)
    rec2 = Recorder(again)
    await again.connect()
    await again.wait_until_connected(timeout=5)
    assert again.jid == success.jid
    assert not rec2.of(events.QR)
    assert server.logins == 2
    await again.close()


async def test_qr_codes_rotate_then_time_out(server: FakeServer) -> None:
    server.ref_count = 3
    client = make_client(server, qr_timeouts=(0.05, 0.02))
    rec = Recorder(client)
    timeout = asyncio.create_task(client.wait_for(events.QRTimeout, timeout=5))
    await client.connect()
    await timeout
    await client.run_until_disconnected()
    qrs = rec.of(events.QR)
    assert [q.timeout for q in qrs] == [0.05, 0.02, 0.02]
    assert [q.text.split("#")[1].split(",")[0] for q in qrs] == ["ref-0", "ref-1", "ref-2"]
    assert len({q.text for q in qrs}) == 3
    assert not rec.of(events.Disconnected)  # QRTimeout is the reason; no auto-reconnect
    assert client.state is ConnState.DISCONNECTED
    await client.close()


async def test_pairing_by_phone_number_code(server: FakeServer) -> None:
    client = make_client(server)
    success_task = asyncio.create_task(client.wait_for(events.PairSuccess, timeout=10))
    await client.connect()
    code = await client.request_pairing_code("+1 555 0100 000")
    assert len(code) == 9
    assert code[4] == "-"
    await server.enter_code(code)
    success = await success_task
    assert success.jid.user == "15550100000"
    await client.wait_until_connected(timeout=5)
    await client.close()


async def test_bad_hmac_answers_401_and_emits_pair_error(server: FakeServer) -> None:
    client = make_client(server)
    rec = Recorder(client)
    qr_task = asyncio.create_task(client.wait_for(events.QR, timeout=5))
    await client.connect()
    reply = await server.scan((await qr_task).text, bad_hmac=True)
    assert reply.attrs["type"] == "error"
    error = reply.child("error")
    assert error is not None
    assert (error.attrs["code"], error.attrs["text"]) == ("401", "hmac-mismatch")
    await client.run_until_disconnected()
    [pair_error] = rec.of(events.PairError)
    assert "HMAC" in str(pair_error.error)
    assert not client.is_paired
    await client.close()


async def test_bad_account_signature_answers_signature_mismatch(server: FakeServer) -> None:
    client = make_client(server)
    qr_task = asyncio.create_task(client.wait_for(events.QR, timeout=5))
    await client.connect()
    reply = await server.scan((await qr_task).text, bad_signature=True)
    error = reply.child("error")
    assert error is not None
    assert (error.attrs["code"], error.attrs["text"]) == ("401", "signature-mismatch")
    await client.run_until_disconnected()
    await client.close()


async def paired_client(server: FakeServer, **kwargs: Any) -> tuple[Client, Recorder]:
    client = make_client(server, **kwargs)
    rec = Recorder(client)
    await pair_by_qr(server, client)
    return client, rec


async def test_device_removed_logs_out_and_wipes_the_store(server: FakeServer) -> None:
    client, rec = await paired_client(server)
    account_id = client.device.account.id
    session = await server.latest()
    await session.send(
        Node("stream:error", {"code": "401"}, [Node("conflict", {"type": "device_removed"})])
    )
    logged_out = await client.wait_for(events.LoggedOut, timeout=5)
    assert logged_out == events.LoggedOut(events.LogoutReason.LOGGED_OUT, on_connect=False)
    assert client.state is ConnState.DISCONNECTED
    assert await client.store.accounts() == []
    assert not client.device.loaded
    assert not rec.of(events.Disconnected)
    assert account_id not in [a.id for a in await client.store.accounts()]
    await client.close()


async def test_stream_replaced_does_not_reconnect(server: FakeServer) -> None:
    client, rec = await paired_client(server)
    connects = server.connects
    session = await server.latest()
    await session.send(Node("stream:error", {}, [Node("conflict", {"type": "replaced"})]))
    await client.wait_for(events.StreamReplaced, timeout=5)
    await asyncio.sleep(0.1)
    assert client.state is ConnState.DISCONNECTED
    assert server.connects == connects
    assert client.is_paired  # credentials kept
    assert not rec.of(events.Disconnected)
    await client.close()


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        ({"reason": "402", "code": "101", "expire": "120"}, events.TemporaryBan(101, 120)),
        ({"reason": "405"}, events.ClientOutdated()),
        ({"reason": "409", "message": "odd"}, events.ConnectFailure(409, "odd")),
    ],
)
async def test_login_failures_map_to_events_without_reconnect(
    server: FakeServer, failure: dict[str, str], expected: events.Event
) -> None:
    client, rec = await paired_client(server)
    server.login_failure = failure
    session = await server.latest()
    await session.close()  # kick: the client reconnects and its login is refused
    got = await client.wait_for(type(expected), timeout=5)
    assert got == expected
    await client.run_until_disconnected()
    await client.dispatcher.drain()
    connects = server.connects
    await asyncio.sleep(0.1)
    assert server.connects == connects
    assert client.is_paired
    kinds = [type(e) for e in rec.events][-3:]
    assert kinds == [events.Disconnected, events.Reconnecting, type(expected)]
    await client.close()


async def test_login_refused_401_logs_out(server: FakeServer) -> None:
    client, _ = await paired_client(server)
    server.login_failure = {"reason": "401"}
    await (await server.latest()).close()
    got = await client.wait_for(events.LoggedOut, timeout=5)
    assert got.on_connect
    assert await client.store.accounts() == []
    await client.close()


async def test_kick_reconnects_automatically(server: FakeServer) -> None:
    client, rec = await paired_client(server)
    await (await server.latest()).close()
    disconnected = await client.wait_for(events.Disconnected, timeout=5)
    assert disconnected.will_reconnect
    await client.wait_for(events.Connected, timeout=5)
    assert client.is_connected
    assert rec.of(events.Reconnecting)[0].attempt == 1
    assert server.logins == 2
    await client.close()


async def test_server_down_backs_off_then_reconnects_and_resets(server: FakeServer) -> None:
    policy = ReconnectPolicy(initial_delay=0.01, factor=2, max_delay=0.04, jitter=0)
    client, rec = await paired_client(server, reconnect=policy)
    server.down = True
    await (await server.latest()).close()
    for _ in range(4):
        await client.wait_for(events.Reconnecting, timeout=5)
    server.down = False
    await client.wait_for(events.Connected, timeout=5)
    delays = [e.delay for e in rec.of(events.Reconnecting)]
    assert delays[:4] == [0.01, 0.02, 0.04, 0.04]
    # Reset on success: the next drop starts from the initial delay again.
    await (await server.latest()).close()
    nxt = await client.wait_for(events.Reconnecting, timeout=5)
    assert (nxt.attempt, nxt.delay) == (1, 0.01)
    await client.wait_for(events.Connected, timeout=5)
    await client.close()


async def test_reconnect_hook_can_veto(server: FakeServer) -> None:
    calls: list[int] = []

    def hook(attempt: int, error: BaseException | None) -> bool:
        calls.append(attempt)
        return attempt < 2

    policy = ReconnectPolicy(initial_delay=0.01, jitter=0, hook=hook)
    client, rec = await paired_client(server, reconnect=policy)
    server.down = True
    await (await server.latest()).close()
    await client.run_until_disconnected()
    await client.dispatcher.drain()
    assert calls == [1, 2]
    final = rec.of(events.Disconnected)[-1]
    assert not final.will_reconnect
    assert isinstance(final.error, OSError)
    with pytest.raises(NotConnected):
        await client.wait_until_connected(timeout=1)
    await client.close()


async def test_keepalive_timeout_then_restored(server: FakeServer) -> None:
    cfg = KeepAliveConfig(interval_min=0.02, interval_max=0.03, deadline=0.03, max_fail_time=60)
    client, rec = await paired_client(server, keepalive=cfg)
    server.answer_pings = False
    first = await client.wait_for(events.KeepAliveTimeout, timeout=5)
    second = await client.wait_for(events.KeepAliveTimeout, timeout=5)
    assert (first.error_count, second.error_count) == (1, 2)
    server.answer_pings = True
    await client.wait_for(events.KeepAliveRestored, timeout=5)
    assert client.is_connected
    assert not rec.of(events.Disconnected)
    ping = next(n for s in server.sessions for n in s.received if n.attrs.get("xmlns") == "w:p")
    assert ping.attrs["type"] == "get"
    assert ping.attrs["to"] == SERVER_JID
    assert ping.content is None
    await client.close()


async def test_keepalive_dead_drops_and_reconnects(server: FakeServer) -> None:
    cfg = KeepAliveConfig(interval_min=0.02, interval_max=0.02, deadline=0.02, max_fail_time=0.1)
    client, rec = await paired_client(server, keepalive=cfg)
    server.answer_pings = False
    disconnected = await client.wait_for(events.Disconnected, timeout=5)
    assert disconnected.will_reconnect
    assert "keepalive" in str(disconnected.error)
    server.answer_pings = True
    await client.wait_for(events.Connected, timeout=5)
    assert rec.of(events.KeepAliveTimeout)
    await client.close()


async def test_wrong_root_key_is_a_certificate_error(server: FakeServer) -> None:
    wrong = ServerInfo(url=server.info.url, root_key=KeyPair.generate().public)
    client = Client(MemoryStore(), server=wrong, transport_factory=server.factory)
    with pytest.raises(CertificateError):
        await client.connect()
    assert client.state is ConnState.DISCONNECTED
    await client.close()


async def test_handlers_may_await_requests(server: FakeServer) -> None:
    client = make_client(server, max_handlers=1)
    answers: list[str] = []

    @client.on(events.Connected)
    async def on_connected(evt: events.Connected) -> None:
        query = Node("iq", {"xmlns": "test", "type": "get", "to": SERVER_JID})
        answer = await client.request(query)
        answers.append(str(answer.attrs["type"]))

    await pair_by_qr(server, client)
    await client.dispatcher.drain()
    assert answers == ["result"]
    await client.close()


async def test_requests_need_a_connection(server: FakeServer) -> None:
    client = make_client(server)
    with pytest.raises(NotConnected):
        await client.request(Node("iq", {"type": "get"}))
    with pytest.raises(NotConnected):
        await client.send_node(Node("presence"))
    await client.close()


async def test_pending_requests_fail_when_the_connection_drops(server: FakeServer) -> None:
    client, _ = await paired_client(server)
    session = await server.latest()
    session.on_node = _swallow  # type: ignore[method-assign]
    pending = asyncio.create_task(client.request(Node("iq", {"type": "get", "to": SERVER_JID})))
    await asyncio.sleep(0.05)
    await session.close()
    with pytest.raises(NotConnected):
        await pending
    await client.close()


async def _swallow(node: Node) -> None:
    return None


async def test_logout_removes_the_device_and_wipes(server: FakeServer) -> None:
    client, _ = await paired_client(server)
    await client.logout()
    assert server.accounts["15550100000"].devices == {}
    assert await client.store.accounts() == []
    assert client.state is ConnState.DISCONNECTED
    await client.close()


async def test_disconnect_is_quiet_and_connect_again_works(server: FakeServer) -> None:
    client, rec = await paired_client(server)
    await client.disconnect()
    assert client.state is ConnState.DISCONNECTED
    assert not rec.of(events.Disconnected)
    await client.connect()
    await client.wait_until_connected(timeout=5)
    await client.close()


async def test_unknown_iq_error_from_server(server: FakeServer) -> None:
    client, _ = await paired_client(server)
    session = await server.latest()
    original = session.on_node

    async def refuse(node: Node) -> None:
        if node.attrs.get("xmlns") == "refuse":
            await session.send(
                Node(
                    "iq",
                    {"id": node.attrs["id"], "type": "error"},
                    [Node("error", {"code": "403", "text": "forbidden"})],
                )
            )
            return
        await original(node)

    session.on_node = refuse  # type: ignore[method-assign]
    with pytest.raises(IQError) as info:
        await client.request(Node("iq", {"xmlns": "refuse", "type": "get", "to": SERVER_JID}))
    assert info.value.code == 403
    await client.close()


async def test_close_from_inside_a_handler(server: FakeServer) -> None:
    client, _ = await paired_client(server, max_handlers=1)
    finished = asyncio.Event()

    @client.on(events.Reconnecting)
    async def give_up(evt: events.Reconnecting) -> None:
        await client.close()
        finished.set()

    await (await server.latest()).close()
    await asyncio.wait_for(finished.wait(), 5)
    assert client.state is ConnState.DISCONNECTED


async def test_sqlite_path_store_persists_and_leases(server: FakeServer, tmp_path: Any) -> None:
    from wamd.errors import LeaseHeld, StoreError

    path = tmp_path / "device.sqlite"
    client = Client(path, server=server.info, transport_factory=server.factory)
    with pytest.raises(StoreError):
        _ = client.store  # opened by connect()
    success = await pair_by_qr(server, client)
    await client.close()
    with pytest.raises(StoreError):
        _ = client.store  # the client closed the store it opened

    again = Client(str(path), server=server.info, transport_factory=server.factory)
    rival = Client(path, server=server.info, transport_factory=server.factory)
    await again.connect()
    await again.wait_until_connected(timeout=5)
    assert again.jid == success.jid
    with pytest.raises(LeaseHeld):
        await rival.connect()
    assert rival.state is ConnState.DISCONNECTED
    await again.close()
    await rival.connect()  # the lease is free again
    await rival.wait_until_connected(timeout=5)
    await rival.close()


async def test_edge_routing_info_is_stored_and_sent_in_the_next_intro(server: FakeServer) -> None:
    client, _ = await paired_client(server)
    session = await server.latest()
    assert session.noise.intro is not None
    assert session.noise.intro.routing_info is None
    routing = bytes(range(40))
    await session.send(
        Node("ib", {}, [Node("edge_routing", {}, [Node("routing_info", {}, routing)])])
    )
    answer = await client.request(Node("iq", {"xmlns": "x", "type": "get", "to": SERVER_JID}))
    assert answer.attrs["type"] == "result"  # the ib was handled before this answer
    creds = client.credentials
    assert creds is not None
    assert creds.routing_info == routing
    await session.close()
    await client.wait_for(events.Connected, timeout=5)
    again = await server.latest()
    assert again is not session
    assert again.noise.intro is not None
    assert again.noise.intro.routing_info == routing
    await client.close()


def test_routing_info_goes_in_the_url_of_wss_servers_only() -> None:
    from wamd.conn.manager import with_routing

    prod = ServerInfo()
    assert with_routing(prod, None) is prod
    routed = with_routing(prod, b"\xfb\xff")
    assert routed.url == "wss://web.whatsapp.com/ws/chat?ED=-_8"
    assert routed.root_key == prod.root_key
    local = ServerInfo(url="ws://127.0.0.1:1/ws/chat", root_key=prod.root_key)
    assert with_routing(local, b"abc") is local
