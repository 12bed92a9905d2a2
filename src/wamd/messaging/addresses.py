"""One Signal identity per contact device, whichever JID form a stanza uses.

A device has a phone-number JID (``155512:3@s.whatsapp.net``) and, once known, a LID
(``8812:3@lid``). Its Signal session is stored under **one** address: the LID form when the
LID is known (as WhatsApp Web, whatsmeow and Baileys do), else the phone-number form. When a
LID becomes known for a device that has a session under its phone-number address, that
session moves to the LID address (:meth:`AddressBook.canonical` does it once, under the
device's locks).

:class:`AddressLocks` hands out one lock per address; :meth:`AddressBook.lock` takes the locks
of *every* form of a device (both the phone-number and the LID address, in sorted order), so
two stanzas naming the same device differently can never mutate its session concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable

from wamd.store import Account
from wamd.types import JID, LID_SERVER, USER_SERVER

__all__ = ["AddressBook", "AddressLocks"]


_RECENT_LOCKS = 256


class AddressLocks:
    """A lock per Signal address, created on demand and forgotten when unused."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._recent: dict[str, asyncio.Lock] = {}
        """The locks of the last addresses used, kept alive (a sender that writes again
        finds its lock instead of a new one per receive batch); cleared when full."""

    def get(self, address: str) -> asyncio.Lock:
        """The lock of ``address``."""
        lock = self._recent.get(address)
        if lock is None:
            lock = self._locks.get(address)
            if lock is None:
                lock = asyncio.Lock()
                self._locks[address] = lock
            if len(self._recent) >= _RECENT_LOCKS:
                self._recent.clear()
            self._recent[address] = lock
        return lock

    def hold(self, addresses: Iterable[str]) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold the locks of ``addresses`` (taken in sorted order: no deadlock)."""
        return _Held([self.get(a) for a in sorted(set(addresses))])


class _Held:
    """Holds a list of locks, taken in order and released in reverse (a plain class: the
    receive path takes one per batch, a generator-based context manager costs more)."""

    __slots__ = ("_count", "_locks")

    def __init__(self, locks: list[asyncio.Lock]) -> None:
        self._locks = locks
        self._count = 0

    async def __aenter__(self) -> None:
        try:
            for lock in self._locks:
                await lock.acquire()
                self._count += 1
        except BaseException:
            self._release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        locks, count = self._locks, self._count
        self._count = 0
        while count:
            count -= 1
            locks[count].release()


MAX_REMEMBERED = 20_000
"""LID<->phone-number pairs (and migrated addresses) kept in memory by default; the store's
LID map holds them all, this is only its cache."""


class _Recent(OrderedDict[str, str]):
    """A mapping that keeps its ``limit`` most recently written or read entries."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def lookup(self, key: str) -> str | None:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def keep(self, key: str, value: str) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class AddressBook:
    """Maps device JIDs to their canonical Signal address through the store's LID map.

    The LID map is cached in memory, at most ``max_remembered`` pairs (least recently used
    dropped first, then read from the store again): senders named by the network cannot
    grow it without bound.
    """

    def __init__(
        self,
        account: Account,
        locks: AddressLocks | None = None,
        *,
        max_remembered: int = MAX_REMEMBERED,
        moved: Callable[[Iterable[str]], None] | None = None,
    ) -> None:
        self.account = account
        self._moved = moved
        """Told the addresses whose sessions a PN->LID move rewrote (the cipher forgets them)."""
        self.locks = locks or AddressLocks()
        self._lid_of = _Recent(max_remembered)
        self._pn_of = _Recent(max_remembered)
        self._migrated = _Recent(max_remembered)
        self._remembering = asyncio.Lock()

    def __repr__(self) -> str:
        return f"AddressBook(known={len(self._lid_of)})"

    # --- the LID map -------------------------------------------------------------------------

    async def remember(self, pairs: Iterable[tuple[JID, JID]]) -> None:
        """Record ``(lid, pn)`` pairs (user parts) in the store's LID map.

        One write at a time: two callers that learn the same pair at once (a receive batch
        and a group send) would otherwise both replace its row, and on a store whose
        transactions do not see each other's uncommitted rows (PostgreSQL) the second insert
        hits the first one's row. The pairs the first wrote are skipped by the second.
        """
        rows = self._unknown(pairs)
        if not rows:
            return
        async with self._remembering:
            rows = [(lid, pn) for lid, pn in rows if self._lid_of.lookup(pn) != lid]
            if rows:
                await self.account.lid_map.put_many(rows)
                for lid_user, pn_user in rows:
                    self._pair(lid_user, pn_user)

    def _unknown(self, pairs: Iterable[tuple[JID, JID]]) -> list[tuple[str, str]]:
        """The ``(lid, pn)`` user pairs of ``pairs`` not already in the cache."""
        return [
            (lid.user, pn.user)
            for lid, pn in pairs
            if lid.is_lid and pn.is_pn and self._lid_of.lookup(pn.user) != lid.user
        ]

    def _pair(self, lid_user: str, pn_user: str) -> None:
        self._lid_of.keep(pn_user, lid_user)
        self._pn_of.keep(lid_user, pn_user)

    async def lid_user(self, pn_user: str) -> str | None:
        """The LID user of a phone-number user, when known."""
        cached = self._lid_of.lookup(pn_user)
        if cached is None:
            cached = await self.account.lid_map.lid_for_pn(pn_user)
            if cached is not None:
                self._pair(cached, pn_user)
        return cached

    async def lid_users(self, pn_users: Iterable[str]) -> dict[str, str]:
        """LID users by phone-number user, for those known."""
        users = list(dict.fromkeys(pn_users))
        result = {u: lid for u in users if (lid := self._lid_of.lookup(u)) is not None}
        wanted = [u for u in users if u not in result]
        if wanted:
            found = await self.account.lid_map.lids_for_pns(wanted)
            for pn_user, lid_user in found.items():
                self._pair(lid_user, pn_user)
                result[pn_user] = lid_user
        return result

    async def pn_user(self, lid_user: str) -> str | None:
        """The phone-number user of a LID user, when known."""
        cached = self._pn_of.lookup(lid_user)
        if cached is None:
            cached = await self.account.lid_map.pn_for_lid(lid_user)
            if cached is not None:
                self._pair(lid_user, cached)
        return cached

    # --- canonical forms ---------------------------------------------------------------------

    async def to_lid(self, jid: JID) -> JID:
        """The LID form of a phone-number device when known, else ``jid`` itself."""
        if jid.server != USER_SERVER:
            return jid
        lid = await self.lid_user(jid.user)
        return jid if lid is None else JID._make(lid, LID_SERVER, 0, jid.device)

    async def forms(self, jid: JID) -> list[JID]:
        """Every known form of a device (itself first)."""
        if jid.server == USER_SERVER:
            lid = await self.lid_user(jid.user)
            return [jid] if lid is None else [jid, JID._make(lid, LID_SERVER, 0, jid.device)]
        if jid.server == LID_SERVER:
            pn = await self.pn_user(jid.user)
            return [jid] if pn is None else [jid, JID._make(pn, USER_SERVER, 0, jid.device)]
        return [jid]

    async def addresses(self, jid: JID) -> list[str]:
        """The Signal addresses of every known form of a device (the lock names)."""
        return [f.signal_address for f in await self.forms(jid)]

    async def canonical(self, jid: JID) -> JID:
        """The form a device's session is stored under (LID when known), moving a session
        stored under the phone-number address to the LID address first.

        Call it while holding the device's locks (:meth:`lock`).
        """
        target = await self.to_lid(jid)
        if target is jid or self._migrated.lookup(jid.signal_address) is not None:
            return target
        await self._migrate(jid.signal_address, target.signal_address)
        return target

    async def _migrate(self, old: str, new: str) -> None:
        found = await self.account.sessions.get_many([old, new])
        if old in found:
            try:
                async with self.account.transaction() as tx:
                    if new not in found:
                        await tx.sessions.put(new, found[old])
                        identity = await tx.identities.get(old)
                        if identity is not None:
                            await tx.identities.put(new, identity)
                    await tx.sessions.delete(old)
            finally:  # whatever the outcome: the next batch reads both from the store
                if self._moved is not None:
                    self._moved((old, new))
        self._migrated.keep(old, new)

    def lock(self, jids: Iterable[JID]) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold the locks of every form of every device in ``jids``."""
        return _BookLock(self, jids)


class _BookLock:
    """:meth:`AddressBook.lock`: the names are looked up when it is entered."""

    __slots__ = ("_book", "_held", "_jids")

    def __init__(self, book: AddressBook, jids: Iterable[JID]) -> None:
        self._book = book
        self._jids = jids
        self._held: contextlib.AbstractAsyncContextManager[None] | None = None

    async def __aenter__(self) -> None:
        names: list[str] = []
        for jid in dict.fromkeys(self._jids):  # a batch names its sender once per message
            names += await self._book.addresses(jid)
        self._held = self._book.locks.hold(names)
        await self._held.__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        held, self._held = self._held, None
        if held is not None:
            await held.__aexit__(None, None, None)
