"""A receiving wamd client for the kill -9 tests (run as a subprocess).

argv: store path, sandbox URL, root key (hex). Every message is recorded exactly once inside
the transaction that finishes its inbox entry: a ``seen`` row under the chat ``handled``
(a second record of the same id adds a ``dup-<id>@handled`` contact, an undecryptable message
an ``undecryptable-<id>@handled`` contact). Prints ``ready`` once connected.
"""

from __future__ import annotations

import asyncio
import sys

from wamd.client import Client
from wamd.conn.options import ServerInfo
from wamd.messaging import Message, UndecryptableMessage
from wamd.store import Contact, SeenMessage

HANDLED = "handled"


async def main(store: str, url: str, root_key: str) -> None:
    client = Client(store, server=ServerInfo(url=url, root_key=bytes.fromhex(root_key)))

    @client.on(Message)
    async def record(evt: Message) -> None:
        async with client.inbox_transaction(evt) as tx:
            if not await tx.seen.add(SeenMessage(HANDLED, "", evt.id)):
                await tx.contacts.put(Contact(f"dup-{evt.id}@{HANDLED}", push_name="dup"))

    @client.on(UndecryptableMessage)
    async def lost(evt: UndecryptableMessage) -> None:
        account = client.device.account
        await account.contacts.put(Contact(f"undecryptable-{evt.id}@{HANDLED}",
                                           push_name=evt.reason[:200]))

    await client.connect()
    await client.wait_until_connected(timeout=30)
    print("ready", flush=True)
    await client.run_until_disconnected()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
