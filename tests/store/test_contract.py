"""The store contract: every backend must behave exactly like this."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator
from pathlib import Path
from typing import Any

import pytest

from tests.store.conftest import key_pair, open_store
from wamd.errors import AccountNotFound, LeaseHeld, StoreError
from wamd.store import (
    EMPTY_LTHASH,
    Account,
    AppStateSyncKey,
    AppStateVersion,
    ChatSettings,
    Contact,
    DeviceCredentials,
    MemoryStore,
    MessageSecret,
    PreKey,
    PrivacyToken,
    SeenMessage,
    SignedPreKey,
    Store,
)
from wamd.store.util import prekey_ids

Creds = Callable[..., DeviceCredentials]


async def new_account(store: Store, credentials: Creds, **changes: object) -> Account:
    return await store.new_account(credentials(**changes))


# --- accounts and credentials ----------------------------------------------------------------


async def test_new_account_round_trips_credentials(store: Store, credentials: Creds) -> None:
    creds = credentials(
        push_name="Zoë ✓",
        platform="android",
        account=b"\x0a\x02adv",
        routing_info=b"\x08\x01",
        extra={"pairing_ref": b"\x00\xff" * 20},
    )
    account = await store.new_account(creds)
    assert await account.credentials.load() == creds
    again = await store.account(account.id)
    assert again.id == account.id
    assert await again.credentials.load() == creds


async def test_accounts_are_listed_and_found_by_jid_and_lid(
    store: Store, credentials: Creds
) -> None:
    assert await store.accounts() == []
    a = await new_account(store, credentials)
    b = await new_account(store, credentials)
    assert a.id != b.id
    infos = await store.accounts()
    assert [i.id for i in infos] == sorted([a.id, b.id])
    assert all(i.jid is None for i in infos)

    creds = await b.credentials.load()
    paired = DeviceCredentials(
        **{
            **_fields(creds),
            "jid": "491701234567:3@s.whatsapp.net",
            "lid": "1234:3@lid",
            "push_name": "Bob",
        }
    )
    await b.credentials.save(paired)
    assert (await store.account("491701234567:3@s.whatsapp.net")).id == b.id
    assert (await store.account("1234:3@lid")).id == b.id
    info = {i.id: i for i in await store.accounts()}[b.id]
    assert (info.jid, info.lid, info.push_name) == (paired.jid, paired.lid, "Bob")
    assert info.created_at > 0

    with pytest.raises(AccountNotFound):
        await store.account("nobody@s.whatsapp.net")
    with pytest.raises(AccountNotFound):
        await store.account(10_000)


def _fields(creds: DeviceCredentials) -> dict[str, object]:
    return {name: getattr(creds, name) for name in DeviceCredentials.__dataclass_fields__}


async def test_two_accounts_cannot_share_a_jid(store: Store, credentials: Creds) -> None:
    await new_account(store, credentials, jid="1:1@s.whatsapp.net")
    with pytest.raises(StoreError):
        await new_account(store, credentials, jid="1:1@s.whatsapp.net")
    other = await new_account(store, credentials)
    with pytest.raises(StoreError):
        await other.credentials.save(credentials(jid="1:1@s.whatsapp.net"))
    assert len(await store.accounts()) == 2


async def test_delete_account_removes_everything_it_owns(store: Store, credentials: Creds) -> None:
    doomed = await new_account(store, credentials, jid="9:1@s.whatsapp.net")
    kept = await new_account(store, credentials)
    for account in (doomed, kept):
        await account.sessions.put("5.1", b"session")
        await account.identities.put("5.1", bytes(32))
        await account.inbox.put("message", b"payload")
        await account.contacts.put(Contact("5@s.whatsapp.net", push_name="Five"))
    await store.delete_account("9:1@s.whatsapp.net")
    assert [i.id for i in await store.accounts()] == [kept.id]
    with pytest.raises(AccountNotFound):
        await store.account(doomed.id)
    with pytest.raises(AccountNotFound):
        await store.delete_account(doomed.id)
    with pytest.raises(StoreError):  # a stale handle cannot write orphans
        await doomed.sessions.put("5.2", b"orphan")
    assert await kept.sessions.get("5.1") == b"session"
    assert len(await kept.inbox.pending()) == 1
    # a new account does not inherit anything from the deleted one
    fresh = await new_account(store, credentials, jid="9:1@s.whatsapp.net")
    assert await fresh.sessions.get("5.1") is None
    assert await fresh.inbox.pending() == []
    assert await fresh.contacts.all() == []


def test_credentials_repr_has_no_secrets() -> None:
    from tests.store.conftest import make_credentials

    creds = make_credentials(account=b"adv-identity", routing_info=b"route", extra={"k": b"v"})
    text = repr(creds)
    secrets = [
        creds.noise_key.private,
        creds.identity_key.private,
        creds.adv_secret_key,
        creds.signed_prekey.key_pair.private,
    ]
    for secret in secrets:
        assert secret.hex() not in text
        assert repr(secret) not in text
    assert "adv-identity" not in text
    assert "route" not in text
    assert repr(creds.noise_key.public) in text


# --- Signal ----------------------------------------------------------------------------------


async def test_identities(store: Store, credentials: Creds) -> None:
    ids = (await new_account(store, credentials)).identities
    k1, k2, k3 = os.urandom(32), os.urandom(32), os.urandom(32)
    assert await ids.get("123.1") is None
    await ids.put("123.1", k1)
    await ids.put_many({"123.2": k2, "1234.1": k3, "123_1.0": k3})
    assert await ids.get("123.1") == k1
    await ids.put("123.1", k2)
    assert await ids.get_many(["123.1", "123.2", "777.0"]) == {"123.1": k2, "123.2": k2}
    await ids.delete_user("123")
    assert await ids.get_many(["123.1", "123.2", "1234.1", "123_1.0"]) == {
        "1234.1": k3,
        "123_1.0": k3,
    }
    await ids.delete("1234.1")
    await ids.delete("1234.1")
    assert await ids.get("1234.1") is None
    with pytest.raises(ValueError, match="32"):
        await ids.put("1.0", b"\x05" + bytes(32))


async def test_sessions(store: Store, credentials: Creds) -> None:
    s = (await new_account(store, credentials)).sessions
    await s.put("42.0", b"a")
    await s.put_many({"42.1": b"b", "42.12": b"c", "421.0": b"d", "42_1.3": b"e"})
    assert await s.get("42.0") == b"a"
    assert await s.get("nope.0") is None
    assert await s.get_many(["42.1", "42.12", "x.1"]) == {"42.1": b"b", "42.12": b"c"}
    assert await s.addresses_of_user("42") == ["42.0", "42.1", "42.12"]
    await s.put("42.0", b"a2")
    assert await s.get("42.0") == b"a2"
    await s.delete_many(["42.1", "nope.0"])
    assert await s.addresses_of_user("42") == ["42.0", "42.12"]
    await s.delete_user("42")
    assert await s.addresses_of_user("42") == []
    assert await s.get_many(["421.0", "42_1.3"]) == {"421.0": b"d", "42_1.3": b"e"}
    await s.delete("421.0")
    assert await s.get("421.0") is None
    big = {f"{n}.{d}": os.urandom(300) for n in range(300) for d in range(3)}
    await s.put_many(big)
    assert await s.get_many(big) == big


async def test_prekeys(store: Store, credentials: Creds) -> None:
    p = (await new_account(store, credentials)).prekeys
    first = await p.reserve_ids(3)
    second = await p.reserve_ids(2)
    assert first == [1, 2, 3]
    assert second == [4, 5]
    assert await p.reserve_ids(0) == []
    keys = [PreKey(i, key_pair()) for i in first + second]
    await p.put_many(keys)
    assert await p.count() == 5
    assert await p.count(uploaded=False) == 5
    assert await p.get(2) == keys[1]
    assert await p.get(99) is None
    assert await p.get_many([1, 5, 99]) == {1: keys[0], 5: keys[4]}
    assert await p.unuploaded(limit=2) == keys[:2]
    await p.mark_uploaded([1, 2, 3])
    assert await p.count(uploaded=True) == 3
    assert await p.unuploaded() == keys[3:]
    await p.remove(2)
    assert await p.get(2) is None
    assert await p.count(uploaded=True) == 2
    with pytest.raises(ValueError, match="range"):
        await p.put_many([PreKey(0, key_pair())])


def test_prekey_ids_wrap_around() -> None:
    assert prekey_ids(0xFFFFFE, 4) == [0xFFFFFE, 0xFFFFFF, 1, 2]
    assert prekey_ids(2 * 0xFFFFFF + 5, 2) == [5, 6]
    with pytest.raises(ValueError, match="count"):
        prekey_ids(1, -1)


async def test_signed_prekeys(store: Store, credentials: Creds) -> None:
    s = (await new_account(store, credentials)).signed_prekeys
    a = SignedPreKey(7, key_pair(), os.urandom(64))
    b = SignedPreKey(3, key_pair(), os.urandom(64))
    await s.put(a)
    await s.put(b)
    assert await s.get(7) == a
    assert await s.all() == [b, a]
    await s.remove(7)
    assert await s.get(7) is None
    assert await s.all() == [b]


async def test_sender_keys_and_distribution(store: Store, credentials: Creds) -> None:
    account = await new_account(store, credentials)
    sk, dist = account.sender_keys, account.sender_key_distribution
    g1, g2 = "120363@g.us", "999@g.us"
    await sk.put(g1, "5.0", b"r1")
    await sk.put(g1, "6.2", b"r2")
    await sk.put(g2, "5.0", b"r3")
    assert await sk.get(g1, "5.0") == b"r1"
    assert await sk.get_many(g1, ["5.0", "6.2", "7.0"]) == {"5.0": b"r1", "6.2": b"r2"}
    await sk.put(g1, "5.0", b"r1b")
    assert await sk.get(g1, "5.0") == b"r1b"
    await sk.delete(g1, "6.2")
    assert await sk.get(g1, "6.2") is None
    await sk.delete_group(g1)
    assert await sk.get(g1, "5.0") is None
    assert await sk.get(g2, "5.0") == b"r3"

    assert await dist.sent_to(g1) == set()
    await dist.mark_sent(g1, ["5.0", "5.1", "6.0"])
    await dist.mark_sent(g1, ["5.0"])
    await dist.mark_sent(g2, ["5.1", "7.0"])
    assert await dist.sent_to(g1) == {"5.0", "5.1", "6.0"}
    await dist.forget_devices(["5.1"])
    assert await dist.sent_to(g1) == {"5.0", "6.0"}
    assert await dist.sent_to(g2) == {"7.0"}
    await dist.clear(g1)
    assert await dist.sent_to(g1) == set()
    assert await dist.sent_to(g2) == {"7.0"}


# --- app state -------------------------------------------------------------------------------


async def test_app_state_keys(store: Store, credentials: Creds) -> None:
    keys = (await new_account(store, credentials)).app_state_keys
    assert await keys.latest() is None
    a = AppStateSyncKey(b"\x00\x01", os.urandom(32), b"fp-a", 100)
    b = AppStateSyncKey(b"\x00\x02", os.urandom(32), b"fp-b", 300)
    c = AppStateSyncKey(b"\x00\x03", os.urandom(32), b"", 200)
    await keys.put(a)
    await keys.put_many([b, c])
    assert await keys.get(b"\x00\x01") == a
    assert await keys.get(b"\xff") is None
    assert await keys.latest() == b
    d = AppStateSyncKey(b"\x00\x04", os.urandom(32), b"fp-d", 300)
    await keys.put(d)
    assert await keys.latest() == d  # same timestamp: the greater key id


async def test_app_state_versions_and_macs(store: Store, credentials: Creds) -> None:
    state = (await new_account(store, credentials)).app_state
    assert await state.get_version("regular") == AppStateVersion(0, EMPTY_LTHASH)
    v = AppStateVersion(5, os.urandom(128))
    await state.put_version("regular", v)
    await state.put_version("critical_block", AppStateVersion(1, os.urandom(128)))
    assert await state.get_version("regular") == v
    macs = {os.urandom(32): os.urandom(32) for _ in range(50)}
    await state.put_macs("regular", macs)
    await state.put_macs("critical_block", {b"i": b"v"})
    some = list(macs)[:10]
    assert await state.get_macs("regular", some) == {i: macs[i] for i in some}
    assert await state.get_mac("regular", some[0]) == macs[some[0]]
    assert await state.get_mac("critical_block", some[0]) is None
    await state.put_macs("regular", {some[0]: b"new"})
    assert await state.get_mac("regular", some[0]) == b"new"
    await state.delete_macs("regular", some[:5])
    assert await state.get_macs("regular", some) == {i: macs[i] for i in some[5:]}
    await state.delete_collection("regular")
    assert await state.get_version("regular") == AppStateVersion()
    assert await state.get_macs("regular", list(macs)) == {}
    assert await state.get_mac("critical_block", b"i") == b"v"
    with pytest.raises(ValueError, match="128"):
        AppStateVersion(1, b"short")


# --- contacts, chats, secrets, LIDs, tokens --------------------------------------------------


async def test_contacts_merge_names(store: Store, credentials: Creds) -> None:
    c = (await new_account(store, credentials)).contacts
    jid = "491701234567@s.whatsapp.net"
    await c.put(Contact(jid, push_name="pushy"))
    await c.put_many(
        [
            Contact(jid, first_name="Ann", full_name="Ann Lee"),
            Contact("2@s.whatsapp.net", business_name="Shop"),
        ]
    )
    assert await c.get(jid) == Contact(jid, "Ann", "Ann Lee", "pushy", None)
    await c.put(Contact(jid, push_name=""))
    assert (await c.get(jid)) == Contact(jid, "Ann", "Ann Lee", "", None)
    assert await c.get("3@s.whatsapp.net") is None
    assert set(await c.get_many([jid, "3@s.whatsapp.net"])) == {jid}
    assert [x.jid for x in await c.all()] == ["2@s.whatsapp.net", jid]


async def test_chat_settings(store: Store, credentials: Creds) -> None:
    cs = (await new_account(store, credentials)).chat_settings
    chat = "1@s.whatsapp.net"
    assert await cs.get(chat) == ChatSettings()
    await cs.update(chat, pinned=True)
    await cs.update(chat, muted_until=-1)
    assert await cs.get(chat) == ChatSettings(muted_until=-1, pinned=True, archived=False)
    await cs.update(chat, archived=True, pinned=False)
    assert await cs.get(chat) == ChatSettings(-1, False, True)
    assert await cs.get("2@s.whatsapp.net") == ChatSettings()


async def test_message_secrets_first_wins(store: Store, credentials: Creds) -> None:
    ms = (await new_account(store, credentials)).message_secrets
    await ms.put_many(
        [MessageSecret("c", "s", "ID1", b"one"), MessageSecret("c", "s", "ID2", b"2")]
    )
    await ms.put_many([MessageSecret("c", "s", "ID1", b"other")])
    assert await ms.get("c", "s", "ID1") == b"one"
    assert await ms.get("c", "s", "ID2") == b"2"
    assert await ms.get("c", "x", "ID1") is None


async def test_lid_map_is_one_to_one(store: Store, credentials: Creds) -> None:
    m = (await new_account(store, credentials)).lid_map
    await m.put_many([("100", "4911"), ("200", "4922")])
    assert await m.pn_for_lid("100") == "4911"
    assert await m.lid_for_pn("4922") == "200"
    assert await m.lids_for_pns(["4911", "4922", "4933"]) == {"4911": "100", "4922": "200"}
    assert await m.pns_for_lids(["100", "300"]) == {"100": "4911"}
    await m.put_many([("100", "4922")])  # both old pairs lose a side
    assert await m.pn_for_lid("100") == "4922"
    assert await m.lid_for_pn("4922") == "100"
    assert await m.lid_for_pn("4911") is None
    assert await m.pn_for_lid("200") is None
    await m.put_many([("100", "4922")])
    assert await m.lid_for_pn("4922") == "100"


async def test_privacy_tokens(store: Store, credentials: Creds) -> None:
    pt = (await new_account(store, credentials)).privacy_tokens
    await pt.put_many([PrivacyToken("1@s.whatsapp.net", b"tok", 10)])
    assert await pt.get("1@s.whatsapp.net") == PrivacyToken("1@s.whatsapp.net", b"tok", 10)
    await pt.put_many([PrivacyToken("1@s.whatsapp.net", b"tok2", 20)])
    assert await pt.get("1@s.whatsapp.net") == PrivacyToken("1@s.whatsapp.net", b"tok2", 20)
    assert await pt.get("2@s.whatsapp.net") is None


# --- buffers ---------------------------------------------------------------------------------


async def test_outgoing_buffer(store: Store, credentials: Creds) -> None:
    out = (await new_account(store, credentials)).outgoing
    for i in range(10):
        await out.put("chat", f"ID{i}", f"msg{i}".encode(), timestamp=1000 + i)
    got = await out.get("chat", "ID3")
    assert got is not None
    assert (got.plaintext, got.timestamp) == (b"msg3", 1003)
    assert await out.get("other", "ID3") is None
    assert await out.prune(before=1002) == 2
    assert await out.get("chat", "ID1") is None
    assert await out.prune(keep_last=5) == 3
    assert [await out.get("chat", f"ID{i}") is not None for i in range(10)] == [False] * 5 + [
        True
    ] * 5
    await out.delete("chat", "ID9")
    assert await out.get("chat", "ID9") is None
    await out.put("chat", "now", b"x")
    stamped = await out.get("chat", "now")
    assert stamped is not None
    assert stamped.timestamp > 1_600_000_000


async def test_seen_buffer(store: Store, credentials: Creds) -> None:
    seen = (await new_account(store, credentials)).seen
    m = SeenMessage("chat", "sender", "ID")
    assert not await seen.contains(m)
    assert await seen.add(m, timestamp=10) is True
    assert await seen.add(m, timestamp=11) is False
    assert await seen.contains(m)
    for i in range(5):
        await seen.add(SeenMessage("chat", "sender", f"X{i}"), timestamp=20 + i)
    assert await seen.prune(before=11) == 1
    assert not await seen.contains(m)
    assert await seen.prune(keep_last=2) == 3
    kept = [await seen.contains(SeenMessage("chat", "sender", f"X{i}")) for i in range(5)]
    assert kept == [False, False, False, True, True]


async def test_inbox(store: Store, credentials: Creds) -> None:
    inbox = (await new_account(store, credentials)).inbox
    seqs = [await inbox.put("message", f"p{i}".encode(), created_at=5) for i in range(5)]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 5
    pending = await inbox.pending()
    assert [e.payload for e in pending] == [f"p{i}".encode() for i in range(5)]
    assert all(e.kind == "message" and e.created_at == 5 and not e.done for e in pending)
    assert [e.seq for e in await inbox.pending(limit=2)] == seqs[:2]
    await inbox.mark_done(seqs[:3])
    assert [e.seq for e in await inbox.pending()] == seqs[3:]
    entry = await inbox.get(seqs[0])
    assert entry is not None
    assert entry.done
    assert await inbox.delete_done() == 3
    assert await inbox.get(seqs[0]) is None
    later = await inbox.put("receipt", b"r")
    assert later > seqs[-1]
    assert [e.seq for e in await inbox.pending()] == [*seqs[3:], later]


async def test_seen_and_inbox_in_batches(store: Store, credentials: Creds) -> None:
    """add_many / put_many (one statement per batch on SQL stores), more rows than one
    statement takes, inside a transaction as the receive path uses them."""
    account = await new_account(store, credentials)
    await account.seen.add(SeenMessage("chat", "s", "m3"), timestamp=1)
    batch = [(SeenMessage("chat", "s", f"m{i}"), None if i % 2 else 40 + i) for i in range(250)]
    payloads = [(f"k{i % 3}", f"p{i}".encode(), 7 if i % 2 else None) for i in range(230)]
    async with account.transaction() as tx:
        added = await tx.seen.add_many(batch)
        seqs = await tx.inbox.put_many(payloads)
    assert added == [i != 3 for i in range(250)]
    assert await account.seen.add(SeenMessage("chat", "s", "m249")) is False
    assert len(set(seqs)) == 230
    assert seqs == sorted(seqs)
    pending = await account.inbox.pending()
    assert [(e.seq, e.kind, e.payload) for e in pending] == [
        (seq, kind, payload) for seq, (kind, payload, _) in zip(seqs, payloads, strict=True)
    ]
    assert {e.created_at for e in pending[1::2]} == {7}
    assert await account.seen.add_many([]) == []
    assert await account.inbox.put_many([]) == []
    assert await account.inbox.put("m", b"after") > seqs[-1]


async def test_seen_and_inbox_batches_of_one(store: Store, credentials: Creds) -> None:
    """A receive batch of one message (SQL stores take a cheaper statement for it)."""
    account = await new_account(store, credentials)
    first = await account.inbox.put("m", b"first")
    for round_ in range(2):
        async with account.transaction() as tx:
            await tx.sessions.put(f"{round_}.0", b"record")  # (held back on SQLite)
            added = await tx.seen.add_many([(SeenMessage("chat", "s", "one"), 5)])
            seqs = await tx.inbox.put_many([("message", f"p{round_}".encode(), 9)])
        assert added == [round_ == 0]
        assert len(seqs) == 1
        assert seqs[0] > first
        entry = await account.inbox.get(seqs[0])
        assert entry is not None
        assert (entry.kind, entry.payload, entry.created_at) == (
            "message",
            f"p{round_}".encode(),
            9,
        )
        first = seqs[0]
    assert await account.sessions.get_many(["0.0", "1.0"]) == {"0.0": b"record", "1.0": b"record"}


async def test_inbox_done_marks_in_runs(store: Store, credentials: Creds) -> None:
    """Done marks of consecutive and scattered seqs, given twice or out of order (SQL stores:
    one statement a run of consecutive seqs), touch these entries of this account only."""
    account = await new_account(store, credentials)
    other = await new_account(store, credentials)
    seqs = []
    for i in range(8):  # (the two accounts' entries interleaved)
        seqs.append(await account.inbox.put("m", b"%d" % i))
        await other.inbox.put("m", b"other")
    await account.inbox.mark_done([seqs[5], seqs[0], seqs[1], seqs[3], seqs[1], seqs[6]])
    assert [e.seq for e in await account.inbox.pending()] == [seqs[2], seqs[4], seqs[7]]
    assert len(await other.inbox.pending()) == 8
    async with account.transaction() as tx:
        await tx.inbox.mark_done(seqs[2:5])
    assert [e.seq for e in await account.inbox.pending()] == [seqs[7]]
    await account.inbox.mark_done([])
    assert len(await other.inbox.pending()) == 8


async def test_seen_batches_with_known_and_repeated_messages(
    store: Store, credentials: Creds
) -> None:
    """A batch holding a message already seen, or one message twice: each is new once, and
    the other writes of the transaction stay (SQLite retries such a batch statement by
    statement)."""
    account = await new_account(store, credentials)
    known = SeenMessage("chat", "s", "known")
    await account.seen.add(known, timestamp=1)
    a, b = SeenMessage("chat", "s", "a"), SeenMessage("chat", "s", "b")
    async with account.transaction() as tx:
        await tx.sessions.put("1.0", b"record")  # (held back on SQLite)
        assert await tx.seen.add_many([(a, 2), (known, 2), (a, 3), (b, None)]) == [
            True,
            False,
            False,
            True,
        ]
        assert await tx.seen.add_many([(b, 4), (SeenMessage("chat", "s", "c"), 4)]) == [
            False,
            True,
        ]
        seqs = await tx.inbox.put_many([("m", b"x", 1), ("m", b"y", 1)])
    assert await account.sessions.get("1.0") == b"record"
    assert all([await account.seen.contains(m) for m in (known, a, b)])
    assert [e.seq for e in await account.inbox.pending()] == seqs
    assert await account.seen.add_many([(a, 5), (a, 5)]) == [False, False]
    assert await account.seen.prune(before=2) == 1  # (known kept its first timestamp)


async def test_inbox_batches_after_the_newest_entries_were_deleted(
    store: Store, credentials: Creds
) -> None:
    """The seqs a batch returns are its entries' (SQLite works them out from the last rowid)."""
    account = await new_account(store, credentials)
    old = await account.inbox.put_many([("m", b"a", 1), ("m", b"b", 1)])
    await account.inbox.mark_done(old)
    assert await account.inbox.delete_done() == 2
    async with account.transaction() as tx:
        await tx.sessions.put("1.0", b"record")  # (held back on SQLite)
        seqs = await tx.inbox.put_many([("m", b"c", 2), ("r", b"d", 3), ("m", b"e", 4)])
    assert seqs == sorted(seqs)
    assert seqs[0] > old[-1]  # (never an old entry's seq again)
    for seq, payload in zip(seqs, [b"c", b"d", b"e"], strict=True):
        entry = await account.inbox.get(seq)
        assert entry is not None
        assert entry.payload == payload


