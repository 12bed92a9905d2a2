"""An echo bot on a sandbox: it answers every text with a quoted reply, reacts, counts poll
votes, and shows typing while it "thinks".

    .venv/bin/python examples/echo_bot.py

It starts an in-process sandbox (state in memory), links
the bot and a second "user" client through the sandbox's simulated phones, lets the user talk
to the bot, prints what each side sees, and exits. Point the bot half at real WhatsApp by
giving ``Client`` no ``server`` (and linking it with ``wamd login``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from wamd.client import Client
from wamd.messaging import Message
from wamd.messaging.polls import PollTally, PollVote
from wamd.sandbox import Sandbox
from wamd.sandbox.testing import pair, running_sandbox, server_info
from wamd.store import MemoryStore

BOT_PHONE = "15550000100"
USER_PHONE = "15550000200"


def make_bot(client: Client) -> None:
    """Register the bot's handlers on ``client``."""
    tallies: dict[str, PollTally] = {}

    @client.on(Message)
    async def echo(evt: Message) -> None:
        if evt.from_me:
            return
        if evt.kind == "poll":
            tallies[evt.id] = PollTally.of(evt.message)
            await client.vote(evt, [tallies[evt.id].options[0]])
            return
        if evt.text is None:
            return
        await client.mark_read(evt.chat, [evt.id], sender=evt.sender)
        await client.send_chat_presence(evt.chat, "composing")
        await asyncio.sleep(0.2)
        await client.send_chat_presence(evt.chat, "paused")
        await client.send_text(evt.chat, f"you said: {evt.text}", quote=evt)
        await client.react(evt, "🤖")

    @client.on(PollVote)
    def count(vote: PollVote) -> None:
        tally = tallies.get(vote.poll_id)
        if tally is not None:
            tally.add_vote(vote)
            print(f"[bot] poll {vote.poll_id}: {tally.counts()}")


@contextlib.asynccontextmanager
async def linked(sandbox: Sandbox, phone: str) -> AsyncIterator[Client]:
    client = Client(MemoryStore(), server=server_info(sandbox))
    try:
        await pair(sandbox, client, phone)
        yield client
    finally:
        await client.close()


async def conversation(sandbox: Sandbox) -> None:
    async with linked(sandbox, BOT_PHONE) as bot, linked(sandbox, USER_PHONE) as user:
        make_bot(bot)
        assert bot.jid is not None
        bot_chat = bot.jid.to_non_ad()
        replies: asyncio.Queue[Message] = asyncio.Queue()

        @user.on(Message)
        def show(evt: Message) -> None:
            quoted = evt.quoted
            if evt.reaction is not None:
                print(f"[user] the bot reacted {evt.reaction.emoji} to {evt.reaction.target_id}")
            elif evt.text is not None:
                print(f"[user] bot: {evt.text!r} (replying to {quoted.id if quoted else None})")
                replies.put_nowait(evt)
            elif evt.kind == "poll_vote":
                print("[user] the bot voted")

        sent = await user.send_text(bot_chat, "hello bot")
        print(f"[user] sent {sent.id}")
        async with asyncio.timeout(30):
            reply = await replies.get()
        assert reply.quoted is not None
        assert reply.quoted.id == sent.id
        poll = await user.send_poll(bot_chat, "Best language?", ["Python", "Go", "Rust"])
        got = await user.wait_for(PollVote, lambda v: v.poll_id == poll.id, timeout=30)
        print(f"[user] the bot chose {list(got.selected)}")
        await asyncio.sleep(0.5)


async def main() -> None:
    async with running_sandbox() as sandbox:
        await conversation(sandbox)


if __name__ == "__main__":
    asyncio.run(main())
