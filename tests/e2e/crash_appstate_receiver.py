"""A device of an account for the kill -9 test of app-state sync (a subprocess).

argv: store (``sqlite:PATH`` or ``postgres:DSN#SCHEMA``), sandbox URL, root key (hex), the
file of the CA of the sandbox's media host (snapshots are blobs there).
Every app-state change the test makes (an index naming :data:`MARK`) is recorded exactly once,
inside the transaction that finishes its inbox entry: a ``seen`` row under the chat
``handled`` (sender ``appstate``, id: :func:`describe`). A second record of the same change
adds a ``dup-<seq>@handled`` contact; one first recorded from a redelivery also gets a row with
the sender ``redelivered``. The handler first sleeps a little, so that kills land
between the commit of a sync and the end of its handlers too. Prints ``ready`` once connected.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
from pathlib import Path

if not __package__:  # run as a script: the repository root makes ``tests`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.e2e.crash_group_receiver import HANDLED, open_store
from wamd.appstate import events as ev
from wamd.client import Client
from wamd.conn.options import ServerInfo
from wamd.store import Contact, SeenMessage

MARK = "crash"
"""In the index of every change the test makes (label ids, chat and contact users)."""


def describe(evt: ev.MutationEvent) -> str:
    """What a change says: its event type and index (each change of the test has its own)."""
    return f"{type(evt).__name__}:{'|'.join(evt.mutation.index)}"


def ours(evt: ev.AppStateEvent) -> bool:
    """A change the test made."""
    return isinstance(evt, ev.MutationEvent) and any(MARK in p for p in evt.mutation.index)


async def main(spec: str, url: str, root_key: str, media_ca: str) -> None:
    """Run the device (``media_ca``: the CA's PEM text)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    store = await open_store(spec)
    server = ServerInfo(url=url, root_key=bytes.fromhex(root_key), media_ca=media_ca)
    client = Client(store, server=server)

    async def record(evt: ev.MutationEvent) -> None:
        await asyncio.sleep(random.uniform(0, 0.05))
        what = describe(evt)
        async with client.inbox_transaction(evt) as tx:
            if not await tx.seen.add(SeenMessage(HANDLED, "appstate", what)):
                await tx.contacts.put(Contact(f"dup-{evt.seq}@{HANDLED}", push_name=what))
            elif evt.redelivered:  # its first dispatch was cut by a kill
                await tx.seen.add(SeenMessage(HANDLED, "redelivered", what))

    client.on(ev.MutationEvent, ours)(record)
    await client.connect()
    await client.wait_until_connected(timeout=30)
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4], Path(sys.argv[4]).read_text()))
