"""Logging in, staying connected, and every way the sandbox can end a session."""

from __future__ import annotations

import pytest

from wamd.binary import Node
from wamd.crypto import KeyPair
from wamd.sandbox import Sandbox, SessionState
from wamd.types import JID

from .raw import Companion, RawClient, login, pair_by_qr

PHONE = "15550002"


@pytest.fixture
async def paired(sandbox: Sandbox) -> Companion:
    companion = Companion()
    await pair_by_qr(sandbox, companion, PHONE)
    return companion


async def test_success_carries_time_and_lid(sandbox: Sandbox, paired: Companion) -> None:
    client = await RawClient.connect(sandbox, paired.login_payload(), paired.noise)
    try:
        success = await client.recv()
        account = await sandbox.state.account(PHONE)
        assert account is not None
        assert success.tag == "success"
        assert success.attr_jid("lid") == JID(account.lid, "lid", device=1)
        assert abs(success.attr_int("t") - sandbox.clock()) < 5
    finally:
        await client.close()


async def test_active_flushes_the_offline_backlog(sandbox: Sandbox, paired: Companion) -> None:
    client = await login(sandbox, paired)
    try:
        answer = await client.query(
            Node(
                "iq",
                {"xmlns": "passive", "type": "set", "to": JID("", "s.whatsapp.net")},
                [Node("active")],
            )
        )
        assert answer.attrs["type"] == "result"
        offline = await client.expect("ib")
        # what waits for a new companion: the phone's app-state key share and history
        assert offline.require_child("offline").attrs["count"] == "2"
        (session,) = sandbox.active_sessions()
        assert session.jid == paired.jid
    finally:
        await client.close()


async def test_non_passive_login_is_active_at_once(sandbox: Sandbox, paired: Companion) -> None:
    client = await login(sandbox, paired, passive=False)
    try:
        offline = await client.expect("ib")
        # what waits for a new companion: the phone's app-state key share and history
        assert offline.require_child("offline").attrs["count"] == "2"
    finally:
        await client.close()


@pytest.mark.parametrize("child", [[Node("ping")], None])
async def test_pings_with_and_without_child(
    sandbox: Sandbox, paired: Companion, child: list[Node] | None
) -> None:
    client = await login(sandbox, paired)
    try:
        ping = Node("iq", {"xmlns": "w:p", "type": "get", "to": JID("", "s.whatsapp.net")}, child)
        answer = await client.query(ping)
        assert answer.attrs["type"] == "result"
        assert answer.attrs["from"] == JID("", "s.whatsapp.net")
    finally:
        await client.close()


async def _refused(sandbox: Sandbox, payload: bytes, noise: KeyPair) -> Node:
    client = await RawClient.connect(sandbox, payload, noise)
    try:
        nodes = await client.wait_closed()
    finally:
        await client.close()
    assert len(nodes) == 1, nodes
    return nodes[0]


async def test_unknown_device_is_logged_out(sandbox: Sandbox) -> None:
    stranger = Companion(jid=JID("15559999", "s.whatsapp.net", device=3))
    refused = await _refused(sandbox, stranger.login_payload(), stranger.noise)
    assert (refused.tag, refused.attrs["reason"]) == ("failure", "401")


async def test_wrong_noise_key_is_logged_out(sandbox: Sandbox, paired: Companion) -> None:
    refused = await _refused(sandbox, paired.login_payload(), KeyPair.generate())
    assert (refused.tag, refused.attrs["reason"]) == ("failure", "401")


async def test_ban(sandbox: Sandbox, paired: Companion) -> None:
    client = await login(sandbox, paired)
    try:
        assert await sandbox.admin.ban(PHONE, seconds=600, code=102) == 1
        nodes = await client.wait_closed()
        assert [(n.tag, n.attrs.get("reason"), n.attrs.get("code")) for n in nodes] == [
            ("failure", "402", "102")
        ]
    finally:
        await client.close()
    refused = await _refused(sandbox, paired.login_payload(), paired.noise)
    assert refused.attrs["reason"] == "402"
    assert 590 <= int(refused.attrs["expire"]) <= 600
    await sandbox.admin.unban(PHONE)
    client = await login(sandbox, paired)
    await client.close()


