"""The in-memory store: dictionaries, transactions with rollback, in-process leases.

Nothing survives the process. Useful for tests, examples and short-lived bots; it passes the
same contract suite as the SQLite and PostgreSQL stores (``tests/store``).

A transaction holds the account's lock for its duration (other tasks' operations on the
account wait) and records an undo log; an exception inside the block replays it backwards.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import TracebackType
from typing import Any, Self

from wamd.errors import AccountNotFound, StoreError
from wamd.store._sync import LocalLeases, TaskLock, TxTasks
from wamd.store.interfaces import Lease, Transaction
from wamd.store.types import (
    AccountInfo,
    AppStateSyncKey,
    AppStateVersion,
    ChatSettings,
    Contact,
    DeviceCredentials,
    InboxEntry,
    MessageSecret,
    OutgoingMessage,
    PreKey,
    PrivacyToken,
    SeenMessage,
    SignedPreKey,
    now,
)
from wamd.store.util import (
    MAX_PREKEY_ID,
    check_identity_key,
    prekey_ids,
    user_prefix_bounds,
)

__all__ = ["MemoryStore"]

_MISSING: Any = object()


@dataclass(repr=False)  # the rows hold keys and session state: never in a repr
class _Tables:
    """All rows of one account."""

    account_id: int
    created_at: int
    credentials: DeviceCredentials
    deleted: bool = False
    next_prekey_id: int = 1
    identities: dict[str, bytes] = field(default_factory=dict)
    sessions: dict[str, bytes] = field(default_factory=dict)
    prekeys: dict[int, tuple[PreKey, bool]] = field(default_factory=dict)
    signed_prekeys: dict[int, SignedPreKey] = field(default_factory=dict)
    sender_keys: dict[tuple[str, str], bytes] = field(default_factory=dict)
    skdm_sent: dict[tuple[str, str], bool] = field(default_factory=dict)
    app_state_keys: dict[bytes, AppStateSyncKey] = field(default_factory=dict)
    app_state_versions: dict[str, AppStateVersion] = field(default_factory=dict)
    app_state_macs: dict[tuple[str, bytes], bytes] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)
    chat_settings: dict[str, ChatSettings] = field(default_factory=dict)
    message_secrets: dict[tuple[str, str, str], bytes] = field(default_factory=dict)
    lid_to_pn: dict[str, str] = field(default_factory=dict)
    pn_to_lid: dict[str, str] = field(default_factory=dict)
    privacy_tokens: dict[str, PrivacyToken] = field(default_factory=dict)
    outgoing: dict[tuple[str, str], OutgoingMessage] = field(default_factory=dict)
    seen: dict[tuple[str, str, str], int] = field(default_factory=dict)
    inbox: dict[int, InboxEntry] = field(default_factory=dict)
    lock: TaskLock = field(default_factory=TaskLock)


class _Ctx:
    """How a concern store reaches its rows: directly (taking the account lock per call) or
    inside a transaction (lock already held, writes journaled for rollback)."""

    __slots__ = ("journal", "open", "store", "t")

    def __init__(self, store: MemoryStore, t: _Tables, journal: list[Any] | None) -> None:
        self.store = store
        self.t = t
        self.journal = journal
        self.open = True

    def guard(self) -> AbstractAsyncContextManager[_Tables]:
        """The tables, for one call: inside a transaction as they are (the lock is held),
        else under the account lock."""
        if self.journal is not None:
            return _InTransaction(self)  # (a plain class: a transaction makes several calls)
        return self._locked()

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[_Tables]:
        self.store.tx_tasks.check()
        async with self.t.lock.hold():
            if self.t.deleted:
                raise AccountNotFound(f"account {self.t.account_id} was deleted")
            yield self.t

    def set(self, table: dict[Any, Any], key: Hashable, value: object) -> None:
        if self.journal is not None:
            self.journal.append((table, key, table.get(key, _MISSING)))
        table[key] = value

    def pop(self, table: dict[Any, Any], key: Hashable) -> None:
        if key in table:
            if self.journal is not None:
                self.journal.append((table, key, table[key]))
            del table[key]

    def set_attr(self, name: str, value: object) -> None:
        if self.journal is not None:
            self.journal.append((self.t, name, getattr(self.t, name)))
        setattr(self.t, name, value)


class _InTransaction:
    """:meth:`_Ctx.guard` inside a transaction."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: _Ctx) -> None:
        self._ctx = ctx

    async def __aenter__(self) -> _Tables:
        if not self._ctx.open:
            raise StoreError("the transaction is finished")
        return self._ctx.t

    async def __aexit__(self, *exc: object) -> None:
        return None