async def test_accounts_are_isolated(store: Store, credentials: Creds) -> None:
    a = await new_account(store, credentials)
    b = await new_account(store, credentials)
    await a.sessions.put("1.0", b"a")
    await a.inbox.put("m", b"a")
    await a.app_state.put_version("regular", AppStateVersion(3, bytes(128)))
    await a.prekeys.reserve_ids(10)
    assert await b.sessions.get("1.0") is None
    assert await b.inbox.pending() == []
    assert await b.app_state.get_version("regular") == AppStateVersion()
    assert await b.prekeys.reserve_ids(1) == [1]


# --- transactions ----------------------------------------------------------------------------


async def test_transaction_commits_everything(store: Store, credentials: Creds) -> None:
    account = await new_account(store, credentials)
    async with account.transaction() as tx:
        await tx.sessions.put("1.0", b"state")
        assert await tx.seen.add(SeenMessage("c", "s", "ID"))
        seq = await tx.inbox.put("message", b"event")
        await tx.app_state.put_version("regular", AppStateVersion(2, b"\x01" * 128))
        await tx.app_state.put_macs("regular", {b"i": b"v"})
        assert await tx.sessions.get("1.0") == b"state"  # reads see the transaction's writes
    assert await account.sessions.get("1.0") == b"state"
    assert await account.seen.contains(SeenMessage("c", "s", "ID"))
    assert [e.seq for e in await account.inbox.pending()] == [seq]
    assert (await account.app_state.get_version("regular")).version == 2
    assert await account.app_state.get_mac("regular", b"i") == b"v"


