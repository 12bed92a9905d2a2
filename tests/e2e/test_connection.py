"""End to end over real loopback WebSockets: wamd's client against the in-process sandbox.

QR and code pairing, a new process logging in from the stored session, the sandbox killed and
restarted, every disconnect cause mapped to its event, and a wrong root key.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, subprocess_env
from tests.unit.conn_fakes import Recorder
from wamd import events
from wamd.binary import Node
from wamd.client import Client
from wamd.conn.keepalive import KeepAliveConfig
from wamd.conn.options import ServerInfo
from wamd.conn.reconnect import ReconnectPolicy
from wamd.conn.state import ConnState
from wamd.crypto import KeyPair
from wamd.errors import CertificateError
from wamd.sandbox import NO_REPLY, Sandbox
from wamd.sandbox.testing import server_info
from wamd.store import MemoryStore

PHONE = "15550002000"
FAST = ReconnectPolicy(initial_delay=0.05, max_delay=0.3, jitter=0.1)


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox(tmp_path / "sandbox") as sb:
        yield sb


async def pair_by_qr(sandbox: Sandbox, client: Client, phone: str = PHONE) -> events.PairSuccess:
    qr = asyncio.create_task(client.wait_for(events.QR, timeout=20))
    success = asyncio.create_task(client.wait_for(events.PairSuccess, timeout=20))
    await client.connect()
    jid = await sandbox.admin.scan_qr((await qr).text, phone=phone)
    paired = await success
    assert paired.jid == jid
    await client.wait_until_connected(timeout=20)
    await client.dispatcher.drain()
    return paired


async def paired_client(
    sandbox: Sandbox, store: Any = None, **kwargs: Any
) -> tuple[Client, Recorder]:
    kwargs.setdefault("reconnect", FAST)
    store = store if store is not None else MemoryStore()
    client = Client(store, server=server_info(sandbox), **kwargs)
    rec = Recorder(client)
    await pair_by_qr(sandbox, client)
    return client, rec


async def test_qr_pairing(sandbox: Sandbox) -> None:
    client, rec = await paired_client(sandbox)
    assert client.is_connected
    assert client.jid is not None
    assert client.jid.user == PHONE
    assert client.lid is not None
    [account] = await sandbox.admin.accounts()
    assert account["phone"] == PHONE
    assert [type(e) for e in rec.events if not isinstance(e, events.QR)] == [
        events.PairSuccess,
        events.Connected,
    ]
    qr = rec.of(events.QR)[0]
    assert qr.text.startswith("https://wa.me/settings/linked_devices#")
    assert qr.timeout == 60.0
    await client.close()


async def test_code_pairing(sandbox: Sandbox) -> None:
    client = Client(MemoryStore(), server=server_info(sandbox))
    success = asyncio.create_task(client.wait_for(events.PairSuccess, timeout=20))
    await client.connect()
    code = await client.request_pairing_code(f"+{PHONE}")
    jid = await sandbox.admin.enter_pairing_code(PHONE, code)
    assert (await success).jid == jid
    await client.wait_until_connected(timeout=20)
    assert client.jid == jid
    await client.close()


LOGIN_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from wamd import events
    from wamd.client import Client
    from wamd.conn.options import ServerInfo

    async def main() -> None:
        server = ServerInfo(url=sys.argv[2], root_key=bytes.fromhex(sys.argv[3]))
        client = Client(sys.argv[1], server=server)
        qrs = []
        client.on(events.QR)(qrs.append)
        await client.connect()
        await client.wait_until_connected(timeout=20)
        print("JID", client.jid, "QR", len(qrs), flush=True)
        await client.close()

    asyncio.run(main())
    """
)


