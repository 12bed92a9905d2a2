"""A group member for the kill -9 tests of group notifications and receipts (a subprocess).

argv: store (``sqlite:PATH`` or ``postgres:DSN#SCHEMA``), sandbox URL, root key (hex).
Every :class:`~wamd.groups.GroupInfoChanged`, :class:`~wamd.groups.JoinedGroup` and
:class:`~wamd.messaging.Receipt` is recorded exactly once, inside the transaction that
finishes its inbox entry: a ``seen`` row under the chat ``handled`` (sender: what the event
says, id: the stanza's id, or the receipt's message id). A second record of the same event
adds a ``dup-<id>@handled`` contact. Prints ``ready`` once connected; then reads commands
from stdin: ``send <group> <text>`` sends a group message and prints ``sent <id>``.
"""

from __future__ import annotations

import asyncio
import os
import sys

from wamd.client import Client
from wamd.conn.options import ServerInfo
from wamd.groups import GroupInfoChanged, JoinedGroup
from wamd.messaging import Receipt
from wamd.proto import e2e_pb2
from wamd.store import Contact, SeenMessage, Store
from wamd.types import JID

HANDLED = "handled"


def describe(evt: GroupInfoChanged | JoinedGroup | Receipt) -> tuple[str, str]:
    """(what the event says, its id) as recorded."""
    if isinstance(evt, Receipt):
        return f"receipt:{evt.type}:{evt.sender}", evt.ids[0]
    assert evt.raw is not None
    stanza_id = str(evt.raw.attrs.get("id", ""))
    if isinstance(evt, JoinedGroup):
        return "joined", stanza_id
    parts = [*evt.changes]
    for name in ("added", "removed", "promoted", "demoted"):
        for p in getattr(evt, name):
            parts.append(f"{name}={p.jid.user}")
    if evt.subject is not None:
        parts.append(f"subject={evt.subject}")
    return "group:" + ",".join(sorted(parts)), stanza_id


async def open_store(spec: str) -> Store:
    kind, _, where = spec.partition(":")
    if kind == "sqlite":
        from wamd.store.sqlite import SQLiteStore

        return await SQLiteStore.open(where)
    from wamd.store.postgres import PostgresStore

    dsn, _, schema = where.partition("#")
    return await PostgresStore.connect(dsn, schema=schema)


async def main(spec: str, url: str, root_key: str) -> None:
    store = await open_store(spec)
    # (the media host's CA, PEM, from the test that starts this process: history sync
    # downloads after pairing need it)
    media_ca = os.environ.get("WAMD_TEST_MEDIA_CA")
    server = ServerInfo(url=url, root_key=bytes.fromhex(root_key), media_ca=media_ca)
    client = Client(store, server=server)

    async def record(evt: GroupInfoChanged | JoinedGroup | Receipt) -> None:
        what, stanza_id = describe(evt)
        async with client.inbox_transaction(evt) as tx:
            if not await tx.seen.add(SeenMessage(HANDLED, what, stanza_id)):
                await tx.contacts.put(Contact(f"dup-{stanza_id}@{HANDLED}", push_name=what))

    client.on(GroupInfoChanged)(record)
    client.on(JoinedGroup)(record)
    client.on(Receipt)(record)
    await client.connect()
    await client.wait_until_connected(timeout=30)
    print("ready", flush=True)
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip().split(maxsplit=2):
        if line[0] == "send":
            result = await client.send_message(
                JID.parse(line[1]), e2e_pb2.Message(conversation=line[2])
            )
            print("sent", result.id, flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