def _rollback(journal: list[Any]) -> None:
    for target, key, old in reversed(journal):
        if isinstance(target, _Tables):
            setattr(target, key, old)
        elif old is _MISSING:
            target.pop(key, None)
        else:
            target[key] = old


def _prune_plan(
    size: int, stamps: Iterator[tuple[Any, int]], before: int | None, keep_last: int | None
) -> list[Any]:
    """Keys to delete among ``size`` entries: older than ``before``, or beyond the newest
    ``keep_last`` (newest = greatest timestamp, ties broken by the greatest key)."""
    if before is None and (keep_last is None or size <= keep_last):
        return []  # nothing can be doomed: no sort (the inbox trims every 1,000 messages)
    ordered = sorted(stamps, key=lambda kv: (kv[1], kv[0]), reverse=True)
    doomed: list[Any] = []
    for rank, (key, stamp) in enumerate(ordered):
        if (before is not None and stamp < before) or (keep_last is not None and rank >= keep_last):
            doomed.append(key)
    return doomed


class _Part:
    __slots__ = ("_c",)

    def __init__(self, ctx: _Ctx) -> None:
        self._c = ctx


class _Credentials(_Part):
    async def load(self) -> DeviceCredentials:
        async with self._c.guard() as t:
            return t.credentials

    async def save(self, credentials: DeviceCredentials) -> None:
        async with self._c.guard() as t:
            self._c.store.check_unique_jid(t.account_id, credentials)
            self._c.set_attr("credentials", replace(credentials, extra=dict(credentials.extra)))


class _Identities(_Part):
    async def get(self, address: str) -> bytes | None:
        async with self._c.guard() as t:
            return t.identities.get(address)

    async def get_many(self, addresses: Iterable[str]) -> dict[str, bytes]:
        async with self._c.guard() as t:
            return {a: t.identities[a] for a in addresses if a in t.identities}

    async def put(self, address: str, key: bytes) -> None:
        await self.put_many({address: key})

    async def put_many(self, keys: Mapping[str, bytes]) -> None:
        for key in keys.values():
            check_identity_key(key)
        async with self._c.guard() as t:
            for address, key in keys.items():
                self._c.set(t.identities, address, bytes(key))

    async def delete(self, address: str) -> None:
        async with self._c.guard() as t:
            self._c.pop(t.identities, address)

    async def delete_user(self, name: str) -> None:
        low, high = user_prefix_bounds(name)
        async with self._c.guard() as t:
            for address in [a for a in t.identities if low <= a < high]:
                self._c.pop(t.identities, address)


class _Sessions(_Part):
    async def get(self, address: str) -> bytes | None:
        async with self._c.guard() as t:
            return t.sessions.get(address)

    async def get_many(self, addresses: Iterable[str]) -> dict[str, bytes]:
        async with self._c.guard() as t:
            return {a: t.sessions[a] for a in addresses if a in t.sessions}

    async def put(self, address: str, record: bytes) -> None:
        await self.put_many({address: record})

    async def put_many(self, records: Mapping[str, bytes]) -> None:
        async with self._c.guard() as t:
            for address, record in records.items():
                self._c.set(t.sessions, address, bytes(record))

    async def delete(self, address: str) -> None:
        await self.delete_many([address])

    async def delete_many(self, addresses: Iterable[str]) -> None:
        async with self._c.guard() as t:
            for address in addresses:
                self._c.pop(t.sessions, address)

    async def delete_user(self, name: str) -> None:
        low, high = user_prefix_bounds(name)
        async with self._c.guard() as t:
            for address in [a for a in t.sessions if low <= a < high]:
                self._c.pop(t.sessions, address)

    async def addresses_of_user(self, name: str) -> list[str]:
        low, high = user_prefix_bounds(name)
        async with self._c.guard() as t:
            return sorted(a for a in t.sessions if low <= a < high)


