"""A gateway (bridge) sketch: an HTTP endpoint on loopback sends WhatsApp messages, and every
incoming message is written to stdout as one JSON line, for another program to consume.

    .venv/bin/python examples/gateway.py

    POST http://127.0.0.1:PORT/send   {"to": "+15550000502", "text": "hello"}
      -> 200 {"id": "3EB0...", "to": "15550000502@s.whatsapp.net", "timestamp": 1764300000}
      -> 400 {"error": "..."} for a bad body or recipient, 502 when the send failed
    stdout: {"event": "message", "id": "...", "chat": "...", "sender": "...", "text": "..."}

What it shows:

* wiring a ``Client`` into an aiohttp server: the handler awaits ``client.send_text`` and
  maps wamd's typed errors (``wamd.errors``) to HTTP statuses;
* a message handler that turns ``Message`` events into JSON lines;
* binding to 127.0.0.1 only: the endpoint has no authentication, keep it off the network.

Run as is, it starts an in-process sandbox (state in memory), links the gateway and a user
through the sandbox's simulated phones, serves on a free loopback port, posts one message to
the user through the endpoint, has the user answer, prints the answer's JSON line, and shows a
refused request. For real use, build the gateway's ``Client`` without ``server`` (link it once
with ``wamd login``), call ``serve(client, port=8080)`` and let it run.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from typing import Any

import aiohttp
from aiohttp import web

from wamd.client import Client
from wamd.errors import InvalidJID, WamdError
from wamd.messaging import Message
from wamd.sandbox.testing import paired_client, running_sandbox
from wamd.types import JID, USER_SERVER

GATEWAY_PHONE = "15550000501"
USER_PHONE = "15550000502"
MAX_BODY = 64 * 1024


def recipient(text: str) -> JID:
    """A JID (``...@s.whatsapp.net``, ``...@g.us``) or a phone number in international format
    (``+15550000502``); raises :class:`ValueError` (or :class:`~wamd.errors.InvalidJID`)."""
    if "@" in text:
        return JID.parse(text)
    number = text.removeprefix("+")
    if not number.isdigit():
        raise ValueError(f"not a JID nor a phone number: {text!r}")
    return JID(number, USER_SERVER)


def make_app(client: Client) -> web.Application:
    """The HTTP side: ``POST /send`` with ``{"to", "text"}``."""

    async def send(request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
            to, text = recipient(str(body["to"])), body["text"]
            if not isinstance(text, str) or not text:
                raise ValueError("text must be a non-empty string")
        except (ValueError, KeyError, TypeError, InvalidJID) as exc:
            return web.json_response({"error": f"bad request: {exc}"}, status=400)
        try:
            result = await client.send_text(to, text)
        except WamdError as exc:
            return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=502)
        stamp = int(result.timestamp.timestamp())
        return web.json_response({"id": result.id, "to": str(to), "timestamp": stamp})

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post("/send", send)
    return app


def forward_messages(client: Client) -> None:
    """Write every incoming message to stdout as one JSON line."""

    @client.on(Message)
    def to_json(evt: Message) -> None:
        if evt.from_me:
            return
        line: dict[str, Any] = {
            "event": "message",
            "id": evt.id,
            "chat": str(evt.chat),
            "sender": str(evt.sender),
            "kind": evt.kind,
            "text": evt.text,
            "timestamp": int(evt.timestamp.timestamp()),
        }
        if evt.quoted is not None:
            line["quoted"] = evt.quoted.id
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
        sys.stdout.flush()


async def serve(client: Client, port: int = 0) -> tuple[web.AppRunner, int]:
    """Start the endpoint on 127.0.0.1 (``port`` 0: a free one); returns the runner (stop it
    with ``await runner.cleanup()``) and the port."""
    forward_messages(client)
    runner = web.AppRunner(make_app(client))
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", port))
    await web.SockSite(runner, sock).start()
    bound: int = sock.getsockname()[1]
    return runner, bound


async def main() -> None:
    async with (
        running_sandbox() as sandbox,
        paired_client(sandbox, GATEWAY_PHONE) as gateway,
        paired_client(sandbox, USER_PHONE) as user,
    ):
        runner, port = await serve(gateway)
        url = f"http://127.0.0.1:{port}/send"
        print(f"# gateway listening on {url}", file=sys.stderr)
        got: asyncio.Queue[Message] = asyncio.Queue()
        user.on(Message)(got.put_nowait)
        try:
            async with aiohttp.ClientSession() as http:
                body = {"to": f"+{USER_PHONE}", "text": "hello from HTTP"}
                async with http.post(url, json=body) as response:
                    answer = await response.json()
                print(f"# POST /send -> {response.status} {answer}", file=sys.stderr)
                async with asyncio.timeout(30):
                    incoming = await got.get()
                print(f"# the user got {incoming.text!r}", file=sys.stderr)
                assert gateway.jid is not None
                reached = asyncio.ensure_future(
                    gateway.wait_for(Message, lambda m: m.text == "hi gateway", timeout=30)
                )
                await user.send_text(gateway.jid.to_non_ad(), "hi gateway", quote=incoming)
                async with http.post(url, json={"to": "nobody", "text": "x"}) as response:
                    print(
                        f"# POST /send -> {response.status} {await response.json()}",
                        file=sys.stderr,
                    )
            await reached  # the user's answer is on the gateway's stdout by now
        finally:
            await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