class Boom(Exception):
    pass


async def test_transaction_rolls_back_on_exception(store: Store, credentials: Creds) -> None:
    account = await new_account(store, credentials)
    creds = await account.credentials.load()
    await account.sessions.put("1.0", b"old")
    await account.contacts.put(Contact("1@s.whatsapp.net", push_name="old"))
    await account.prekeys.reserve_ids(2)

    async def doomed() -> None:
        async with account.transaction() as tx:
            await tx.sessions.put("1.0", b"new")
            await tx.sessions.put("2.0", b"new")
            await tx.seen.add(SeenMessage("c", "s", "ID"))
            await tx.inbox.put("message", b"event")
            await tx.app_state.put_version("regular", AppStateVersion(9, b"\x02" * 128))
            await tx.app_state.put_macs("regular", {b"i": b"v"})
            await tx.contacts.put(Contact("1@s.whatsapp.net", push_name="new"))
            await tx.credentials.save(credentials(jid="7:1@s.whatsapp.net"))
            await tx.prekeys.reserve_ids(5)
            await tx.inbox.mark_done([1, 2, 3])
            raise Boom

    with pytest.raises(Boom):
        await doomed()
    assert await account.sessions.get_many(["1.0", "2.0"]) == {"1.0": b"old"}
    assert not await account.seen.contains(SeenMessage("c", "s", "ID"))
    assert await account.inbox.pending() == []
    assert await account.app_state.get_version("regular") == AppStateVersion()
    assert await account.app_state.get_mac("regular", b"i") is None
    assert await account.contacts.get("1@s.whatsapp.net") == Contact(
        "1@s.whatsapp.net", push_name="old"
    )
    assert await account.credentials.load() == creds
    with pytest.raises(AccountNotFound):
        await store.account("7:1@s.whatsapp.net")
    assert await account.prekeys.reserve_ids(1) == [3]