class _PreKeys(_Part):
    async def reserve_ids(self, count: int) -> list[int]:
        async with self._c.guard() as t:
            ids = prekey_ids(t.next_prekey_id, count)
            self._c.set_attr("next_prekey_id", t.next_prekey_id + count)
            return ids

    async def put_many(self, prekeys: Iterable[PreKey]) -> None:
        async with self._c.guard() as t:
            for prekey in prekeys:
                if not 1 <= prekey.key_id <= MAX_PREKEY_ID:
                    raise ValueError(f"prekey id {prekey.key_id} out of range")
                self._c.set(t.prekeys, prekey.key_id, (prekey, False))

    async def get(self, key_id: int) -> PreKey | None:
        async with self._c.guard() as t:
            row = t.prekeys.get(key_id)
            return row[0] if row else None

    async def get_many(self, key_ids: Iterable[int]) -> dict[int, PreKey]:
        async with self._c.guard() as t:
            return {i: t.prekeys[i][0] for i in key_ids if i in t.prekeys}

    async def remove(self, key_id: int) -> None:
        async with self._c.guard() as t:
            self._c.pop(t.prekeys, key_id)

    async def count(self, *, uploaded: bool | None = None) -> int:
        async with self._c.guard() as t:
            return sum(1 for _, up in t.prekeys.values() if uploaded is None or up == uploaded)

    async def unuploaded(self, limit: int | None = None) -> list[PreKey]:
        async with self._c.guard() as t:
            keys = sorted((p for p, up in t.prekeys.values() if not up), key=lambda p: p.key_id)
            return keys if limit is None else keys[:limit]

    async def mark_uploaded(self, key_ids: Iterable[int]) -> None:
        async with self._c.guard() as t:
            for key_id in key_ids:
                row = t.prekeys.get(key_id)
                if row is not None:
                    self._c.set(t.prekeys, key_id, (row[0], True))


class _SignedPreKeys(_Part):
    async def get(self, key_id: int) -> SignedPreKey | None:
        async with self._c.guard() as t:
            return t.signed_prekeys.get(key_id)

    async def put(self, prekey: SignedPreKey) -> None:
        async with self._c.guard() as t:
            self._c.set(t.signed_prekeys, prekey.key_id, prekey)

    async def all(self) -> list[SignedPreKey]:
        async with self._c.guard() as t:
            return [t.signed_prekeys[i] for i in sorted(t.signed_prekeys)]

    async def remove(self, key_id: int) -> None:
        async with self._c.guard() as t:
            self._c.pop(t.signed_prekeys, key_id)


class _SenderKeys(_Part):
    async def get(self, group: str, sender: str) -> bytes | None:
        async with self._c.guard() as t:
            return t.sender_keys.get((group, sender))

    async def get_many(self, group: str, senders: Iterable[str]) -> dict[str, bytes]:
        async with self._c.guard() as t:
            return {s: t.sender_keys[(group, s)] for s in senders if (group, s) in t.sender_keys}

    async def put(self, group: str, sender: str, record: bytes) -> None:
        async with self._c.guard() as t:
            self._c.set(t.sender_keys, (group, sender), bytes(record))

    async def delete(self, group: str, sender: str) -> None:
        async with self._c.guard() as t:
            self._c.pop(t.sender_keys, (group, sender))

    async def delete_group(self, group: str) -> None:
        async with self._c.guard() as t:
            for key in [k for k in t.sender_keys if k[0] == group]:
                self._c.pop(t.sender_keys, key)


class _SenderKeyDistribution(_Part):
    async def sent_to(self, group: str) -> set[str]:
        async with self._c.guard() as t:
            return {d for g, d in t.skdm_sent if g == group}

    async def mark_sent(self, group: str, devices: Iterable[str]) -> None:
        async with self._c.guard() as t:
            for device in devices:
                self._c.set(t.skdm_sent, (group, device), True)

    async def clear(self, group: str) -> None:
        async with self._c.guard() as t:
            for key in [k for k in t.skdm_sent if k[0] == group]:
                self._c.pop(t.skdm_sent, key)

    async def forget_devices(self, devices: Iterable[str]) -> None:
        wanted = set(devices)
        async with self._c.guard() as t:
            for key in [k for k in t.skdm_sent if k[1] in wanted]:
                self._c.pop(t.skdm_sent, key)


