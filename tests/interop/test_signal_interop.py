"""wamd's Signal implementation against npm libsignal@6.0.0 (1:1) and Baileys rc14's sender
keys (libsignal-node has none), both driven in a Node subprocess (signal_peer.mjs)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wamd.crypto import KeyPair
from wamd.errors import UntrustedIdentity
from wamd.signal import (
    PreKeyBundle,
    SignalCipher,
    TrustPolicy,
    generate_prekeys,
    generate_registration_id,
    generate_signed_prekey,
    unpad,
)
from wamd.signal.memory import MemorySignalStore

pytestmark = pytest.mark.interop

GROUP = "120363000000000000@g.us"


class NodePeer:
    """A libsignal party in a long-lived Node process, spoken to in JSON lines."""

    def __init__(self, folder: Path) -> None:
        self.proc = subprocess.Popen(
            ["node", str(folder / "signal_peer.mjs")],
            cwd=folder,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._next = 0

    def call(self, cmd: str, **args: Any) -> Any:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self._next += 1
        self.proc.stdin.write(json.dumps({"id": self._next, "cmd": cmd, **args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"node peer died: {err}")
        answer = json.loads(line)
        assert answer["id"] == self._next
        if not answer["ok"]:
            raise RuntimeError(f"node peer {cmd} failed: {answer['error']}: {answer['message']}")
        return answer["result"]

    def bundle(self, *, prekey: bool = True) -> PreKeyBundle:
        b = self.call("bundle", prekey=prekey)
        return PreKeyBundle(
            registration_id=b["registration_id"],
            identity_key=bytes.fromhex(b["identity_key"]),
            signed_prekey_id=b["signed_prekey_id"],
            signed_prekey=bytes.fromhex(b["signed_prekey"]),
            signed_prekey_signature=bytes.fromhex(b["signed_prekey_signature"]),
            prekey_id=b.get("prekey_id"),
            prekey=bytes.fromhex(b["prekey"]) if "prekey" in b else None,
        )

    def encrypt(self, address: str, plaintexts: list[bytes]) -> list[tuple[str, bytes]]:
        out = self.call("encrypt", address=address, plaintexts=[p.hex() for p in plaintexts])
        return [(m["type"], bytes.fromhex(m["body"])) for m in out]

    def decrypt(self, address: str, items: list[tuple[str, bytes]]) -> list[bytes]:
        out = self.call(
            "decrypt", address=address, items=[{"type": t, "body": b.hex()} for t, b in items]
        )
        for result in out:
            if "error" in result:
                raise AssertionError(f"libsignal could not decrypt: {result}")
        return [bytes.fromhex(r["plaintext"]) for r in out]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def peer(node_peers: Path) -> Iterator[NodePeer]:
    p = NodePeer(node_peers)
    yield p
    p.close()


class WamdParty:
    """wamd's side: a cipher over an in-memory store, committing after every operation."""

    def __init__(self, *, trust: TrustPolicy = TrustPolicy.ACCEPT, padding: bool = False) -> None:
        self.identity = KeyPair.generate()
        self.registration_id = generate_registration_id()
        self.store = MemorySignalStore()
        self.signed = generate_signed_prekey(self.identity, 1)
        self.store.add_signed_prekey(self.signed)
        self.prekeys = generate_prekeys(1, 20)
        self.store.add_prekeys(self.prekeys)
        self.cipher = SignalCipher(
            self.identity, self.registration_id, trust=trust, padding=padding
        )

    def bundle(self, prekey_index: int | None = 0) -> dict[str, Any]:
        out: dict[str, Any] = {
            "registration_id": self.registration_id,
            "identity_key": self.identity.public.hex(),
            "signed_prekey_id": self.signed.key_id,
            "signed_prekey": self.signed.key_pair.public.hex(),
            "signed_prekey_signature": self.signed.signature.hex(),
        }
        if prekey_index is not None:
            pk = self.prekeys[prekey_index]
            out["prekey_id"] = pk.key_id
            out["prekey"] = pk.key_pair.public.hex()
        return out

    def run(self, coro: Any) -> Any:
        return asyncio.run(coro)

    async def _encrypt(self, address: str, plaintexts: list[bytes]) -> list[tuple[str, bytes]]:
        batch = self.cipher.batch(self.store)
        out = []
        for p in plaintexts:
            r = await batch.encrypt(address, p)
            out.append((r.enc_type, r.ciphertext))
        await batch.commit(self.store)
        return out

    def encrypt(self, address: str, plaintexts: list[bytes]) -> list[tuple[str, bytes]]:
        return self.run(self._encrypt(address, plaintexts))  # type: ignore[no-any-return]

    async def _decrypt(self, address: str, items: list[tuple[str, bytes]]) -> list[bytes]:
        out = []
        for enc_type, body in items:
            batch = self.cipher.batch(self.store)
            result = await batch.decrypt(address, enc_type, body)
            await batch.commit(self.store)
            out.append(result.plaintext)
        return out

    def decrypt(self, address: str, items: list[tuple[str, bytes]]) -> list[bytes]:
        return self.run(self._decrypt(address, items))  # type: ignore[no-any-return]

    def process_bundle(self, address: str, bundle: PreKeyBundle) -> None:
        async def go() -> None:
            batch = self.cipher.batch(self.store)
            await batch.process_bundle(address, bundle)
            await batch.commit(self.store)

        self.run(go())


