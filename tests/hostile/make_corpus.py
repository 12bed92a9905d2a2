"""Record what a sandbox sends a wamd client during ordinary use (pairing, login, messages,
receipts, groups, media, users, app state): the seed corpus of the mutation fuzz tests.

Run ``python -m tests.hostile.make_corpus`` to regenerate ``corpus.bin`` (each node encoded
with wamd's codec, 4-byte length prefixed). The nodes are the sandbox's own output; nothing
in them is secret (throwaway keys of a throwaway in-memory sandbox).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from pathlib import Path

from wamd.binary import Node, decode_node, encode_node
from wamd.client import Client
from wamd.conn.connection import Connection
from wamd.errors import IQError
from wamd.proto import e2e_pb2
from wamd.sandbox.testing import pair, running_sandbox, server_info
from wamd.store import MemoryStore

CORPUS = Path(__file__).with_name("corpus.bin")


def load_corpus() -> list[Node]:
    """The recorded nodes."""
    data = CORPUS.read_bytes()
    nodes, pos = [], 0
    while pos < len(data):
        (size,) = struct.unpack_from(">I", data, pos)
        nodes.append(decode_node(data[pos + 4 : pos + 4 + size]))
        pos += 4 + size
    return nodes


async def record() -> list[Node]:
    seen: list[Node] = []
    original = Connection.receive_node

    async def recording(self: Connection) -> Node:
        node = await original(self)
        seen.append(decode_node(encode_node(node)))
        return node

    Connection.receive_node = recording  # type: ignore[method-assign]
    try:
        async with running_sandbox() as sandbox:
            a = Client(MemoryStore(), server=server_info(sandbox))
            b = Client(MemoryStore(), server=server_info(sandbox))
            try:
                await pair(sandbox, a, "15550100001")
                await pair(sandbox, b, "15550100002")
                assert a.jid is not None
                assert b.jid is not None
                await a.send_message(b.jid.to_non_ad(), e2e_pb2.Message(conversation="hi"))
                await b.send_message(a.jid.to_non_ad(), e2e_pb2.Message(conversation="yo"))
                group = await a.create_group("g", [b.jid.to_non_ad()])
                await a.send_message(group.jid, e2e_pb2.Message(conversation="to the group"))
                await b.send_message(group.jid, e2e_pb2.Message(conversation="back"))
                await a.get_group_info(group.jid)
                await a.get_joined_groups()
                await a.set_group_subject(group.jid, "renamed")
                await a.get_group_invite_link(group.jid)
                await a.update_group_participants(group.jid, [b.jid.to_non_ad()], "promote")
                sent = await a.send_image(b.jid.to_non_ad(), b"\xff\xd8\xff" + b"x" * 2000)
                del sent
                from wamd.users.client import UsersClient

                users = UsersClient(a, a.device.account)
                await users.is_on_whatsapp(["15550100002", "15550100009"])
                await users.user_info([b.jid.to_non_ad()])
                await users.privacy()
                await users.blocklist()
                for query in (
                    users.profile_picture(b.jid.to_non_ad()),
                    users.business_profile(b.jid.to_non_ad()),
                ):
                    with contextlib.suppress(IQError):
                        await query
                await asyncio.sleep(1)
                await a.messaging.idle()
                await b.messaging.idle()
            finally:
                await a.close()
                await b.close()
    finally:
        Connection.receive_node = original  # type: ignore[method-assign]
    return seen


def main() -> None:
    nodes = asyncio.run(record())
    out = bytearray()
    for node in nodes:
        data = encode_node(node)
        out += struct.pack(">I", len(data)) + data
    CORPUS.write_bytes(bytes(out))
    tags: dict[str, int] = {}
    for node in nodes:
        tags[node.tag] = tags.get(node.tag, 0) + 1
    print(f"{len(nodes)} nodes, {len(out)} bytes: {tags}")


if __name__ == "__main__":
    main()