class _AppStateKeys(_Part):
    async def get(self, key_id: bytes) -> AppStateSyncKey | None:
        async with self._c.guard() as t:
            return t.app_state_keys.get(bytes(key_id))

    async def put(self, key: AppStateSyncKey) -> None:
        await self.put_many([key])

    async def put_many(self, keys: Iterable[AppStateSyncKey]) -> None:
        async with self._c.guard() as t:
            for key in keys:
                self._c.set(t.app_state_keys, bytes(key.key_id), key)

    async def latest(self) -> AppStateSyncKey | None:
        async with self._c.guard() as t:
            if not t.app_state_keys:
                return None
            return max(t.app_state_keys.values(), key=lambda k: (k.timestamp, k.key_id))


class _AppState(_Part):
    async def get_version(self, collection: str) -> AppStateVersion:
        async with self._c.guard() as t:
            return t.app_state_versions.get(collection, AppStateVersion())

    async def put_version(self, collection: str, version: AppStateVersion) -> None:
        async with self._c.guard() as t:
            self._c.set(t.app_state_versions, collection, version)

    async def delete_collection(self, collection: str) -> None:
        async with self._c.guard() as t:
            self._c.pop(t.app_state_versions, collection)
            for key in [k for k in t.app_state_macs if k[0] == collection]:
                self._c.pop(t.app_state_macs, key)

    async def put_macs(self, collection: str, macs: Mapping[bytes, bytes]) -> None:
        async with self._c.guard() as t:
            for index_mac, value_mac in macs.items():
                self._c.set(t.app_state_macs, (collection, bytes(index_mac)), bytes(value_mac))

    async def delete_macs(self, collection: str, index_macs: Iterable[bytes]) -> None:
        async with self._c.guard() as t:
            for index_mac in index_macs:
                self._c.pop(t.app_state_macs, (collection, bytes(index_mac)))

    async def get_mac(self, collection: str, index_mac: bytes) -> bytes | None:
        async with self._c.guard() as t:
            return t.app_state_macs.get((collection, bytes(index_mac)))

    async def get_macs(self, collection: str, index_macs: Iterable[bytes]) -> dict[bytes, bytes]:
        async with self._c.guard() as t:
            found = ((bytes(i), t.app_state_macs.get((collection, bytes(i)))) for i in index_macs)
            return {i: v for i, v in found if v is not None}


class _Contacts(_Part):
    async def get(self, jid: str) -> Contact | None:
        async with self._c.guard() as t:
            return t.contacts.get(jid)

    async def get_many(self, jids: Iterable[str]) -> dict[str, Contact]:
        async with self._c.guard() as t:
            return {j: t.contacts[j] for j in jids if j in t.contacts}

    async def all(self) -> list[Contact]:
        async with self._c.guard() as t:
            return [t.contacts[j] for j in sorted(t.contacts)]

    async def put(self, contact: Contact) -> None:
        await self.put_many([contact])

    async def put_many(self, contacts: Iterable[Contact]) -> None:
        async with self._c.guard() as t:
            for new in contacts:
                old = t.contacts.get(new.jid)
                if old is not None:
                    new = Contact(
                        new.jid,
                        first_name=_pick(new.first_name, old.first_name),
                        full_name=_pick(new.full_name, old.full_name),
                        push_name=_pick(new.push_name, old.push_name),
                        business_name=_pick(new.business_name, old.business_name),
                    )
                self._c.set(t.contacts, new.jid, new)


def _pick(new: str | None, old: str | None) -> str | None:
    return old if new is None else new


class _ChatSettings(_Part):
    async def get(self, chat: str) -> ChatSettings:
        async with self._c.guard() as t:
            return t.chat_settings.get(chat, ChatSettings())

    async def update(
        self,
        chat: str,
        *,
        muted_until: int | None = None,
        pinned: bool | None = None,
        archived: bool | None = None,
    ) -> None:
        async with self._c.guard() as t:
            old = t.chat_settings.get(chat, ChatSettings())
            new = ChatSettings(
                muted_until=old.muted_until if muted_until is None else muted_until,
                pinned=old.pinned if pinned is None else pinned,
                archived=old.archived if archived is None else archived,
            )
            self._c.set(t.chat_settings, chat, new)


