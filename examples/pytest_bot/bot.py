"""The bot under test: it answers ``!ping`` with ``pong`` (quoting the question) and keeps
a to-do list per chat (``!todo <item>`` adds, ``!todo`` lists)."""

from __future__ import annotations

from collections import defaultdict

from wamd.client import Client
from wamd.messaging import Message


def make_bot(client: Client) -> dict[str, list[str]]:
    """Register the handlers on ``client``; returns the to-do lists (by chat) for tests."""
    todos: dict[str, list[str]] = defaultdict(list)

    @client.on(Message)
    async def answer(evt: Message) -> None:
        if evt.from_me or not evt.text:
            return
        text = evt.text.strip()
        if text == "!ping":
            await client.send_text(evt.chat, "pong", quote=evt)
        elif text == "!todo":
            items = todos[str(evt.chat)]
            listing = "\n".join(f"{n}. {item}" for n, item in enumerate(items, 1))
            await client.send_text(evt.chat, listing or "nothing to do")
        elif text.startswith("!todo "):
            todos[str(evt.chat)].append(text.removeprefix("!todo ").strip())
            await client.react(evt, "✅")

    return todos
