"""A receiving wamd client for the kill -9 tests (run as a subprocess).

argv: store path, sandbox URL, root key (hex) [, expected count]. Every message is recorded
exactly once inside the transaction that finishes its inbox entry: a ``seen`` row under the
chat ``handled`` (a second record of the same id adds a ``dup-<id>@handled`` contact, an
undecryptable message an ``undecryptable-<id>@handled`` contact). Prints ``ready`` once
connected. With an expected count (the CPU benchmark) the handler only counts, and
``done <cpu seconds>`` is printed when that many messages were handled.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from wamd.client import Client
from wamd.conn.options import ServerInfo
from wamd.messaging import Message, UndecryptableMessage
from wamd.store import Contact, SeenMessage

HANDLED = "handled"


async def main(store: str, url: str, root_key: str, expected: str = "") -> None:
    # (the media host's CA, PEM, from the test that starts this process: history sync
    # downloads after pairing need it)
    media_ca = os.environ.get("WAMD_TEST_MEDIA_CA")
    server = ServerInfo(url=url, root_key=bytes.fromhex(root_key), media_ca=media_ca)
    client = Client(store, server=server)
    count = 0

    if expected:

        @client.on(Message)
        async def tally(evt: Message) -> None:
            nonlocal count
            count += 1
            if count == int(expected):
                if profiler is not None:
                    profiler.disable()
                    profiler.dump_stats(os.environ["WAMD_PROFILE"])
                print("done", time.process_time(), client.messaging.receiver.batches, flush=True)
    else:

        @client.on(Message)
        async def record(evt: Message) -> None:
            async with client.inbox_transaction(evt) as tx:
                if not await tx.seen.add(SeenMessage(HANDLED, "", evt.id)):
                    await tx.contacts.put(Contact(f"dup-{evt.id}@{HANDLED}", push_name="dup"))

    @client.on(UndecryptableMessage)
    async def lost(evt: UndecryptableMessage) -> None:
        account = client.device.account
        await account.contacts.put(
            Contact(f"undecryptable-{evt.id}@{HANDLED}", push_name=evt.reason[:200])
        )

    await client.connect()
    await client.wait_until_connected(timeout=30)
    profiler = None
    if expected and os.environ.get("WAMD_PROFILE"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    print("ready", time.process_time(), flush=True)
    await client.run_until_disconnected()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