class _MessageSecrets(_Part):
    async def get(self, chat: str, sender: str, message_id: str) -> bytes | None:
        async with self._c.guard() as t:
            return t.message_secrets.get((chat, sender, message_id))

    async def put_many(self, secrets: Iterable[MessageSecret]) -> None:
        async with self._c.guard() as t:
            for s in secrets:
                key = (s.chat, s.sender, s.message_id)
                if key not in t.message_secrets:
                    self._c.set(t.message_secrets, key, bytes(s.secret))


class _LIDMap(_Part):
    async def put_many(self, pairs: Iterable[tuple[str, str]]) -> None:
        async with self._c.guard() as t:
            for lid, pn in pairs:
                old_pn = t.lid_to_pn.get(lid)
                if old_pn is not None:
                    self._c.pop(t.pn_to_lid, old_pn)
                old_lid = t.pn_to_lid.get(pn)
                if old_lid is not None:
                    self._c.pop(t.lid_to_pn, old_lid)
                self._c.set(t.lid_to_pn, lid, pn)
                self._c.set(t.pn_to_lid, pn, lid)

    async def pn_for_lid(self, lid: str) -> str | None:
        async with self._c.guard() as t:
            return t.lid_to_pn.get(lid)

    async def lid_for_pn(self, pn: str) -> str | None:
        async with self._c.guard() as t:
            return t.pn_to_lid.get(pn)

    async def pns_for_lids(self, lids: Iterable[str]) -> dict[str, str]:
        async with self._c.guard() as t:
            return {x: t.lid_to_pn[x] for x in lids if x in t.lid_to_pn}

    async def lids_for_pns(self, pns: Iterable[str]) -> dict[str, str]:
        async with self._c.guard() as t:
            return {x: t.pn_to_lid[x] for x in pns if x in t.pn_to_lid}


class _PrivacyTokens(_Part):
    async def get(self, jid: str) -> PrivacyToken | None:
        async with self._c.guard() as t:
            return t.privacy_tokens.get(jid)

    async def put_many(self, tokens: Iterable[PrivacyToken]) -> None:
        async with self._c.guard() as t:
            for token in tokens:
                self._c.set(t.privacy_tokens, token.jid, token)


class _Outgoing(_Part):
    async def get(self, chat: str, message_id: str) -> OutgoingMessage | None:
        async with self._c.guard() as t:
            return t.outgoing.get((chat, message_id))

    async def put(
        self, chat: str, message_id: str, plaintext: bytes, timestamp: int | None = None
    ) -> None:
        msg = OutgoingMessage(
            chat, message_id, bytes(plaintext), now() if timestamp is None else timestamp
        )
        async with self._c.guard() as t:
            self._c.set(t.outgoing, (chat, message_id), msg)

    async def delete(self, chat: str, message_id: str) -> None:
        async with self._c.guard() as t:
            self._c.pop(t.outgoing, (chat, message_id))

    async def prune(self, *, before: int | None = None, keep_last: int | None = None) -> int:
        async with self._c.guard() as t:
            doomed = _prune_plan(
                len(t.outgoing),
                ((k, m.timestamp) for k, m in t.outgoing.items()),
                before,
                keep_last,
            )
            for key in doomed:
                self._c.pop(t.outgoing, key)
            return len(doomed)


class _Seen(_Part):
    async def add(self, message: SeenMessage, timestamp: int | None = None) -> bool:
        key = (message.chat, message.sender, message.message_id)
        async with self._c.guard() as t:
            if key in t.seen:
                return False
            self._c.set(t.seen, key, now() if timestamp is None else timestamp)
            return True

    async def add_many(self, messages: Sequence[tuple[SeenMessage, int | None]]) -> list[bool]:
        added: list[bool] = []
        async with self._c.guard() as t:
            for message, timestamp in messages:
                key = (message.chat, message.sender, message.message_id)
                fresh = key not in t.seen
                if fresh:
                    self._c.set(t.seen, key, now() if timestamp is None else timestamp)
                added.append(fresh)
        return added

    async def contains(self, message: SeenMessage) -> bool:
        async with self._c.guard() as t:
            return (message.chat, message.sender, message.message_id) in t.seen

    async def prune(self, *, before: int | None = None, keep_last: int | None = None) -> int:
        async with self._c.guard() as t:
            doomed = _prune_plan(len(t.seen), iter(t.seen.items()), before, keep_last)
            for key in doomed:
                self._c.pop(t.seen, key)
            return len(doomed)


