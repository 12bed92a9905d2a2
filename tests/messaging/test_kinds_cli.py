"""The client subcommands' pure parts: options, recipients, the JSON form of events."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from aiohttp import web

from wamd.cli import build_parser
from wamd.cli.client_options import CLIError, _admin_info_url, parse_recipient, server_info
from wamd.cli.listen import event_json
from wamd.events import Event, LoggedOut, LogoutReason
from wamd.messaging import builders as b
from wamd.proto import e2e_pb2
from wamd.types import JID

BOB = JID.parse("15550002222@s.whatsapp.net")


def test_subcommands_are_registered() -> None:
    parser = build_parser()
    args = parser.parse_args(
        [
            "login",
            "--phone",
            "+15550001111",
            "--sandbox",
            "ws://h:1/ws/chat",
            "--root-key",
            "00" * 32,
            "--store",
            "x.db",
        ]
    )
    assert (args.command, args.phone, args.store) == ("login", "+15550001111", "x.db")
    args = parser.parse_args(["listen", "--count", "3", "--for", "2.5"])
    assert (args.count, args.duration) == (3, 2.5)


def test_recipients() -> None:
    assert parse_recipient("+1 555 000-2222") == BOB
    assert parse_recipient("15550002222@s.whatsapp.net") == BOB
    assert parse_recipient("120363000000000001@g.us").is_group
    for bad in ("bob", "", "1@@x", "+1 555 abc"):
        with pytest.raises(CLIError):
            parse_recipient(bad)


def _ns(**kw: object) -> argparse.Namespace:
    return argparse.Namespace(**{"sandbox": None, "root_key": None, **kw})


async def test_server_info_from_options_and_admin_api() -> None:
    assert await server_info(_ns()) is None
    with pytest.raises(CLIError, match="needs --sandbox"):
        await server_info(_ns(root_key="00" * 32))
    with pytest.raises(CLIError, match="ws://"):
        await server_info(_ns(sandbox="http://x"))
    with pytest.raises(CLIError, match="bad root key"):
        await server_info(_ns(sandbox="ws://127.0.0.1:1/ws/chat", root_key="zz"))
    given = await server_info(_ns(sandbox="ws://127.0.0.1:1/ws/chat", root_key="ab" * 32))
    assert given is not None
    assert given.root_key == bytes([0xAB]) * 32
    assert _admin_info_url("wss://h:5/ws/chat") == "https://h:5/admin/info"

    key = bytes(range(32))

    async def info(request: web.Request) -> web.Response:
        return web.json_response({"root_public_key": key.hex()})

    app = web.Application()
    app.router.add_get("/admin/info", info)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        asked = await server_info(_ns(sandbox=f"ws://127.0.0.1:{port}/ws/chat"))
        assert asked is not None
        assert (asked.url, asked.root_key) == (f"ws://127.0.0.1:{port}/ws/chat", key)
    finally:
        await runner.cleanup()
    with pytest.raises(CLIError, match="cannot read the sandbox root key"):
        await server_info(_ns(sandbox=f"ws://127.0.0.1:{port}/ws/chat"))
    await asyncio.sleep(0)


@dataclass(frozen=True)
class FakeMessage(Event):
    id: str
    chat: JID
    sender: JID
    timestamp: datetime
    message: e2e_pb2.Message = field(repr=False)
    raw: object = None


def test_event_json_of_messages() -> None:
    when = datetime.fromtimestamp(1_700_000_000, UTC)
    reply = b.text(
        "yes @15550002222",
        mentions=[BOB],
        quote=e2e_pb2.ContextInfo(stanza_id="Q", participant=str(BOB), quoted_message=b.text("?")),
    )
    out = event_json(FakeMessage("M1", BOB, BOB.with_device(2), when, reply, raw=object()))
    assert out == {
        "event": "FakeMessage",
        "id": "M1",
        "chat": str(BOB),
        "sender": "15550002222:2@s.whatsapp.net",
        "timestamp": 1_700_000_000,
        "kind": "text",
        "text": "yes @15550002222",
        "quoted": {"id": "Q", "sender": str(BOB), "text": "?"},
        "mentions": [str(BOB)],
    }
    json.dumps(out)
    kinds = {
        "reaction": b.reaction(b.message_key(BOB, "T", from_me=True), ""),
        "edit": b.edit(BOB, "T", b.text("new")),
        "revoke": b.revoke(BOB, "T"),
        "poll": b.poll("Q?", ["a", "b"]),
    }
    got = {k: event_json(FakeMessage("M", BOB, BOB, when, m)) for k, m in kinds.items()}
    assert got["reaction"]["reaction"] == {"target": "T", "emoji": "", "removed": True}
    assert got["edit"]["edit"] == {"target": "T", "text": "new"}
    assert got["revoke"]["revoke"] == {"target": "T", "by_admin": False}
    assert got["poll"]["poll"] == {"name": "Q?", "options": ["a", "b"], "selectable": 1}
    for name, out in got.items():
        assert out["kind"] == name
        json.dumps(out)


def test_event_json_of_other_events() -> None:
    out = event_json(LoggedOut(LogoutReason.LOGGED_OUT, on_connect=True))
    assert out == {"event": "LoggedOut", "reason": 401, "on_connect": True}