async def test_outdated_account_and_minimum_version(sandbox: Sandbox, paired: Companion) -> None:
    client = await login(sandbox, paired)
    try:
        assert await sandbox.admin.outdated(PHONE) == 1
        nodes = await client.wait_closed()
        assert [(n.tag, n.attrs.get("reason")) for n in nodes] == [("failure", "405")]
    finally:
        await client.close()
    assert (await _refused(sandbox, paired.login_payload(), paired.noise)).attrs["reason"] == "405"
    await sandbox.admin.outdated(PHONE, False)
    sandbox.admin.set_min_version((2, 3000, 2))
    old = await _refused(sandbox, paired.login_payload(version=(2, 3000, 1)), paired.noise)
    assert old.attrs["reason"] == "405"
    sandbox.admin.set_min_version((0, 0, 0))
    client = await login(sandbox, paired)
    await client.close()


async def test_minimum_version_lets_newer_clients_in(sandbox: Sandbox, paired: Companion) -> None:
    sandbox.admin.set_min_version((2, 3000, 2))
    client = await RawClient.connect(
        sandbox, paired.login_payload(version=(2, 3000, 5)), paired.noise
    )
    try:
        assert (await client.recv()).tag == "success"
    finally:
        await client.close()


async def test_remove_device(sandbox: Sandbox, paired: Companion) -> None:
    client = await login(sandbox, paired)
    try:
        assert paired.jid is not None
        assert await sandbox.admin.remove_device(paired.jid)
        nodes = await client.wait_closed()
        assert len(nodes) == 1
        assert nodes[0].tag == "stream:error"
        assert nodes[0].attrs["code"] == "401"
        assert nodes[0].require_child("conflict").attrs["type"] == "device_removed"
    finally:
        await client.close()
    assert await sandbox.state.device(PHONE, 1) is None
    refused = await _refused(sandbox, paired.login_payload(), paired.noise)
    assert refused.attrs["reason"] == "401"


async def test_replace_stream_and_second_login(sandbox: Sandbox, paired: Companion) -> None:
    first = await login(sandbox, paired)
    try:
        second = await login(sandbox, paired)
        nodes = await first.wait_closed()
        assert [n.require_child("conflict").attrs["type"] for n in nodes] == ["replaced"]
        assert sandbox.sessions[paired.jid] is not None  # type: ignore[index]
        assert await sandbox.admin.replace_stream(PHONE) == 1
        nodes = await second.wait_closed()
        assert nodes[0].require_child("conflict").attrs["type"] == "replaced"
        await second.close()
    finally:
        await first.close()


async def test_kick_and_stream_error(sandbox: Sandbox, paired: Companion) -> None:
    assert paired.jid is not None
    client = await login(sandbox, paired)
    try:
        assert await sandbox.admin.kick(str(paired.jid)) == 1
        assert await client.wait_closed() == []
    finally:
        await client.close()
    client = await login(sandbox, paired)
    try:
        assert await sandbox.admin.stream_error(PHONE, 503) == 1
        nodes = await client.wait_closed()
        assert [n.attrs["code"] for n in nodes] == ["503"]
    finally:
        await client.close()
    assert await sandbox.admin.kick(PHONE) == 0


async def test_logout_by_the_companion(sandbox: Sandbox, paired: Companion) -> None:
    client = await login(sandbox, paired)
    try:
        remove = Node("remove-companion-device", {"jid": paired.jid, "reason": "user_initiated"})  # type: ignore[dict-item]
        answer = await client.query(Node("iq", {"xmlns": "md", "type": "set"}, [remove]))
        assert answer.attrs["type"] == "result"
        nodes = await client.wait_closed()
        assert nodes[-1].require_child("conflict").attrs["type"] == "device_removed"
    finally:
        await client.close()
    assert await sandbox.state.devices(PHONE) == []


async def test_sessions_end_cleanly(sandbox: Sandbox, paired: Companion) -> None:
    client = await login(sandbox, paired)
    await client.close()
    for session in sandbox.connections:
        await session.closed.wait()
    assert sandbox.sessions == {}
    assert all(s.state is SessionState.CLOSED for s in sandbox.connections)