class _Inbox(_Part):
    async def put(self, kind: str, payload: bytes, created_at: int | None = None) -> int:
        async with self._c.guard() as t:
            seq = next(self._c.store.inbox_seq)
            entry = InboxEntry(
                seq, kind, bytes(payload), now() if created_at is None else created_at
            )
            self._c.set(t.inbox, seq, entry)
            return seq

    async def put_many(self, entries: Sequence[tuple[str, bytes, int | None]]) -> list[int]:
        seqs: list[int] = []
        async with self._c.guard() as t:
            for kind, payload, created_at in entries:
                seq = next(self._c.store.inbox_seq)
                entry = InboxEntry(
                    seq, kind, bytes(payload), now() if created_at is None else created_at
                )
                self._c.set(t.inbox, seq, entry)
                seqs.append(seq)
        return seqs

    async def get(self, seq: int) -> InboxEntry | None:
        async with self._c.guard() as t:
            return t.inbox.get(seq)

    async def pending(self, limit: int | None = None) -> list[InboxEntry]:
        async with self._c.guard() as t:
            entries = [t.inbox[s] for s in sorted(t.inbox) if not t.inbox[s].done]
            return entries if limit is None else entries[:limit]

    async def mark_done(self, seqs: Iterable[int]) -> None:
        async with self._c.guard() as t:
            for seq in seqs:
                entry = t.inbox.get(seq)
                if entry is not None and not entry.done:
                    done = InboxEntry(entry.seq, entry.kind, entry.payload, entry.created_at, True)
                    self._c.set(t.inbox, seq, done)

    async def delete_done(self) -> int:
        async with self._c.guard() as t:
            doomed = [s for s, e in t.inbox.items() if e.done]
            for seq in doomed:
                self._c.pop(t.inbox, seq)
            return len(doomed)


class _Data:
    """The concern stores over one context (an account handle or a transaction).

    Each is made on first use: a receive transaction touches four of the seventeen, and the
    receive path opens one per batch.
    """

    def __init__(self, ctx: _Ctx) -> None:
        self._c = ctx

    @cached_property
    def credentials(self) -> _Credentials:
        return _Credentials(self._c)

    @cached_property
    def identities(self) -> _Identities:
        return _Identities(self._c)

    @cached_property
    def sessions(self) -> _Sessions:
        return _Sessions(self._c)

    @cached_property
    def prekeys(self) -> _PreKeys:
        return _PreKeys(self._c)

    @cached_property
    def signed_prekeys(self) -> _SignedPreKeys:
        return _SignedPreKeys(self._c)

    @cached_property
    def sender_keys(self) -> _SenderKeys:
        return _SenderKeys(self._c)

    @cached_property
    def sender_key_distribution(self) -> _SenderKeyDistribution:
        return _SenderKeyDistribution(self._c)

    @cached_property
    def app_state_keys(self) -> _AppStateKeys:
        return _AppStateKeys(self._c)

    @cached_property
    def app_state(self) -> _AppState:
        return _AppState(self._c)

    @cached_property
    def contacts(self) -> _Contacts:
        return _Contacts(self._c)

    @cached_property
    def chat_settings(self) -> _ChatSettings:
        return _ChatSettings(self._c)

    @cached_property
    def message_secrets(self) -> _MessageSecrets:
        return _MessageSecrets(self._c)

    @cached_property
    def lid_map(self) -> _LIDMap:
        return _LIDMap(self._c)

    @cached_property
    def privacy_tokens(self) -> _PrivacyTokens:
        return _PrivacyTokens(self._c)

    @cached_property
    def outgoing(self) -> _Outgoing:
        return _Outgoing(self._c)

    @cached_property
    def seen(self) -> _Seen:
        return _Seen(self._c)

    @cached_property
    def inbox(self) -> _Inbox:
        return _Inbox(self._c)