async def test_transaction_handles_die_with_the_transaction(
    store: Store, credentials: Creds
) -> None:
    account = await new_account(store, credentials)
    async with account.transaction() as tx:
        await tx.sessions.put("1.0", b"x")
    with pytest.raises(StoreError):
        await tx.sessions.put("1.0", b"late")
    assert await account.sessions.get("1.0") == b"x"


async def test_own_handles_inside_a_transaction_raise_instead_of_deadlocking(
    store: Store, credentials: Creds
) -> None:
    account = await new_account(store, credentials)
    other = await new_account(store, credentials)

    async def misuse(use: Callable[[], Awaitable[object]]) -> None:
        async with asyncio.timeout(5), account.transaction() as tx:
            await tx.sessions.put("1.0", b"x")
            await use()  # same task: must raise, not wait for itself

    uses: list[Callable[[], Awaitable[object]]] = [
        lambda: account.sessions.put("1.0", b"y"),
        lambda: account.sessions.get("1.0"),
        lambda: other.sessions.get("1.0"),
        lambda: store.accounts(),
        lambda: _nested(other),
    ]
    for use in uses:
        with pytest.raises(StoreError, match="tx"):
            await misuse(use)
    assert await account.sessions.get("1.0") is None


async def _nested(account: Account) -> None:
    async with account.transaction() as tx:
        await tx.sessions.put("2.0", b"z")