def payloads(tag: str, n: int) -> list[bytes]:
    return [f"{tag}-{i}-".encode() + os.urandom(random.randrange(0, 90)) for i in range(n)]


def exchange(
    initiator: NodePeer | WamdParty,
    responder: NodePeer | WamdParty,
    to_responder: str,
    to_initiator: str,
) -> None:
    """pkmsgs until the first reply, then msgs both ways; every plaintext must come through."""
    first = payloads("a", 3)
    sent = initiator.encrypt(to_responder, first)
    assert [t for t, _ in sent] == ["pkmsg"] * 3
    assert responder.decrypt(to_initiator, sent) == first
    replies = payloads("b", 2)
    back = responder.encrypt(to_initiator, replies)
    assert [t for t, _ in back] == ["msg", "msg"]
    assert initiator.decrypt(to_responder, back) == replies
    more = payloads("c", 2)
    sent = initiator.encrypt(to_responder, more)
    assert [t for t, _ in sent] == ["msg", "msg"]
    assert responder.decrypt(to_initiator, sent) == more


# The 1:1 tests run on both implementations of the ratchet's symmetric step (signal_impl).
@pytest.mark.usefixtures("signal_impl")
@pytest.mark.parametrize("with_prekey", [True, False])
def test_wamd_initiates_from_libsignal_bundle(peer: NodePeer, with_prekey: bool) -> None:
    us = WamdParty()
    us.process_bundle("node.1", peer.bundle(prekey=with_prekey))
    exchange(us, peer, "node.1", "wamd.1")


@pytest.mark.usefixtures("signal_impl")
@pytest.mark.parametrize("with_prekey", [True, False])
def test_libsignal_initiates_from_wamd_bundle(peer: NodePeer, with_prekey: bool) -> None:
    us = WamdParty()
    peer.call("process_bundle", address="wamd.1", bundle=us.bundle(0 if with_prekey else None))
    exchange(peer, us, "wamd.1", "node.1")
    assert (us.prekeys[0].key_id in us.store.prekeys.data) is not with_prekey


InFlight = list[tuple[tuple[str, bytes], bytes]]


def deliver(rng: random.Random, queue: InFlight, to: NodePeer | WamdParty, sender: str) -> int:
    """Deliver a random prefix of ``queue`` in shuffled order; returns how many."""
    k = rng.randrange(1, len(queue) + 1)
    chunk, queue[:] = queue[:k], queue[k:]
    # libsignal-node needs the first pkmsg of a new session before anything else of it
    head = [c for c in chunk if c[0][0] == "pkmsg"][:1]
    rest = [c for c in chunk if c not in head]
    rng.shuffle(rest)
    chunk = head + rest
    assert to.decrypt(sender, [c for c, _ in chunk]) == [p for _, p in chunk]
    return len(chunk)


@pytest.mark.usefixtures("signal_impl")
@pytest.mark.parametrize("wamd_starts", [True, False])
def test_thousand_message_conversation(peer: NodePeer, wamd_starts: bool) -> None:
    """1,000 messages: both sides send while messages are in flight, batches are delivered
    shuffled, ratchet steps happen in both directions, and both sides reload their records."""
    rng = random.Random(4 if wamd_starts else 5)
    us = WamdParty()
    if wamd_starts:
        us.process_bundle("node.1", peer.bundle())
    else:
        peer.call("process_bundle", address="wamd.1", bundle=us.bundle())
    to_node: InFlight = []
    to_us: InFlight = []
    total = 0
    received = 0
    started = {"us": wamd_starts, "node": not wamd_starts}
    while total < 1000 or to_node or to_us:
        action = rng.randrange(4) if total < 1000 else rng.randrange(2, 4)
        if action == 0 and started["us"]:
            texts = payloads(f"w{total}", rng.randrange(1, 12))
            to_node.extend(zip(us.encrypt("node.1", texts), texts, strict=True))
            total += len(texts)
        elif action == 1 and started["node"]:
            texts = payloads(f"n{total}", rng.randrange(1, 12))
            to_us.extend(zip(peer.encrypt("wamd.1", texts), texts, strict=True))
            total += len(texts)
        elif action == 2 and to_node:
            received += deliver(rng, to_node, peer, "wamd.1")
            started["node"] = True
            if rng.random() < 0.2:
                peer.call("roundtrip_record", address="wamd.1")
        elif action == 3 and to_us:
            received += deliver(rng, to_us, us, "node.1")
            started["us"] = True
            if rng.random() < 0.2:
                us.cipher.clear_cache()  # the next batch parses the stored bytes again
    assert received == total >= 1000


