"""A minimal in-memory :class:`~wamd.signal.store.SignalStore` (tests, benchmarks, tools).

Applications use ``wamd.store`` (memory, SQLite, PostgreSQL), whose accounts satisfy the same
Protocol. This one has no transactions: :meth:`MemorySignalStore.transaction` yields the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager

from wamd.signal.keys import PreKey, SignedPreKey

__all__ = ["MemorySignalStore"]


class _BytesByAddress:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def get_many(self, addresses: Iterable[str]) -> dict[str, bytes]:
        return {a: self.data[a] for a in addresses if a in self.data}

    async def put_many(self, records: Mapping[str, bytes]) -> None:
        self.data.update(records)


class _PreKeys:
    def __init__(self) -> None:
        self.data: dict[int, PreKey] = {}

    async def get_many(self, key_ids: Iterable[int]) -> dict[int, PreKey]:
        return {i: self.data[i] for i in key_ids if i in self.data}

    async def remove(self, key_id: int) -> None:
        self.data.pop(key_id, None)


class _SignedPreKeys:
    def __init__(self) -> None:
        self.data: dict[int, SignedPreKey] = {}

    async def get(self, key_id: int) -> SignedPreKey | None:
        return self.data.get(key_id)


class _SenderKeys:
    def __init__(self) -> None:
        self.data: dict[tuple[str, str], bytes] = {}

    async def get_many(self, group: str, senders: Iterable[str]) -> dict[str, bytes]:
        return {s: self.data[group, s] for s in senders if (group, s) in self.data}

    async def put(self, group: str, sender: str, record: bytes) -> None:
        self.data[group, sender] = record


class MemorySignalStore:
    """Sessions, identities, prekeys, signed prekeys and sender keys in dictionaries."""

    def __init__(self) -> None:
        self.sessions = _BytesByAddress()
        self.identities = _BytesByAddress()
        self.prekeys = _PreKeys()
        self.signed_prekeys = _SignedPreKeys()
        self.sender_keys = _SenderKeys()

    def __repr__(self) -> str:
        return f"MemorySignalStore(sessions={len(self.sessions.data)})"

    def add_prekeys(self, prekeys: Iterable[PreKey]) -> None:
        """Make one-time prekeys available."""
        for prekey in prekeys:
            self.prekeys.data[prekey.key_id] = prekey

    def add_signed_prekey(self, prekey: SignedPreKey) -> None:
        """Make a signed prekey available."""
        self.signed_prekeys.data[prekey.key_id] = prekey

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MemorySignalStore]:
        """Yields the store itself (no isolation, no rollback)."""
        yield self