async def test_others_see_a_transaction_only_after_commit(store: Store, credentials: Creds) -> None:
    account = await new_account(store, credentials)
    await account.sessions.put("1.0", b"v1")
    written = asyncio.Event()
    release = asyncio.Event()

    async def writer() -> None:
        async with account.transaction() as tx:
            await tx.sessions.put("1.0", b"v2")
            await tx.inbox.put("m", b"e")
            written.set()
            await release.wait()

    task = asyncio.create_task(writer())
    await written.wait()
    reader = asyncio.create_task(account.sessions.get("1.0"))
    await asyncio.sleep(0.05)
    # the reader either waits for the commit or reads the committed (old) value
    if reader.done():
        assert reader.result() == b"v1"
    release.set()
    await task
    await reader
    assert await account.sessions.get("1.0") == b"v2"


async def test_concurrent_transactions_all_commit(store: Store, credentials: Creds) -> None:
    account = await new_account(store, credentials)

    async def one(i: int) -> None:
        async with account.transaction() as tx:
            await tx.sessions.put(f"{i}.0", b"s")
            await tx.seen.add(SeenMessage("c", "s", f"ID{i}"))
            await tx.inbox.put("m", str(i).encode())

    await asyncio.gather(*(one(i) for i in range(20)))
    assert len(await account.inbox.pending()) == 20
    assert len(await account.sessions.get_many(f"{i}.0" for i in range(20))) == 20


