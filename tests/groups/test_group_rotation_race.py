"""A sender-key rotation landing between a group send's encryption and its server ack.

The send records the devices that got our sender key only after the ack; a member's removal
(the notice's receive transaction drops our key) and a further send that starts the next
key can both happen in between. The late record must not claim those devices hold the new
key: the next message must carry it to every remaining device, without a retry receipt.
The interleaving is forced by holding the first message at the sandbox (no timing).

With one rotation, the removal's ``rotate`` mark would still make the next send start over;
with a second, refused send in between (it started the next key and cleared the mark) a late
record would leave the remaining devices without the key until retry receipts heal them.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.groups.conftest import Member, pair, text
from tests.groups.test_group_messages import own_sender_key, pairwise_targets, skdm_holders
from wamd.binary import Node
from wamd.errors import SendError
from wamd.groups.send import key_generation
from wamd.sandbox import Sandbox
from wamd.sandbox.groups import group_server_of
from wamd.sandbox.session import Session

A, B, C = "15550011", "15550012", "15550013"


class Gate:
    """Wraps the sandbox's group fan-out: messages with a held id wait until released,
    messages with a refused id get ``<ack error=500>``, the rest pass (and are recorded)."""

    def __init__(self, sandbox: Sandbox) -> None:
        fanout = group_server_of(sandbox).messages
        assert fanout is not None
        self._original = fanout.on_message
        self.held: dict[str, tuple[Session, Node]] = {}
        self.hold: set[str] = set()
        self.refuse: set[str] = set()
        self.passed: list[Node] = []
        self._arrived = asyncio.Event()
        fanout.on_message = self._spy  # type: ignore[method-assign]

    async def _spy(self, session: Session, node: Node) -> None:
        msg_id = str(node.attrs.get("id", ""))
        if msg_id in self.hold:
            self.held[msg_id] = (session, node)
            self._arrived.set()
        elif msg_id in self.refuse:
            to = node.attrs.get("to", "")
            await session.send(
                Node("ack", {"id": msg_id, "class": "message", "from": to, "error": "500"})
            )
        else:
            self.passed.append(node)
            await self._original(session, node)

    async def arrived(self, msg_id: str) -> Node:
        async with asyncio.timeout(10):
            while msg_id not in self.held:
                self._arrived.clear()
                await self._arrived.wait()
        return self.held[msg_id][1]

    async def release(self, msg_id: str) -> None:
        """Deliver the held message now and ack it to its sender."""
        session, node = self.held.pop(msg_id)
        self.passed.append(node)
        await self._original(session, node)


@pytest.mark.parametrize("rotations", [1, 2])
async def test_rotation_between_encrypt_and_ack(sandbox: Sandbox, rotations: int) -> None:
    gate = Gate(sandbox)
    a, c = await pair(sandbox, A), await pair(sandbox, C)
    b1, b2 = await pair(sandbox, B), await pair(sandbox, B)
    everyone: list[Member] = [a, b1, b2, c]
    try:
        info = await a.client.create_group("race", [b1.pn, c.pn])
        gid = info.jid
        for member in everyone:
            await member.wait(lambda m=member: bool(m.joined))  # type: ignore[misc]

        # 1. A's first message (the sender key goes to every device) is held at the server:
        # encrypted and sent, its ack (and so the holders' record) still outstanding.
        gate.hold.add("RACE-1")
        first = asyncio.create_task(a.client.send_message(gid, text("one"), id="RACE-1"))
        held = await gate.arrived("RACE-1")
        got_key = pairwise_targets(held)
        assert len(got_key) == 6  # the phones of A, B, C; B's two devices, C's device
        old_key = key_generation(await own_sender_key(a, gid))
        assert old_key is not None

        # 2. C leaves: A's receive transaction drops its sender key and marks the rotation.
        await c.client.groups.leave(gid)
        await a.change(lambda ch: bool(ch.removed))
        assert await own_sender_key(a, gid) is None

        if rotations == 2:
            # 3. Another message starts the next key (to every remaining device) but the
            # server refuses it: nobody got the new key.
            gate.refuse.add("RACE-2")
            with pytest.raises(SendError):
                await a.client.send_message(gid, text("two"), id="RACE-2")
            new_key = key_generation(await own_sender_key(a, gid))
            assert new_key not in (None, old_key)
            assert await skdm_holders(a, gid) == set()

        # 4. Now the first message's ack: its recipients got the old key only, so they are
        # not recorded as holders of the current one.
        await gate.release("RACE-1")
        await first
        assert await skdm_holders(a, gid) == set()
        for member in (b1, b2):  # the first message itself is readable (old key, pairwise)
            await member.wait(lambda m=member: "one" in m.texts(gid))  # type: ignore[misc]

        # 5. The next message carries the current key to every remaining device, and each
        # reads it without a retry receipt.
        third = await a.client.send_message(gid, text("three"))
        remaining = {str(d) for d in third.recipients}
        assert len(remaining) == 4  # the phones of A and B, B's two devices
        assert pairwise_targets(gate.passed[-1]) == remaining
        assert not any(t.startswith(C) or c.lid.user in t for t in remaining)
        for member in (b1, b2):
            await member.wait(lambda m=member: "three" in m.texts(gid))  # type: ignore[misc]
            assert member.texts(gid).count("three") == 1
        assert a.client.messaging.retry.resent == 0
        assert await skdm_holders(a, gid) == {d.signal_address for d in third.recipients}
        assert "three" not in c.texts(gid)
    finally:
        for member in everyone:
            await member.client.close()
