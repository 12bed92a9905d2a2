"""Sans-I/O connection cores: stream-end classification, IQ matching, ClientPayload builders."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from wamd import events
from wamd.binary import Node
from wamd.conn.causes import Action, classify_failure, classify_stream_error
from wamd.conn.iq import PendingRequests, iq_error_of, request
from wamd.conn.payload import (
    DEFAULT_APP_VERSION,
    AppVersion,
    DeviceInfo,
    login_payload,
    registration_payload,
)
from wamd.errors import IQError, IQTimeout, NotConnected
from wamd.events import Dispatcher, Event
from wamd.pairing.credentials import new_credentials
from wamd.proto import companion_pb2, handshake_pb2
from wamd.types import JID

# --- stream ends ------------------------------------------------------------------------------


def stream_error(code: str | None = None, conflict: str | None = None) -> Node:
    attrs = {"code": code} if code else {}
    content = [Node("conflict", {"type": conflict})] if conflict else None
    return Node("stream:error", dict(attrs), content)


def test_515_restarts() -> None:
    outcome = classify_stream_error(stream_error("515"))
    assert outcome.action is Action.RESTART
    assert outcome.event is None


def test_device_removed_logs_out_and_wipes() -> None:
    outcome = classify_stream_error(stream_error("401", "device_removed"))
    assert outcome.action is Action.STOP
    assert outcome.wipe
    assert outcome.event == events.LoggedOut(events.LogoutReason.LOGGED_OUT, on_connect=False)


def test_replaced_stops_without_wipe() -> None:
    outcome = classify_stream_error(stream_error(None, "replaced"))
    assert outcome.action is Action.STOP
    assert not outcome.wipe
    assert outcome.event == events.StreamReplaced()


def test_503_and_unknown_stream_errors_reconnect() -> None:
    assert classify_stream_error(stream_error("503")).action is Action.RECONNECT
    unknown = classify_stream_error(stream_error("999"))
    assert unknown.action is Action.RECONNECT
    assert isinstance(unknown.event, events.StreamError)
    assert unknown.event.code == "999"


@pytest.mark.parametrize("reason", [401, 403, 406])
def test_failure_logged_out(reason: int) -> None:
    outcome = classify_failure(Node("failure", {"reason": str(reason)}))
    assert outcome.action is Action.STOP
    assert outcome.wipe
    assert outcome.event == events.LoggedOut(events.LogoutReason(reason), on_connect=True)


def test_failure_ban_outdated_retry_other() -> None:
    ban = classify_failure(Node("failure", {"reason": "402", "code": "101", "expire": "3600"}))
    assert ban.event == events.TemporaryBan(101, 3600)
    assert ban.action is Action.STOP
    assert not ban.wipe
    assert classify_failure(Node("failure", {"reason": "405"})).event == events.ClientOutdated()
    assert classify_failure(Node("failure", {"reason": "503"})).action is Action.RECONNECT
    assert classify_failure(Node("failure", {"reason": "500"})).action is Action.RECONNECT
    other = classify_failure(Node("failure", {"reason": "409", "message": "nope"}))
    assert other.action is Action.STOP
    assert isinstance(other.event, events.ConnectFailure)
    assert (other.event.reason, other.event.message) == (409, "nope")


@pytest.mark.parametrize("attrs", [{}, {"reason": "x"}, {"reason": "402", "expire": "-5"}])
def test_failure_with_junk_attributes_is_classified_not_raised(attrs: dict[str, str]) -> None:
    outcome = classify_failure(Node("failure", dict(attrs)))
    assert outcome.action in (Action.STOP, Action.RECONNECT)


# --- IQ matching ------------------------------------------------------------------------------


async def test_pending_requests_match_results_errors_and_acks_only() -> None:
    pending = PendingRequests(prefix="t-")
    a = pending.expect("t-1")
    b = pending.expect("t-2")
    assert not pending.resolve(Node("iq", {"id": "t-1", "type": "set"}))  # a server request
    assert not pending.resolve(Node("message", {"id": "t-1"}))
    assert not pending.resolve(Node("iq", {"id": "nope", "type": "result"}))
    assert pending.resolve(Node("iq", {"id": "t-1", "type": "result"}))
    assert pending.resolve(Node("ack", {"id": "t-2", "class": "message"}))
    assert (await a).attrs["type"] == "result"
    assert (await b).tag == "ack"
    assert len(pending) == 0
    pending.expect("t-3")
    with pytest.raises(ValueError, match="already waiting"):
        pending.expect("t-3")


async def test_fail_all_fails_waiters() -> None:
    pending = PendingRequests()
    future = pending.expect(pending.new_id())
    pending.fail_all()
    with pytest.raises(NotConnected):
        await future


async def test_request_assigns_ids_returns_results_and_raises_errors() -> None:
    pending = PendingRequests(prefix="q-")
    sent: list[Node] = []

    async def send(node: Node) -> None:
        sent.append(node)
        kind = "error" if node.attrs.get("xmlns") == "bad" else "result"
        answer = Node("iq", {"id": node.attrs["id"], "type": kind})
        if kind == "error":
            answer.content = [Node("error", {"code": "404", "text": "item-not-found"})]
        asyncio.get_running_loop().call_soon(pending.resolve, answer)

    result = await request(pending, send, Node("iq", {"type": "get"}), timeout=1)
    assert result.attrs["type"] == "result"
    assert sent[0].attrs["id"] == "q-1"
    with pytest.raises(IQError) as info:
        await request(pending, send, Node("iq", {"type": "get", "xmlns": "bad"}), timeout=1)
    assert (info.value.code, info.value.text) == (404, "item-not-found")
    assert len(pending) == 0


async def test_request_times_out_and_forgets() -> None:
    pending = PendingRequests()

    async def send(node: Node) -> None:
        pass

    with pytest.raises(IQTimeout):
        await request(pending, send, Node("iq", {"type": "get"}), timeout=0.01)
    assert len(pending) == 0


def test_iq_error_of_tolerates_junk() -> None:
    assert iq_error_of(Node("iq", {"type": "error"})).code == 0
    err = iq_error_of(Node("iq", {}, [Node("error", {"code": "abc"})]))
    assert err.code == 0
    assert isinstance(err, IQError)


async def test_handler_awaiting_an_iq_does_not_block_the_reader() -> None:
    """A pool of one handler, all busy on an IQ: the reader still gets the answer through."""
    pending = PendingRequests()
    dispatcher = Dispatcher(max_concurrency=1)
    answers: list[str] = []
    outgoing: asyncio.Queue[Node] = asyncio.Queue()

    class Tick(Event):
        pass

    async def send(node: Node) -> None:
        await outgoing.put(node)

    async def handler(evt: Event) -> None:
        answer = await request(pending, send, Node("iq", {"type": "get"}), timeout=2)
        answers.append(str(answer.attrs["type"]))

    dispatcher.add(Tick, handler)
    # The "reader": dispatch two events, then deliver the server's answers.
    await dispatcher.dispatch(Tick())
    first = await asyncio.wait_for(outgoing.get(), 1)
    await asyncio.wait_for(dispatcher.dispatch(Tick()), 1)  # pool is free: slot lent
    second = await asyncio.wait_for(outgoing.get(), 1)
    for node in (first, second):
        assert pending.resolve(Node("iq", {"id": node.attrs["id"], "type": "result"}))
    await asyncio.wait_for(dispatcher.drain(), 2)
    assert answers == ["result", "result"]


# --- payloads ---------------------------------------------------------------------------------


def test_app_version_parse_and_hash() -> None:
    version = AppVersion.parse("2.3000.1045649367")
    assert version == DEFAULT_APP_VERSION
    assert str(version) == "2.3000.1045649367"
    assert len(version.build_hash) == 16
    assert AppVersion(2, 2412, 1) < version
    with pytest.raises(ValueError, match="three"):
        AppVersion.parse("2.3000")


def test_registration_payload_carries_the_prekey_bundle() -> None:
    creds = new_credentials(signed_prekey_id=0x010203)
    raw = registration_payload(creds, version=AppVersion(2, 3000, 7), device=DeviceInfo(name="bot"))
    payload = handshake_pb2.ClientPayload.FromString(raw)
    data = payload.device_pairing_data
    assert data.e_regid == creds.registration_id.to_bytes(4, "big")
    assert data.e_keytype == b"\x05"
    assert data.e_ident == creds.identity_key.public
    assert data.e_skey_id == b"\x01\x02\x03"
    assert data.e_skey_val == creds.signed_prekey.key_pair.public
    assert data.e_skey_sig == creds.signed_prekey.signature
    assert data.build_hash == AppVersion(2, 3000, 7).build_hash
    props = companion_pb2.DeviceProps.FromString(data.device_props)
    assert props.os == "bot"
    assert payload.passive is False
    assert payload.HasField("passive")
    assert payload.pull is False
    assert not payload.HasField("username")
    ua = payload.user_agent
    version = ua.app_version
    assert (version.primary, version.secondary, version.tertiary) == (2, 3000, 7)
    assert ua.platform == handshake_pb2.ClientPayload.UserAgent.Platform.WEB
    assert payload.web_info.web_sub_platform == 0
    assert payload.HasField("connect_type")


def test_login_payload_carries_the_device() -> None:
    import dataclasses

    jid = JID("15550100000", "s.whatsapp.net", device=4)
    creds = dataclasses.replace(new_credentials(), jid=str(jid))
    payload = handshake_pb2.ClientPayload.FromString(login_payload(creds))
    assert payload.username == 15550100000
    assert payload.device == 4
    assert payload.passive is True
    assert payload.pull is True
    assert not payload.HasField("device_pairing_data")
    with pytest.raises(ValueError, match="paired"):
        login_payload(new_credentials())


def test_qr_client_type_follows_the_platform() -> None:
    platform = companion_pb2.DeviceProps.PlatformType
    assert DeviceInfo().qr_client_type == "1"
    assert DeviceInfo(platform=platform.FIREFOX).qr_client_type == "3"
    assert DeviceInfo(platform=platform.DESKTOP).qr_client_type == "9"


async def test_request_returns_the_ack_of_a_message_stanza() -> None:
    pending = PendingRequests()

    async def send(node: Node) -> None:
        ack = Node("ack", {"id": node.attrs["id"], "class": "message", "t": "1"})
        asyncio.get_running_loop().call_soon(pending.resolve, ack)

    answer = await request(pending, send, Node("message", {"id": "m1", "to": "x"}), timeout=1)
    assert answer.tag == "ack"
    assert answer.attrs["id"] == "m1"


async def test_node_routing_direct_and_matched_routes() -> None:
    from wamd.conn.device import Device
    from wamd.conn.manager import ConnectionManager
    from wamd.conn.options import ConnectOptions

    manager = ConnectionManager(Device(None), Dispatcher(), ConnectOptions())
    seen: list[tuple[str, str]] = []

    def handler(name: str) -> Callable[[Node], Awaitable[None]]:
        async def handle(node: Node) -> None:
            seen.append((name, node.tag))

        return handle

    manager.route("message", handler("first"))
    manager.route("message", handler("never"))  # the first route takes every <message>
    manager.route("call", handler("offer"), lambda n: n.child("offer") is not None)
    manager.route("call", handler("any call"))
    manager.route("presence", handler("typed"), lambda n: n.attrs.get("type") == "x")
    await manager._handle_node(Node("message", {"id": "1"}))
    await manager._handle_node(Node("call", {"id": "2"}, [Node("offer")]))
    await manager._handle_node(Node("call", {"id": "3"}, [Node("terminate")]))
    await manager._handle_node(Node("presence", {"type": "y"}))  # no route: dropped
    assert seen == [("first", "message"), ("offer", "call"), ("any call", "call")]
    # an answer to a pending request is consumed before any route
    future = manager.pending.expect("q1")
    manager.route("iq", handler("iq"))
    await manager._handle_node(Node("iq", {"id": "q1", "type": "result"}))
    assert future.done()
    assert seen[-1] == ("any call", "call")
    await manager._handle_node(Node("iq", {"id": "q2", "type": "get"}))
    assert seen[-1] == ("iq", "iq")