def test_libsignal_sender_key_to_wamd(peer: NodePeer) -> None:
    """Baileys' sender keys (libsignal-node has none) as the sender, wamd as the receiver."""
    us = WamdParty()
    skdm = bytes.fromhex(peer.call("group_create", group=GROUP, sender="node.1"))
    texts = payloads("g", 80)
    ciphertexts = [
        bytes.fromhex(c)
        for c in peer.call(
            "group_encrypt", group=GROUP, sender="node.1", plaintexts=[t.hex() for t in texts]
        )
    ]

    async def receive() -> None:
        batch = us.cipher.batch(us.store)
        await batch.process_distribution(GROUP, "node.1", skdm)
        await batch.commit(us.store)
        order = list(range(len(texts)))
        random.Random(9).shuffle(order)
        for n, i in enumerate(order):
            batch = us.cipher.batch(us.store)
            result = await batch.decrypt("node.1", "skmsg", ciphertexts[i], group=GROUP)
            assert result.plaintext == texts[i]
            await batch.commit(us.store)
            if n % 50 == 0:
                us.cipher.clear_cache()

    asyncio.run(receive())


def test_wamd_sender_key_to_libsignal(peer: NodePeer) -> None:
    us = WamdParty()
    texts = payloads("g", 80)

    async def send() -> tuple[bytes, list[bytes]]:
        out = []
        skdm = b""
        for n, t in enumerate(texts):
            batch = us.cipher.batch(us.store)
            result = await batch.group_encrypt(GROUP, "wamd.1", t)
            await batch.commit(us.store)
            if n == 0:
                skdm = result.distribution
            out.append(result.ciphertext)
            if n % 70 == 0:
                us.cipher.clear_cache()
        return skdm, out

    skdm, ciphertexts = asyncio.run(send())
    peer.call("group_process", group=GROUP, sender="wamd.1", skdm=skdm.hex())
    order = list(range(len(texts)))
    random.Random(3).shuffle(order)
    results = peer.call(
        "group_decrypt", group=GROUP, sender="wamd.1", items=[ciphertexts[i].hex() for i in order]
    )
    assert [bytes.fromhex(r["plaintext"]) for r in results] == [texts[i] for i in order]


def test_padding_and_identity_change(node_peers: Path) -> None:
    """A reinstalled peer (new identity at the same address): ACCEPT reports the change and
    continues on a new session; REJECT raises UntrustedIdentity and keeps the old state."""
    accepting = WamdParty(padding=True)
    rejecting = WamdParty(trust=TrustPolicy.REJECT, padding=True)
    for us in (accepting, rejecting):
        first = NodePeer(node_peers)
        try:
            first.call("process_bundle", address="wamd.1", bundle=us.bundle(0))
            padded = [b"hello\x03\x03\x03"]
            assert us.decrypt("node.1", first.encrypt("wamd.1", padded)) == [b"hello"]
        finally:
            first.close()
        second = NodePeer(node_peers)
        try:
            second.call("process_bundle", address="wamd.1", bundle=us.bundle(1))
            (item,) = second.encrypt("wamd.1", [b"again\x01"])

            async def take(party: WamdParty, enc: tuple[str, bytes]) -> Any:
                batch = party.cipher.batch(party.store)
                result = await batch.decrypt("node.1", *enc)
                await batch.commit(party.store)
                return result

            if us is accepting:
                result = asyncio.run(take(us, item))
                assert result.plaintext == b"again"
                assert result.identity_change is not None
                assert result.identity_change.new == bytes.fromhex(
                    second.call("identity")["identity_key"]
                )
                back = us.encrypt("node.1", [b"welcome back"])
                (received,) = second.decrypt("wamd.1", back)
                assert unpad(received) == b"welcome back"
                assert 1 <= len(received) - len(b"welcome back") <= 15
            else:
                before = dict(us.store.sessions.data)
                with pytest.raises(UntrustedIdentity):
                    asyncio.run(take(us, item))
                assert us.store.sessions.data == before
        finally:
            second.close()
