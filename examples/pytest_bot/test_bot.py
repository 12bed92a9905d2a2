"""Testing a bot against the wamd sandbox with pytest: no phone, no network.

    cd examples/pytest_bot && ../../.venv/bin/python -m pytest -q

What it shows:

* the ``wamd.sandbox.testing`` pytest plugin (enabled in ``conftest.py``):
  ``wamd_client_factory(phone)`` returns a client paired with that sandbox account and
  connected; the sandbox (``wamd_sandbox``) and the clients are closed after each test;
* driving the bot from a second "user" client and waiting for its answers with
  ``client.wait_for(event_type, predicate, timeout=...)`` (start waiting before you send);
* checking what arrived: text, quoted message, reactions, the bot's own state.

This folder stands for your project: ``pytest.ini`` sets ``asyncio_mode = auto``
(pytest-asyncio runs the ``async def`` tests), ``conftest.py`` enables the plugin and
``bot.py`` is the bot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot import make_bot

from wamd.client import Client
from wamd.messaging import Message

BOT, USER = "15550000601", "15550000602"
Factory = Callable[[str], Awaitable[Client]]


async def bot_and_user(factory: Factory) -> tuple[Client, Client, dict[str, list[str]]]:
    bot = await factory(BOT)
    user = await factory(USER)
    return bot, user, make_bot(bot)


async def test_ping_gets_a_quoted_pong(wamd_client_factory: Factory) -> None:
    bot, user, _ = await bot_and_user(wamd_client_factory)
    assert bot.jid is not None
    answer = asyncio.ensure_future(user.wait_for(Message, lambda m: m.text == "pong", timeout=30))
    sent = await user.send_text(bot.jid.to_non_ad(), "!ping")
    pong = await answer
    assert pong.quoted is not None
    assert pong.quoted.id == sent.id


async def test_todo_items_are_acknowledged_and_listed(wamd_client_factory: Factory) -> None:
    bot, user, todos = await bot_and_user(wamd_client_factory)
    assert bot.jid is not None
    to_bot = bot.jid.to_non_ad()
    for item in ("buy milk", "write tests"):
        reacted = asyncio.ensure_future(
            user.wait_for(Message, lambda m: m.reaction is not None, timeout=30)
        )
        sent = await user.send_text(to_bot, f"!todo {item}")
        reaction = (await reacted).reaction
        assert reaction is not None
        assert (reaction.target_id, reaction.emoji) == (sent.id, "✅")
    listing = asyncio.ensure_future(
        user.wait_for(Message, lambda m: (m.text or "").startswith("1."), timeout=30)
    )
    await user.send_text(to_bot, "!todo")
    assert (await listing).text == "1. buy milk\n2. write tests"
    assert list(todos.values()) == [["buy milk", "write tests"]]


async def test_the_bot_ignores_other_texts(wamd_client_factory: Factory) -> None:
    bot, user, todos = await bot_and_user(wamd_client_factory)
    assert bot.jid is not None
    answers: list[Message] = []
    user.on(Message)(answers.append)
    got = asyncio.ensure_future(bot.wait_for(Message, lambda m: m.text == "hello", timeout=30))
    await user.send_text(bot.jid.to_non_ad(), "hello")
    await got
    await asyncio.sleep(0.3)  # room for a wrong answer to arrive
    assert answers == []
    assert not todos