# --- leases ----------------------------------------------------------------------------------


async def test_lease_is_exclusive(store: Store, credentials: Creds) -> None:
    account = await new_account(store, credentials)
    other = await store.account(account.id)
    lease = await account.acquire_lease()
    assert lease.held
    with pytest.raises(LeaseHeld):
        await other.acquire_lease()
    with pytest.raises(LeaseHeld):
        await other.acquire_lease(wait=0.2)
    second = await new_account(store, credentials)
    async with await second.acquire_lease():  # other accounts are independent
        pass
    await lease.release()
    await lease.release()
    assert not lease.held
    async with await other.acquire_lease() as again:
        assert again.held
    assert not again.held


async def test_lease_waiter_gets_it_after_release(store: Store, credentials: Creds) -> None:
    account = await new_account(store, credentials)
    lease = await account.acquire_lease()
    waiter = asyncio.create_task(account.acquire_lease(wait=10))
    await asyncio.sleep(0.1)
    assert not waiter.done()
    await lease.release()
    second = await asyncio.wait_for(waiter, 5)
    assert second.held
    await second.release()


# --- cancellation ----------------------------------------------------------------------------


class CancelAt:
    """Awaits ``coro``, cancelling it at its ``first``-th to ``last``-th suspension (counted
    from 1) the way ``Task.cancel`` does: the future it waits for is cancelled, or (when that is
    already done, or it yielded bare, as ``sleep(0)`` does) CancelledError is thrown in as it
    resumes. ``hit`` tells whether the coroutine got as far as the ``first`` suspension."""

    def __init__(self, coro: Coroutine[Any, Any, None], first: int, last: int) -> None:
        self.coro = coro
        self.first = first
        self.last = last
        self.hit = False

    def __await__(self) -> Generator[Any, Any, None]:
        sent: Any = None
        thrown: BaseException | None = None
        for n in itertools.count(1):
            try:
                out = self.coro.send(sent) if thrown is None else self.coro.throw(thrown)
            except StopIteration:
                return
            sent, thrown = None, None
            cancel = self.first <= n <= self.last
            self.hit = self.hit or cancel
            pending = cancel and not (isinstance(out, asyncio.Future) and out.cancel())
            try:
                sent = yield out
            except BaseException as exc:  # the awaited future's outcome, thrown in by the task
                thrown = exc
            if pending and thrown is None:
                thrown = asyncio.CancelledError()


