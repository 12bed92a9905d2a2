"""The Signal facade over wamd.store: purity, commit, caching, trust, batching, groups."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from wamd.crypto import KeyPair
from wamd.errors import DuplicateMessage, InvalidMessage, NoSession, UntrustedIdentity
from wamd.signal import (
    PreKeyBundle,
    SignalCipher,
    TrustPolicy,
    generate_prekeys,
    generate_registration_id,
    generate_signed_prekey,
)
from wamd.store import DeviceCredentials, MemoryStore, PreKey, SignedPreKey, StoredKeyPair
from wamd.store.interfaces import Account

# every test runs on both implementations of the ratchet's symmetric step (conftest)
pytestmark = pytest.mark.usefixtures("signal_impl")

GROUP = "123@g.us"


def stored(pair: KeyPair) -> StoredKeyPair:
    return StoredKeyPair(pair.public, pair.private)


@dataclass
class Device:
    account: Account
    cipher: SignalCipher
    identity: KeyPair
    registration_id: int
    signed: SignedPreKey
    prekeys: list[PreKey]

    def bundle(self, index: int | None = 0) -> PreKeyBundle:
        pk = self.prekeys[index] if index is not None else None
        return PreKeyBundle(
            self.registration_id,
            self.identity.public,
            self.signed.key_id,
            self.signed.key_pair.public,
            self.signed.signature,
            pk.key_id if pk else None,
            pk.key_pair.public if pk else None,
        )


async def new_device(store: MemoryStore, trust: TrustPolicy = TrustPolicy.ACCEPT) -> Device:
    identity = KeyPair.generate()
    registration_id = generate_registration_id()
    spk = generate_signed_prekey(identity, 3)
    signed = SignedPreKey(3, stored(spk.key_pair), spk.signature)
    creds = DeviceCredentials(
        noise_key=stored(KeyPair.generate()),
        identity_key=stored(identity),
        registration_id=registration_id,
        signed_prekey=signed,
        adv_secret_key=os.urandom(32),
    )
    account = await store.new_account(creds)
    await account.signed_prekeys.put(signed)
    prekeys = [PreKey(p.key_id, stored(p.key_pair)) for p in generate_prekeys(10, 5)]
    await account.prekeys.put_many(prekeys)
    cipher = SignalCipher(identity, registration_id, trust=trust)
    return Device(account, cipher, identity, registration_id, signed, prekeys)


async def send(dev: Device, address: str, plaintext: bytes) -> tuple[str, bytes]:
    batch = dev.cipher.batch(dev.account)
    result = await batch.encrypt(address, plaintext)
    with batch.committing():
        async with dev.account.transaction() as tx:
            await batch.commit(tx)
    return result.enc_type, result.ciphertext


async def receive(dev: Device, address: str, item: tuple[str, bytes]) -> Any:
    batch = dev.cipher.batch(dev.account)
    result = await batch.decrypt(address, *item)
    with batch.committing():
        async with dev.account.transaction() as tx:
            await batch.commit(tx)
    return result


async def pair(store: MemoryStore) -> tuple[Device, Device]:
    alice, bob = await new_device(store), await new_device(store)
    batch = alice.cipher.batch(alice.account)
    await batch.process_bundle("bob.1", bob.bundle())
    async with alice.account.transaction() as tx:
        await batch.commit(tx)
    return alice, bob


async def test_decrypt_is_pure_until_commit() -> None:
    store = MemoryStore()
    alice, bob = await pair(store)
    item = await send(alice, "bob.1", b"hello")
    assert item[0] == "pkmsg"
    batch = bob.cipher.batch(bob.account)
    result = await batch.decrypt("alice.1", *item)
    assert result.plaintext == b"hello"
    assert result.new_session
    assert result.consumed_prekey_id == 10
    # nothing written yet
    assert await bob.account.sessions.get("alice.1") is None
    assert await bob.account.prekeys.get(10) is not None
    assert await bob.account.identities.get("alice.1") is None
    assert batch.changes.consumed_prekeys == {10}
    # a failed decryption in the same batch changes neither the view nor the change set
    sessions_before = dict(batch.changes.sessions)
    with pytest.raises(InvalidMessage):
        await batch.decrypt("alice.1", "msg", b"\x33" + bytes(30))
    assert batch.changes.sessions == sessions_before
    async with bob.account.transaction() as tx:
        committed = await batch.commit(tx)
    assert not batch.changes
    assert set(committed.sessions) == {"alice.1"}
    assert await bob.account.sessions.get("alice.1") is not None
    assert await bob.account.prekeys.get(10) is None
    assert await bob.account.identities.get("alice.1") == alice.identity.public
    # the conversation goes on from the committed state
    reply = await send(bob, "alice.1", b"hi")
    assert reply[0] == "msg"
    assert (await receive(alice, "bob.1", reply)).plaintext == b"hi"
    with pytest.raises(DuplicateMessage):
        await receive(alice, "bob.1", reply)


async def test_uncommitted_work_is_forgotten() -> None:
    store = MemoryStore()
    alice, bob = await pair(store)
    item = await send(alice, "bob.1", b"first")
    batch = bob.cipher.batch(bob.account)
    assert (await batch.decrypt("alice.1", *item)).plaintext == b"first"
    # the batch is dropped (say the handler failed): the same ciphertext decrypts again later
    assert (await receive(bob, "alice.1", item)).plaintext == b"first"


async def test_rolled_back_commit_never_leaves_a_stale_cache() -> None:
    store = MemoryStore()
    alice, bob = await pair(store)
    item = await send(alice, "bob.1", b"one")
    await receive(bob, "alice.1", item)
    second = await send(alice, "bob.1", b"two")
    batch = bob.cipher.batch(bob.account)
    assert (await batch.decrypt("alice.1", *second)).plaintext == b"two"

    async def failing_handler() -> None:
        async with bob.account.transaction() as tx:
            await batch.commit(tx)  # the cache now holds the newer record ...
            raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        await failing_handler()
    # ... but the store kept the old bytes, so the next batch uses the old record
    assert (await receive(bob, "alice.1", second)).plaintext == b"two"


async def test_committed_state_is_remembered_across_batches_and_never_a_rolled_back_one() -> None:
    store = MemoryStore()
    alice, bob = await pair(store)
    await receive(bob, "alice.1", await send(alice, "bob.1", b"one"))
    # committed and remembered: the next batch reads neither sessions nor identities
    counting = CountingStore(bob.account)
    item = await send(alice, "bob.1", b"two")
    batch = bob.cipher.batch(counting)  # type: ignore[arg-type]
    await batch.prefetch(addresses=["alice.1"])
    assert (await batch.decrypt("alice.1", *item)).plaintext == b"two"
    assert counting.calls == []

    # the transaction fails after the commit wrote: what the cipher remembered is dropped,
    # the store's (rolled back) state is read again and the message decrypts again
    async def failing_commit() -> None:
        with batch.committing():
            async with bob.account.transaction() as tx:
                await batch.commit(tx)
                raise RuntimeError("commit failed")

    with pytest.raises(RuntimeError, match="commit failed"):
        await failing_commit()
    batch = bob.cipher.batch(counting)  # type: ignore[arg-type]
    assert (await batch.decrypt("alice.1", *item)).plaintext == b"two"
    assert counting.calls == ["sessions", "identities"]
    with batch.committing():
        async with bob.account.transaction() as tx:
            await batch.commit(tx)
    # the state committed last is the one remembered: a replay is refused without a read
    counting.calls.clear()
    with pytest.raises(DuplicateMessage):
        await bob.cipher.batch(counting).decrypt("alice.1", *item)  # type: ignore[arg-type]
    assert counting.calls == []
    third = await send(alice, "bob.1", b"three")
    assert (await receive(bob, "alice.1", third)).plaintext == b"three"
    # a write behind the cipher's back must be announced (forget): then it is read
    await bob.account.sessions.delete_user("alice")
    bob.cipher.forget(["alice.1"])
    with pytest.raises(InvalidMessage):  # no session, and its prekey was used up
        await bob.cipher.batch(counting).decrypt(  # type: ignore[arg-type]
            "alice.1", *await send(alice, "bob.1", b"four")
        )
    assert counting.calls == ["sessions", "identities"]


async def test_a_read_overlapping_a_commit_is_not_remembered() -> None:
    store = MemoryStore()
    alice, bob = await pair(store)
    await receive(bob, "alice.1", await send(alice, "bob.1", b"one"))
    writer = bob.cipher.batch(bob.account)
    await writer.decrypt("alice.1", *await send(alice, "bob.1", b"two"))
    bob.cipher.clear_cache()
    inner = bob.account.sessions.get_many

    async def get_many(addresses: Iterable[str]) -> dict[str, bytes]:
        old = await inner(addresses)  # the state before the writer's commit ...
        with writer.committing():
            async with bob.account.transaction() as tx:
                await writer.commit(tx)
        return old  # ... comes back after it: it must not be remembered

    counting = CountingStore(bob.account)
    counting.sessions.get_many = get_many  # type: ignore[method-assign]
    reader = bob.cipher.batch(counting)  # type: ignore[arg-type]
    await reader.prefetch(addresses=["alice.1"])
    assert reader._sessions["alice.1"] is not writer._sessions["alice.1"]
    assert bob.cipher._known["alice.1"][0] is writer._sessions["alice.1"]


async def test_a_read_during_a_commit_that_fails_is_not_remembered() -> None:
    store = MemoryStore()
    alice, bob = await pair(store)
    await receive(bob, "alice.1", await send(alice, "bob.1", b"one"))
    item = await send(alice, "bob.1", b"two")
    writer = bob.cipher.batch(bob.account)
    await writer.decrypt("alice.1", *item)
    sessions = await bob.account.sessions.get_many(["alice.1"])
    identities = await bob.account.identities.get_many(["alice.1"])
    counting = CountingStore(bob.account)

    async def sessions_now(addresses: Iterable[str]) -> dict[str, bytes]:
        return sessions  # what a second connection sees while the writer's COMMIT runs

    async def identities_now(addresses: Iterable[str]) -> dict[str, bytes]:
        return identities

    counting.sessions.get_many = sessions_now  # type: ignore[method-assign]
    counting.identities.get_many = identities_now  # type: ignore[method-assign]

    async def interrupted() -> None:
        with writer.committing():
            async with bob.account.transaction() as tx:
                await writer.commit(tx)
                reader = bob.cipher.batch(counting)  # type: ignore[arg-type]
                await reader.prefetch(addresses=["alice.1"])
                raise asyncio.CancelledError  # the outcome of the COMMIT is unknown

    with pytest.raises(asyncio.CancelledError):
        await interrupted()
    assert "alice.1" not in bob.cipher._known
    assert bob.cipher._writing == 0
    # the rolled-back state is read from the store: the message decrypts (once)
    assert (await receive(bob, "alice.1", item)).plaintext == b"two"
    assert bob.cipher._known["alice.1"][1] == alice.identity.public


class CountingStore:
    """Wraps an account and counts the batch reads."""

    def __init__(self, account: Account) -> None:
        self._account = account
        self.calls: list[str] = []
        outer = self

        class Sessions:
            async def get_many(self, addresses: Iterable[str]) -> dict[str, bytes]:
                outer.calls.append("sessions")
                return await account.sessions.get_many(addresses)

            async def put_many(self, records: Any) -> None:
                await account.sessions.put_many(records)

        class Identities:
            async def get_many(self, addresses: Iterable[str]) -> dict[str, bytes]:
                outer.calls.append("identities")
                return await account.identities.get_many(addresses)

            async def put_many(self, keys: Any) -> None:
                await account.identities.put_many(keys)

        self.sessions = Sessions()
        self.identities = Identities()
        self.prekeys = account.prekeys
        self.signed_prekeys = account.signed_prekeys
        self.sender_keys = account.sender_keys


async def test_prefetch_loads_in_one_call_per_concern() -> None:
    store = MemoryStore()
    alice = await new_device(store)
    peers = [await new_device(store) for _ in range(3)]
    batch = alice.cipher.batch(alice.account)
    for i, peer in enumerate(peers):
        await batch.process_bundle(f"p{i}.1", peer.bundle())
    async with alice.account.transaction() as tx:
        await batch.commit(tx)
    counting = CountingStore(alice.account)
    batch = alice.cipher.batch(counting)  # type: ignore[arg-type]
    await batch.prefetch(addresses=[f"p{i}.1" for i in range(3)])
    assert counting.calls == ["sessions", "identities"]
    for i in range(3):
        assert (await batch.encrypt(f"p{i}.1", b"x")).enc_type == "pkmsg"
    assert counting.calls == ["sessions", "identities"]


async def test_identity_change_accept_and_reject() -> None:
    store = MemoryStore()
    for trust in (TrustPolicy.ACCEPT, TrustPolicy.REJECT):
        bob = await new_device(store, trust)
        first, second = await new_device(store), await new_device(store)  # same address
        for dev in (first, second):
            b = dev.cipher.batch(dev.account)
            await b.process_bundle("bob.1", bob.bundle(1 if dev is second else 0))
            async with dev.account.transaction() as tx:
                await b.commit(tx)
        assert (await receive(bob, "x.1", await send(first, "bob.1", b"a"))).plaintext == b"a"
        item = await send(second, "bob.1", b"b")
        before = await bob.account.sessions.get("x.1")
        if trust is TrustPolicy.REJECT:
            with pytest.raises(UntrustedIdentity) as info:
                await receive(bob, "x.1", item)
            assert info.value.address == "x.1"
            assert await bob.account.sessions.get("x.1") == before
            assert await bob.account.prekeys.get(11) is not None
            batch = bob.cipher.batch(bob.account)
            with pytest.raises(UntrustedIdentity):
                await batch.process_bundle("x.1", second.bundle())
        else:
            result = await receive(bob, "x.1", item)
            assert result.plaintext == b"b"
            assert result.identity_change is not None
            assert result.identity_change.old == first.identity.public
            assert result.identity_change.new == second.identity.public
            assert await bob.account.identities.get("x.1") == second.identity.public
            # the old session is archived; the new one answers the new device
            reply = await send(bob, "x.1", b"c")
            assert (await receive(second, "bob.1", reply)).plaintext == b"c"


async def test_groups_through_the_facade() -> None:
    store = MemoryStore()
    alice, bob = await new_device(store), await new_device(store)
    batch = alice.cipher.batch(alice.account)
    sent = [await batch.group_encrypt(GROUP, "alice.1", f"g{i}".encode()) for i in range(4)]
    async with alice.account.transaction() as tx:
        await batch.commit(tx)
    assert len({s.distribution for s in sent}) == 4  # each one is current for its message
    rbatch = bob.cipher.batch(bob.account)
    with pytest.raises(NoSession):
        await rbatch.decrypt("alice.1", "skmsg", sent[0].ciphertext, group=GROUP)
    await rbatch.process_distribution(GROUP, "alice.1", sent[0].distribution)
    for i in (3, 0, 2, 1):
        result = await rbatch.decrypt("alice.1", "skmsg", sent[i].ciphertext, group=GROUP)
        assert result.plaintext == f"g{i}".encode()
    async with bob.account.transaction() as tx:
        await rbatch.commit(tx)
    assert await bob.account.sender_keys.get(GROUP, "alice.1") is not None
    again = bob.cipher.batch(bob.account)
    with pytest.raises(DuplicateMessage):
        await again.decrypt("alice.1", "skmsg", sent[2].ciphertext, group=GROUP)
    # rotating our key makes a new distribution that old recipients do not have
    batch = alice.cipher.batch(alice.account)
    rotated = await batch.rotate_sender_key(GROUP, "alice.1")
    fresh = await batch.group_encrypt(GROUP, "alice.1", b"after rotation")
    assert fresh.distribution == rotated
    with pytest.raises(NoSession):
        await again.decrypt("alice.1", "skmsg", fresh.ciphertext, group=GROUP)


async def test_bad_inputs_raise_typed_errors() -> None:
    store = MemoryStore()
    alice = await new_device(store)
    batch = alice.cipher.batch(alice.account)
    with pytest.raises(NoSession):
        await batch.encrypt("nobody.1", b"x")
    with pytest.raises(NoSession):
        await batch.decrypt("nobody.1", "msg", b"\x33" + bytes(20))
    with pytest.raises(InvalidMessage):
        await batch.decrypt("nobody.1", "pkmsg", b"\x33garbage")
    with pytest.raises(ValueError, match="enc type"):
        await batch.decrypt("nobody.1", "frob", b"")
    with pytest.raises(ValueError, match="group"):
        await batch.decrypt("nobody.1", "skmsg", b"")
    assert not batch.changes
    assert "SignalCipher(identity=" in repr(alice.cipher)
    assert alice.identity.private.hex() not in repr(alice.cipher) + repr(batch)


async def test_failures_leave_no_trace_in_the_batch() -> None:
    """A first-contact pkmsg that fails, and a msg whose padding is bad, change nothing."""
    store = MemoryStore()
    alice, bob = await pair(store)
    enc_type, data = await send(alice, "bob.1", b"hello")
    batch = bob.cipher.batch(bob.account)
    bad = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(InvalidMessage):
        await batch.decrypt("alice.1", enc_type, bad)
    assert not batch.changes
    assert (await batch.decrypt("alice.1", enc_type, data)).plaintext == b"hello"
    async with bob.account.transaction() as tx:
        await batch.commit(tx)
    # bad padding inside an authentic message: typed error, no change
    raw_alice = SignalCipher(alice.identity, alice.registration_id, padding=False)
    out = raw_alice.batch(alice.account)
    unpadded = await out.encrypt("bob.1", b"no padding\x00")
    async with alice.account.transaction() as tx:
        await out.commit(tx)
    batch = bob.cipher.batch(bob.account)
    with pytest.raises(InvalidMessage, match="padding"):
        await batch.decrypt("alice.1", unpadded.enc_type, unpadded.ciphertext)
    assert not batch.changes
