"""A group-management bot: it creates a group, runs ``!add`` / ``!remove`` / ``!promote``
commands its members type, and greets people who join and says goodbye to people who leave.

    .venv/bin/python examples/group_bot.py

What it shows:

* ``client.create_group`` and ``client.update_group_participants`` (add, remove, promote);
* ``GroupInfoChanged`` events (who was added, removed, promoted, who left by themselves)
  and ``JoinedGroup`` (this account was put into a group);
* sending into a group with an ``@mention`` (``mentions=[jid]``, ``@<number>`` in the text).

It starts an in-process sandbox (state in memory) and links four clients through its simulated
phones: the bot and three people, Alice, Bob and Carol. Alice asks the bot to add Bob, then to
promote him; Bob leaves; Alice asks the bot to remove Carol. Each person prints what they see.
The bot half works unchanged against WhatsApp: build its ``Client`` without ``server`` and link
it once with ``wamd login``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from wamd.client import Client
from wamd.groups import GroupInfoChanged, JoinedGroup, ParticipantAction
from wamd.messaging import Message
from wamd.sandbox import Sandbox
from wamd.sandbox.testing import paired_client, running_sandbox
from wamd.types import JID, USER_SERVER

BOT, ALICE, BOB, CAROL = "15550000301", "15550000302", "15550000303", "15550000304"
COMMANDS = {
    "!add": ParticipantAction.ADD,
    "!remove": ParticipantAction.REMOVE,
    "!promote": ParticipantAction.PROMOTE,
}


def make_group_bot(client: Client) -> None:
    """Register the bot's handlers on ``client``: commands in groups, greetings."""

    @client.on(Message)
    async def command(evt: Message) -> None:
        if evt.from_me or not evt.is_group or not evt.text:
            return
        words = evt.text.split()
        action = COMMANDS.get(words[0])
        if action is None or len(words) != 2 or not words[1].lstrip("+").isdigit():
            return
        who = JID(words[1].lstrip("+"), USER_SERVER)
        results = await client.update_group_participants(evt.chat, [who], action)
        if not all(r.ok for r in results):
            errors = ", ".join(str(r.error) for r in results)
            await client.send_text(evt.chat, f"{action} failed: {errors}", quote=evt)

    @client.on(GroupInfoChanged)
    async def greet(change: GroupInfoChanged) -> None:
        for person in change.added:
            await say_to(client, change.group, "Welcome, {}!", person.phone_number or person.jid)
        for person in change.promoted:
            await say_to(client, change.group, "{} is an admin now.", person.phone_number)
        if change.left:
            for person in change.removed:
                await say_to(client, change.group, "Goodbye, {}!", person.phone_number)


async def say_to(client: Client, group: JID, template: str, who: JID | None) -> None:
    """Send ``template`` into ``group`` with ``who`` mentioned in place of ``{}``."""
    if who is None:
        return
    await client.send_text(group, template.format(f"@{who.user}"), mentions=[who.to_non_ad()])


def watch(name: str, client: Client, texts: asyncio.Queue[str], names: dict[str, str]) -> None:
    """Print what ``name`` sees (senders by their ``names``, keyed by phone number or LID
    user); queue the group texts."""

    @client.on(JoinedGroup)
    def joined(evt: JoinedGroup) -> None:
        print(f"[{name}] I am in the group {evt.group.subject!r} now")

    @client.on(Message)
    def show(evt: Message) -> None:
        if evt.is_group and evt.text:
            print(f"[{name}] {names.get(evt.sender.user, evt.sender.user)}: {evt.text}")
            texts.put_nowait(evt.text)


async def expect(texts: asyncio.Queue[str], wanted: str) -> None:
    """Wait (at most 30 s) until a group text containing ``wanted`` arrives."""
    async with asyncio.timeout(30):
        while wanted not in await texts.get():
            pass


@contextlib.asynccontextmanager
async def people(sandbox: Sandbox) -> AsyncIterator[list[Client]]:
    """The bot, Alice, Bob and Carol, each linked and connected."""
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(paired_client(sandbox, phone))
            for phone in (BOT, ALICE, BOB, CAROL)
        ]


async def main() -> None:
    async with running_sandbox() as sandbox, people(sandbox) as (bot, alice, bob, carol):
        make_group_bot(bot)
        names = {}
        for name, client in zip(
            ("bot", "alice", "bob", "carol"), (bot, alice, bob, carol), strict=True
        ):
            names.update({jid.user: name for jid in (client.jid, client.lid) if jid})
        seen = {name: asyncio.Queue[str]() for name in ("alice", "bob", "carol")}
        for name, client in zip(seen, (alice, bob, carol), strict=True):
            watch(name, client, seen[name], names)

        group = await bot.create_group(
            "wamd book club", [JID(ALICE, USER_SERVER), JID(CAROL, USER_SERVER)]
        )
        print(f"[bot] created {group.jid} with {len(group.participants)} members")
        await alice.send_text(group.jid, f"!add +{BOB}")
        await expect(seen["bob"], f"Welcome, @{BOB}!")
        await alice.send_text(group.jid, f"!promote +{BOB}")
        await expect(seen["alice"], f"@{BOB} is an admin now.")
        await bob.leave_group(group.jid)
        await expect(seen["alice"], f"Goodbye, @{BOB}!")
        await alice.send_text(group.jid, f"!remove +{CAROL}")
        info = None
        async with asyncio.timeout(30):
            while info is None or any(
                p.is_user(JID(CAROL, USER_SERVER)) for p in info.participants
            ):
                await asyncio.sleep(0.1)
                info = await bot.get_group_info(group.jid)
        members = sorted(p.phone_number.user for p in info.participants if p.phone_number)
        print(f"[bot] members now: {members}")


if __name__ == "__main__":
    asyncio.run(main())