async def _commits(account: Account, value: bytes) -> None:
    async with account.transaction() as tx:
        await tx.sessions.put("cancelled.0", value)


async def _rolls_back(account: Account, value: bytes) -> None:
    async with account.transaction() as tx:
        await tx.sessions.put("cancelled.0", b"rolled back")
        raise Boom


async def _leases(account: Account, value: bytes) -> None:
    async with await account.acquire_lease():
        pass


SCENARIOS = {"commit": _commits, "rollback": _rolls_back, "lease": _leases}


async def _next_holder_is_clean(store: Store, account_id: int, value: bytes) -> None:
    """What a cancelled transaction or lease must leave behind: the next transaction commits
    for good (it does not run inside a leftover one), the lease is free, no write of a rolled
    back transaction shows."""
    account = await store.account(account_id)
    async with account.transaction() as tx:
        await tx.sessions.put("next.0", value)
    assert await account.sessions.get("next.0") == value
    assert await account.sessions.get("cancelled.0") != b"rolled back"
    async with await account.acquire_lease(wait=0):
        pass


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[object]]:
    """What reaches the event loop's exception handler during the test (asyncpg reports a
    connection released inside a transaction there)."""
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    errors: list[object] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        yield errors
    finally:
        loop.set_exception_handler(previous)


