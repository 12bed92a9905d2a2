"""``wamd login`` and ``wamd listen`` as subprocesses against an in-process sandbox."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import subprocess_env
from wamd.cli.login import CODE_PREFIX, QR_PREFIX
from wamd.messaging import Message
from wamd.sandbox import Sandbox
from wamd.sandbox.testing import paired_client

pytestmark = pytest.mark.slow


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox(state_dir=tmp_path / "sandbox", port=0) as running:
        yield running


async def _wamd(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wamd",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=subprocess_env(),
    )


async def _line_with(proc: asyncio.subprocess.Process, prefix: str) -> str:
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        while True:
            line = (await proc.stdout.readline()).decode()
            if not line:
                raise AssertionError(f"no line starting with {prefix!r}")
            if line.startswith(prefix):
                return line[len(prefix) :].strip()


async def _finish(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    try:
        async with asyncio.timeout(60):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(
            f"wamd did not finish; stdout {out!r}, stderr {err[-3000:]!r}"
        ) from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_login_by_qr_then_listen(sandbox: Sandbox, tmp_path: Path) -> None:
    store = str(tmp_path / "cli.db")
    common = ["--sandbox", sandbox.url, "--store", store]
    proc = await _wamd("login", *common)  # root key asked from the admin API
    qr = await _line_with(proc, QR_PREFIX)
    assert qr.startswith("https://wa.me/settings/linked_devices#")
    jid = await sandbox.admin.scan_qr(qr, "15550001111")
    code, out, err = await _finish(proc)
    assert code == 0, err
    assert f"Logged in as {jid}" in out

    again = await _wamd("login", *common, "--root-key", sandbox.root_public_key.hex())
    code, out, err = await _finish(again)
    assert code == 0, err
    assert "already linked" in out
    assert f"Logged in as {jid}" in out

    # a second account, paired in-process, talks to the CLI's account
    async with paired_client(sandbox, "15550002222") as other:
        listen = await _wamd("listen", *common, "--messages-only", "--count", "1")
        await asyncio.sleep(3)  # let it log in
        sent = await other.send_text(jid.to_non_ad(), "to the listener")
        code, out, err = await _finish(listen)
        assert code == 0, err
        got = json.loads(out.splitlines()[0])
        assert got["event"] == "Message"
        assert (got["id"], got["kind"], got["text"]) == (sent.id, "text", "to the listener")
        assert other.jid is not None
        send = await _wamd("send", *common, str(other.jid.to_non_ad()), "from the CLI")
        received = asyncio.ensure_future(
            other.wait_for(Message, lambda e: e.text == "from the CLI", timeout=30)
        )
        code, out, err = await _finish(send)
        assert code == 0, err
        answer = json.loads(out)
        assert (await received).id == answer["id"]


async def test_login_by_pairing_code(sandbox: Sandbox, tmp_path: Path) -> None:
    proc = await _wamd(
        "login",
        "--sandbox",
        sandbox.url,
        "--store",
        str(tmp_path / "c.db"),
        "--phone",
        "+1 555 000 3333",
    )
    pairing_code = await _line_with(proc, CODE_PREFIX)
    assert len(pairing_code) == 9
    assert pairing_code[4] == "-"
    jid = await sandbox.admin.enter_pairing_code("15550003333", pairing_code)
    code, out, err = await _finish(proc)
    assert code == 0, err
    assert f"Logged in as {jid}" in out


async def test_unpaired_listen_and_bad_sandbox_fail_cleanly(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    listen = await _wamd("listen", "--sandbox", sandbox.url, "--store", str(tmp_path / "n.db"))
    code, _, err = await _finish(listen)
    assert code == 1
    assert "wamd login" in err
    bad = await _wamd(
        "login", "--sandbox", "ws://127.0.0.1:9/ws/chat", "--store", str(tmp_path / "n.db")
    )
    code, _, err = await _finish(bad)
    assert code == 1
    assert "cannot read the sandbox root key" in err
    assert "Traceback" not in err
