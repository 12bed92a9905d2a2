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
from collections.abc import AsyncIterator, Iterable

from wamd.store import Account
from wamd.types import JID, LID_SERVER, USER_SERVER

__all__ = ["AddressBook", "AddressLocks"]


class AddressLocks:
    """A lock per Signal address, created on demand and forgotten when unused."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def get(self, address: str) -> asyncio.Lock:
        """The lock of ``address``."""
        lock = self._locks.get(address)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[address] = lock
        return lock

    @contextlib.asynccontextmanager
    async def hold(self, addresses: Iterable[str]) -> AsyncIterator[None]:
        """Hold the locks of ``addresses`` (taken in sorted order: no deadlock)."""
        locks = [self.get(a) for a in sorted(set(addresses))]
        async with contextlib.AsyncExitStack() as stack:
            for lock in locks:
                await stack.enter_async_context(lock)
            yield


class AddressBook:
    """Maps device JIDs to their canonical Signal address through the store's LID map."""

    def __init__(self, account: Account, locks: AddressLocks | None = None) -> None:
        self.account = account
        self.locks = locks or AddressLocks()
        self._lid_of: dict[str, str] = {}
        self._pn_of: dict[str, str] = {}
        self._migrated: set[str] = set()

    def __repr__(self) -> str:
        return f"AddressBook(known={len(self._lid_of)})"

    # --- the LID map -------------------------------------------------------------------------

    async def remember(self, pairs: Iterable[tuple[JID, JID]]) -> None:
        """Record ``(lid, pn)`` pairs (user parts) in the store's LID map."""
        rows = []
        for lid, pn in pairs:
            if not (lid.is_lid and pn.is_pn):
                continue
            if self._lid_of.get(pn.user) == lid.user:
                continue
            rows.append((lid.user, pn.user))
        if rows:
            await self.account.lid_map.put_many(rows)
            for lid_user, pn_user in rows:
                self._lid_of[pn_user] = lid_user
                self._pn_of[lid_user] = pn_user

    async def lid_user(self, pn_user: str) -> str | None:
        """The LID user of a phone-number user, when known."""
        cached = self._lid_of.get(pn_user)
        if cached is None:
            cached = await self.account.lid_map.lid_for_pn(pn_user)
            if cached is not None:
                self._lid_of[pn_user] = cached
                self._pn_of[cached] = pn_user
        return cached

    async def lid_users(self, pn_users: Iterable[str]) -> dict[str, str]:
        """LID users by phone-number user, for those known."""
        wanted = [u for u in dict.fromkeys(pn_users) if u not in self._lid_of]
        if wanted:
            found = await self.account.lid_map.lids_for_pns(wanted)
            for pn_user, lid_user in found.items():
                self._lid_of[pn_user] = lid_user
                self._pn_of[lid_user] = pn_user
        return {u: self._lid_of[u] for u in pn_users if u in self._lid_of}

    async def pn_user(self, lid_user: str) -> str | None:
        """The phone-number user of a LID user, when known."""
        cached = self._pn_of.get(lid_user)
        if cached is None:
            cached = await self.account.lid_map.pn_for_lid(lid_user)
            if cached is not None:
                self._pn_of[lid_user] = cached
                self._lid_of[cached] = lid_user
        return cached

    # --- canonical forms ---------------------------------------------------------------------

    async def to_lid(self, jid: JID) -> JID:
        """The LID form of a phone-number device when known, else ``jid`` itself."""
        if jid.server != USER_SERVER:
            return jid
        lid = await self.lid_user(jid.user)
        return jid if lid is None else JID(lid, LID_SERVER, device=jid.device)

    async def forms(self, jid: JID) -> list[JID]:
        """Every known form of a device (itself first)."""
        if jid.server == USER_SERVER:
            lid = await self.lid_user(jid.user)
            return [jid] if lid is None else [jid, JID(lid, LID_SERVER, device=jid.device)]
        if jid.server == LID_SERVER:
            pn = await self.pn_user(jid.user)
            return [jid] if pn is None else [jid, JID(pn, USER_SERVER, device=jid.device)]
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
        if target is jid or jid.signal_address in self._migrated:
            return target
        await self._migrate(jid.signal_address, target.signal_address)
        return target

    async def _migrate(self, old: str, new: str) -> None:
        found = await self.account.sessions.get_many([old, new])
        if old in found:
            async with self.account.transaction() as tx:
                if new not in found:
                    await tx.sessions.put(new, found[old])
                    identity = await tx.identities.get(old)
                    if identity is not None:
                        await tx.identities.put(new, identity)
                await tx.sessions.delete(old)
        self._migrated.add(old)

    @contextlib.asynccontextmanager
    async def lock(self, jids: Iterable[JID]) -> AsyncIterator[None]:
        """Hold the locks of every form of every device in ``jids``."""
        names: list[str] = []
        for jid in jids:
            names += await self.addresses(jid)
        async with self.locks.hold(names):
            yield