@pytest.mark.parametrize("times", [1, 3], ids=["once", "repeatedly"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_cancelled_at_any_suspension_leaves_the_store_clean(
    store: Store, credentials: Creds, scenario: str, times: int, loop_errors: list[object]
) -> None:
    """Cancel a transaction (committing or rolling back) or a lease at its n-th await, for
    every n, once or at n, n+1 and n+2: the BEGIN, COMMIT or ROLLBACK (or lock statement) in
    flight may still run, and must not leave the connection inside a transaction (or the lock
    with a session) that nobody owns."""
    account = await new_account(store, credentials)
    run = SCENARIOS[scenario]
    for n in itertools.count(1):
        value = f"v{n}".encode()
        cancelling = CancelAt(run(account, value), n, n + times - 1)
        with contextlib.suppress(asyncio.CancelledError, Boom):
            await cancelling
        if not cancelling.hit:
            break
        await _next_holder_is_clean(store, account.id, value)
    assert loop_errors == []


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_timed_out_transactions_and_leases_leave_the_store_clean(
    store: Store, credentials: Creds, scenario: str, loop_errors: list[object]
) -> None:
    account = await new_account(store, credentials)
    for i, delay in enumerate([0, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01]):
        value = f"t{i}".encode()
        with contextlib.suppress(TimeoutError, Boom):
            async with asyncio.timeout(delay):
                await SCENARIOS[scenario](account, value)
        await _next_holder_is_clean(store, account.id, value)
    assert loop_errors == []


@pytest.mark.parametrize("times", [1, 3], ids=["once", "repeatedly"])
async def test_a_cancelled_close_still_releases_every_lease(
    store: Store,
    credentials: Creds,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    times: int,
    loop_errors: list[object],
) -> None:
    """``close()`` cancelled at its n-th await (for every n): a second ``close()`` returns at
    once, so the first must still release every lease and close the connections."""
    backend = request.node.callspec.params["store"]
    for n in itertools.count(1):
        closing = await open_store(request, tmp_path, backend)
        accounts = [await new_account(closing, credentials) for _ in range(2)]
        leases = [await account.acquire_lease() for account in accounts]
        cancelling = CancelAt(closing.close(), n, n + times - 1)
        with contextlib.suppress(asyncio.CancelledError):
            await cancelling
        assert not [lease for lease in leases if lease.held]
        if not isinstance(store, MemoryStore):  # (the same database: the leases are free)
            for account in accounts:
                async with await (await store.account(account.id)).acquire_lease(wait=0):
                    pass
        await closing.close()
        if not cancelling.hit:
            break
    assert loop_errors == []
