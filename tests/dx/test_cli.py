"""The ``wamd`` command as a newcomer meets it: help texts, clear errors without tracebacks,
and the whole login -> send -> listen story in the terminal against a sandbox (with an
encrypted store)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import subprocess_env
from wamd import __version__
from wamd.cli import build_parser
from wamd.sandbox import Sandbox
from wamd.sandbox.testing import running_sandbox

KEY_VAR = "WAMD_TEST_STORE_KEY"


async def wamd(*args: str, **env: str) -> tuple[int, str, str]:
    """Run ``python -m wamd ARGS``; its exit code, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wamd",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=subprocess_env(**env),
    )
    try:
        async with asyncio.timeout(90):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def test_help_texts_are_plain_and_point_newcomers_to_the_demo(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = build_parser()
    text = parser.format_help()
    assert "wamd demo" in text
    assert "docs/quickstart.md" in text
    assert "may ban accounts" in text
    for name in ("demo", "sandbox", "login", "send", "listen", "logout"):
        with pytest.raises(SystemExit) as exited:
            parser.parse_args([name, "--help"])
        assert exited.value.code == 0
        shown = capsys.readouterr().out
        assert "``" not in shown, shown
        assert f"`wamd {name}`" in shown or name == "demo"
    with pytest.raises(SystemExit):
        parser.parse_args(["--version"])
    assert capsys.readouterr().out.strip() == f"wamd {__version__}"


async def test_an_unlinked_store_is_reported_before_any_connection(tmp_path: Path) -> None:
    # no --sandbox: WhatsApp itself would be asked, so the answer must come from the store
    for command in (["send", "+1 555 0100", "hi"], ["listen", "--for", "1"]):
        code, out, err = await wamd(*command, "--store", str(tmp_path / "new.db"))
        assert code == 1
        assert out == ""
        assert "not linked to an account yet: run `wamd login` first" in err
        assert "connect" not in err
        assert "Traceback" not in err


async def test_option_mistakes_are_explained(tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    code, _, err = await wamd(
        "send", "--store", store, "--store-key-env", "WAMD_NOT_SET_X", "+15550100", "hi"
    )
    assert (code, err.strip()) == (
        1,
        "wamd: --store-key-env: environment variable WAMD_NOT_SET_X is not set",
    )
    code, _, err = await wamd("login", "--store", store, "--sandbox-phone", "15550100")
    assert code == 1
    assert "--sandbox-phone needs --sandbox" in err
    code, _, err = await wamd("send", "--store", store, "bob", "hi")
    assert (code, err.strip()) == (1, "wamd: not a JID nor a phone number: 'bob'")


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with running_sandbox(tmp_path / "sandbox") as running:
        yield running


@pytest.mark.slow
async def test_login_send_listen_in_the_terminal(sandbox: Sandbox, tmp_path: Path) -> None:
    alice = [
        "--sandbox",
        sandbox.url,
        "--store",
        str(tmp_path / "alice.db"),
        "--store-key-env",
        KEY_VAR,
    ]
    bob = ["--sandbox", sandbox.url, "--store", str(tmp_path / "bob.db")]
    key = {KEY_VAR: "correct horse battery staple"}

    code, out, err = await wamd(
        "login", *alice, "--sandbox-phone", "15550201", "--no-render", **key
    )
    assert code == 0, err
    assert "The sandbox's phone of 15550201 scans it..." in out
    assert "Logged in as 15550201:1@s.whatsapp.net" in out
    code, out, err = await wamd(
        "login", *bob, "--phone", "+1 555 0202", "--sandbox-phone", "15550202"
    )
    assert code == 0, err
    assert "Pairing code: " in out
    assert "The sandbox's phone of 15550202 types it in..." in out
    assert "Logged in as 15550202:1@s.whatsapp.net" in out

    listen = asyncio.ensure_future(wamd("listen", *bob, "--messages-only", "--count", "1"))
    for _ in range(300):  # until the listener is logged in
        await asyncio.sleep(0.1)
        if any(s.jid.user == "15550202" for s in sandbox.active_sessions()):
            break
    code, out, err = await wamd("send", *alice, "+1 555 0202", "hello Bob", **key)
    assert code == 0, err
    sent = json.loads(out)
    code, out, err = await listen
    assert code == 0, err
    assert "wamd: listening as 15550202:1@s.whatsapp.net" in err
    got = json.loads(out.splitlines()[0])
    assert (got["id"], got["text"], got["sender"]) == (
        sent["id"],
        "hello Bob",
        "15550201:1@s.whatsapp.net",
    )

    # bob unlinks: the sandbox forgets the device, the store is empty, send says so
    assert [d.device for d in await sandbox.state.devices("15550202")] == [1]
    code, out, logout_err = await wamd("logout", *bob)
    assert code == 0, logout_err
    assert out.strip() == "Unlinked 15550202:1@s.whatsapp.net; its keys are deleted from the store."
    assert [d.device for d in await sandbox.state.devices("15550202")] == []
    code, _, err = await wamd("send", *bob, "+15550201", "still there?")
    assert code == 1
    assert "not linked to an account yet" in err, f"{err}\nlogout said: {logout_err}"

    # the secrets are sealed: without the key the store does not open
    assert b"correct horse" not in (tmp_path / "alice.db").read_bytes()
    code, _, err = await wamd("send", *alice[:4], "+15550202", "no key")
    assert code == 1
    assert "open it with its key (the key comes from --store-key-env VAR)" in err


async def test_an_unreachable_sandbox_is_named(tmp_path: Path) -> None:
    async with running_sandbox() as sandbox:
        root = sandbox.root_public_key.hex()
        url = sandbox.url
    code, _, err = await wamd(
        "login",
        "--sandbox",
        url,
        "--root-key",
        root,
        "--store",
        str(tmp_path / "x.db"),
        "--timeout",
        "10",
    )
    assert code == 1
    assert f"cannot connect to {url}" in err
    assert "is `wamd sandbox` running there?" in err
    assert "Traceback" not in err


async def test_a_busy_sandbox_port_is_explained(tmp_path: Path) -> None:
    async with running_sandbox() as sandbox:
        port = sandbox.url.split(":")[2].split("/")[0]
        code, _, err = await wamd("sandbox", "--port", port, "--state-dir", str(tmp_path))
    assert code == 1
    assert "wamd: cannot start the sandbox: " in err
    assert "address already in use (is another sandbox running? --port 0 picks a free port)" in err
    assert "Traceback" not in err