async def test_a_new_process_logs_in_from_the_stored_session(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    store_file = tmp_path / "device.sqlite"
    client = Client(store_file, server=server_info(sandbox))
    paired = await pair_by_qr(sandbox, client)
    await client.close()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        LOGIN_SCRIPT,
        str(store_file),
        sandbox.url,
        sandbox.root_public_key.hex(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_env(),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert out.decode().split() == ["JID", str(paired.jid), "QR", "0"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_sandbox_killed_and_restarted_the_client_reconnects(tmp_path: Path) -> None:
    port = free_port()
    state = tmp_path / "sandbox"
    first = Sandbox(state, port=port)
    await first.start()
    client, _ = await paired_client(first)
    dropped = asyncio.create_task(client.wait_for(events.Disconnected, timeout=20))
    await first.stop()
    assert (await dropped).will_reconnect
    # While the sandbox is down the attempts fail and back off.
    await client.wait_for(events.Reconnecting, timeout=20)
    await client.wait_for(events.Reconnecting, timeout=20)
    assert client.state in (ConnState.WAITING_RECONNECT, ConnState.CONNECTING)
    second = Sandbox(state, port=port)  # same state: same keys, same accounts
    await second.start()
    try:
        await client.wait_for(events.Connected, timeout=20)
        assert client.is_connected
        assert second.root_public_key == first.root_public_key
        await client.close()
    finally:
        await second.stop()


async def test_kick_reconnects(sandbox: Sandbox) -> None:
    client, _ = await paired_client(sandbox)
    dropped = asyncio.create_task(client.wait_for(events.Disconnected, timeout=20))
    back = asyncio.create_task(client.wait_for(events.Connected, timeout=20))
    await asyncio.sleep(0)
    assert await sandbox.admin.kick(PHONE) == 1
    assert (await dropped).will_reconnect
    await back
    await client.close()


async def test_ban_is_a_temporary_ban_without_reconnect(sandbox: Sandbox) -> None:
    client, _ = await paired_client(sandbox)
    ban = asyncio.create_task(client.wait_for(events.TemporaryBan, timeout=20))
    await asyncio.sleep(0)
    await sandbox.admin.ban(PHONE, seconds=600, code=101)
    got = await ban
    assert got.code == 101
    assert 0 < got.expire <= 600
    await client.run_until_disconnected()
    assert client.is_paired
    await client.close()


async def test_outdated_is_client_outdated(sandbox: Sandbox) -> None:
    client, _ = await paired_client(sandbox)
    outdated = asyncio.create_task(client.wait_for(events.ClientOutdated, timeout=20))
    await asyncio.sleep(0)
    await sandbox.admin.outdated(PHONE)
    await outdated
    await client.run_until_disconnected()
    await client.close()


async def test_min_version_refuses_old_clients_at_login(sandbox: Sandbox) -> None:
    client, _ = await paired_client(sandbox)
    await client.disconnect()
    sandbox.admin.set_min_version((2, 3000, 2_000_000_000))
    outdated = asyncio.create_task(client.wait_for(events.ClientOutdated, timeout=20))
    await client.connect()
    await outdated
    await client.run_until_disconnected()
    # A newer app version is accepted again: no release needed.
    await client.close()
    newer = Client(client.store, server=server_info(sandbox), app_version="2.3000.2000000001")
    await newer.connect()
    await newer.wait_until_connected(timeout=20)
    await newer.close()


async def test_remove_device_logs_out_and_wipes(sandbox: Sandbox) -> None:
    client, rec = await paired_client(sandbox)
    assert client.jid is not None
    logged_out = asyncio.create_task(client.wait_for(events.LoggedOut, timeout=20))
    await asyncio.sleep(0)
    assert await sandbox.admin.remove_device(client.jid)
    got = await logged_out
    assert got.reason == events.LogoutReason.LOGGED_OUT
    assert not got.on_connect
    assert await client.store.accounts() == []
    assert client.state is ConnState.DISCONNECTED
    assert not rec.of(events.Disconnected)
    await client.close()


async def test_replaced_stream_does_not_reconnect(sandbox: Sandbox) -> None:
    client, rec = await paired_client(sandbox)
    replaced = asyncio.create_task(client.wait_for(events.StreamReplaced, timeout=20))
    await asyncio.sleep(0)
    await sandbox.admin.replace_stream(PHONE)
    await replaced
    await client.run_until_disconnected()
    await asyncio.sleep(0.3)
    assert client.state is ConnState.DISCONNECTED
    assert not rec.of(events.Reconnecting)
    assert client.is_paired
    await client.close()


async def test_stream_error_503_reconnects(sandbox: Sandbox) -> None:
    client, _ = await paired_client(sandbox)
    back = asyncio.create_task(client.wait_for(events.Connected, timeout=20))
    dropped = asyncio.create_task(client.wait_for(events.Disconnected, timeout=20))
    await asyncio.sleep(0)
    await sandbox.admin.stream_error(PHONE, 503)
    assert (await dropped).will_reconnect
    await back
    await client.close()


async def ping_deaf_client(sandbox: Sandbox, max_fail_time: float) -> tuple[Client, Any]:
    """A paired client with fast keepalive, and the sandbox no longer answering its pings.

    Returns the client and the sandbox's original ping handler (to restore answers).
    """
    keepalive = KeepAliveConfig(
        interval_min=0.1, interval_max=0.15, deadline=0.2, max_fail_time=max_fail_time
    )
    client, _ = await paired_client(sandbox, keepalive=keepalive)
    answered = sandbox.router.iq_handler("w:p", None)
    assert answered is not None

    async def ignore_pings(session: Any, iq: Node) -> Any:
        return NO_REPLY

    sandbox.router.add_iq("w:p", "*", ignore_pings)
    return client, answered


async def test_keepalive_timeout_then_drop_and_reconnect(sandbox: Sandbox) -> None:
    client, answered = await ping_deaf_client(sandbox, max_fail_time=1.0)
    timeout = await client.wait_for(events.KeepAliveTimeout, timeout=20)
    assert timeout.error_count == 1
    dropped = await client.wait_for(events.Disconnected, timeout=20)
    assert dropped.will_reconnect
    assert "keepalive" in str(dropped.error)
    sandbox.router.add_iq("w:p", "*", answered)
    await client.wait_for(events.Connected, timeout=20)
    await client.close()


async def test_keepalive_restored(sandbox: Sandbox) -> None:
    client, answered = await ping_deaf_client(sandbox, max_fail_time=60)
    await client.wait_for(events.KeepAliveTimeout, timeout=20)
    sandbox.router.add_iq("w:p", "*", answered)
    await client.wait_for(events.KeepAliveRestored, timeout=20)
    assert client.is_connected
    await client.close()


async def test_wrong_root_key_is_a_certificate_error(sandbox: Sandbox) -> None:
    wrong = ServerInfo(url=sandbox.url, root_key=KeyPair.generate().public)
    client = Client(MemoryStore(), server=wrong)
    with pytest.raises(CertificateError):
        await client.connect()
    assert client.state is ConnState.DISCONNECTED
    await client.close()


def test_demo_runs_as_a_subprocess() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "wamd", "demo", "--no-qr"],
        capture_output=True,
        text=True,
        timeout=180,
        env=subprocess_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for expected in (
        "Starting the sandbox",
        "QR code received",
        "pairing verified",
        "logged in as 15550001234:",
        "logged in again as",
        "reconnected and logged in",
        "Demo finished",
    ):
        assert expected in out, out


@pytest.mark.parametrize("args", [[], ["--code"]])
def test_pairing_example_runs(args: list[str]) -> None:
    example = ROOT / "examples" / "pair_with_sandbox.py"
    proc = subprocess.run(
        [sys.executable, str(example), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=subprocess_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "logged in again from the stored session as 15550009999:" in proc.stdout