class MemoryAccount(_Data):
    """One account of a :class:`MemoryStore` (see :class:`wamd.store.Account`)."""

    def __init__(self, store: MemoryStore, tables: _Tables) -> None:
        super().__init__(_Ctx(store, tables, None))
        self._store = store
        self._tables = tables

    def __repr__(self) -> str:
        return f"<MemoryAccount id={self._tables.account_id}>"

    @property
    def id(self) -> int:
        """The account's id in the store."""
        return self._tables.account_id

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A unit of work over this account (see :meth:`wamd.store.Account.transaction`)."""
        return _MemoryTransaction(self._store, self._tables)

    async def acquire_lease(self, *, wait: float | None = 0.0) -> Lease:
        """Take exclusive ownership of the account within this process."""
        account_id = self._tables.account_id
        return await self._store.leases.acquire(account_id, wait, f"account {account_id}")


class _MemoryTransaction:
    """:meth:`MemoryAccount.transaction` (a plain class: the receive path opens one per
    batch): the account lock held, the task marked as holding a transaction, every write
    journaled and undone when the block raises."""

    __slots__ = ("_ctx", "_store", "_t", "_task")

    def __init__(self, store: MemoryStore, t: _Tables) -> None:
        self._store = store
        self._t = t
        self._task: asyncio.Task[object] | None = None
        self._ctx: _Ctx | None = None

    async def __aenter__(self) -> Transaction:
        store, t = self._store, self._t
        if self._ctx is not None:
            raise StoreError("a transaction is entered once")
        store.tx_tasks.check()
        await t.lock.acquire()
        if t.deleted:
            t.lock.release()
            raise AccountNotFound(f"account {t.account_id} was deleted")
        task = self._task = asyncio.current_task()
        if task is not None:
            store.tx_tasks.add(task)
        ctx = self._ctx = _Ctx(store, t, [])
        return _Data(ctx)

    async def __aexit__(self, *exc: object) -> None:
        ctx = self._ctx
        assert ctx is not None
        assert ctx.journal is not None
        try:
            if exc[0] is not None:  # the block raised
                _rollback(ctx.journal)
        finally:
            ctx.open = False
            self._t.lock.release()
            if self._task is not None:
                self._store.tx_tasks.discard(self._task)


class MemoryStore:
    """A store that keeps every account in memory (see :class:`wamd.store.Store`)."""

    def __init__(self) -> None:
        self._accounts: dict[int, _Tables] = {}
        self._ids = itertools.count(1)
        self.inbox_seq = itertools.count(1)
        self.leases = LocalLeases()
        self.tx_tasks = TxTasks()

    def __repr__(self) -> str:
        return f"<MemoryStore accounts={len(self._accounts)}>"

    def check_unique_jid(self, account_id: int, credentials: DeviceCredentials) -> None:
        """Raise :class:`StoreError` when another account already has this JID."""
        if credentials.jid is None:
            return
        for t in self._accounts.values():
            if t.account_id != account_id and t.credentials.jid == credentials.jid:
                raise StoreError(f"account {t.account_id} already has JID {credentials.jid}")

    async def accounts(self) -> list[AccountInfo]:
        """Every account, by id."""
        self.tx_tasks.check()
        return [
            AccountInfo(
                t.account_id,
                t.credentials.jid,
                t.credentials.lid,
                t.credentials.push_name,
                t.created_at,
            )
            for t in self._accounts.values()
        ]

    async def new_account(self, credentials: DeviceCredentials) -> MemoryAccount:
        """Create an account holding ``credentials``."""
        self.tx_tasks.check()
        account_id = next(self._ids)
        self.check_unique_jid(account_id, credentials)
        tables = _Tables(account_id, now(), replace(credentials, extra=dict(credentials.extra)))
        self._accounts[account_id] = tables
        return MemoryAccount(self, tables)

    def _find(self, key: int | str) -> _Tables:
        if isinstance(key, int):
            t = self._accounts.get(key)
            if t is not None:
                return t
        else:
            for t in self._accounts.values():
                if key in (t.credentials.jid, t.credentials.lid):
                    return t
        raise AccountNotFound(f"no account {key!r}")

    async def account(self, key: int | str) -> MemoryAccount:
        """The account with this id, device JID or LID."""
        self.tx_tasks.check()
        return MemoryAccount(self, self._find(key))

    async def delete_account(self, key: int | str) -> None:
        """Delete an account and everything it owns."""
        self.tx_tasks.check()
        t = self._find(key)
        async with t.lock.hold():
            t.deleted = True
            del self._accounts[t.account_id]
            self.leases.held.pop(t.account_id, None)

    async def close(self) -> None:
        """Nothing to release (kept for the common interface)."""
        self.leases.held.clear()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
