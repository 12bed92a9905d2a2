"""The account handles and account registry shared by the SQL backends.

A backend subclasses :class:`SQLStore` and supplies: an autocommit :class:`Executor`, a way to
begin a transaction (:meth:`SQLStore._begin`), leases (:meth:`SQLStore._lease`) and ``close``.
"""

from __future__ import annotations

import abc
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Self

from wamd.errors import AccountNotFound, StoreError
from wamd.store._sync import finish
from wamd.store.interfaces import Lease, Transaction
from wamd.store.sealing import KeySource, Sealer, SealingSetup, aad
from wamd.store.sql.codec import encode_credentials
from wamd.store.sql.concerns import SQLData
from wamd.store.sql.executor import Executor
from wamd.store.types import AccountInfo, DeviceCredentials, now

__all__ = ["SQLAccount", "SQLStore", "open_sealer"]

_SEAL_KEYS = ("seal_scheme", "seal_salt", "seal_check")


async def open_sealer(x: Executor, source: KeySource | None) -> Sealer:
    """The sealer of the store behind ``x``: records the encryption settings of a new store,
    checks the key against those of an existing one (:class:`~wamd.errors.WrongStoreKey`)."""
    setup = SealingSetup(source)

    async def settings() -> dict[str, bytes]:
        cond, args = x.in_list("key", _SEAL_KEYS)
        rows = await x.fetch(f"SELECT key, value FROM wamd_meta WHERE {cond}", args)
        return {r[0]: bytes(r[1]) for r in rows}

    current = await settings()
    if not current:
        new, sealer = await setup.new_settings()
        await x.executemany(
            "INSERT INTO wamd_meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
            list(new.items()),
        )
        current = await settings()
        if current == new:
            return sealer
    return await setup.sealer(current)


class _AccountTransaction(AbstractAsyncContextManager[Transaction]):
    """``account.transaction()``: the backend's transaction, its executor wrapped in the
    account's concern stores. (A class rather than a generator: the receive path opens one
    per batch.)"""

    __slots__ = ("_account_id", "_sealer", "_tx")

    def __init__(
        self, tx: AbstractAsyncContextManager[Executor], account_id: int, sealer: Sealer
    ) -> None:
        self._tx = tx
        self._account_id = account_id
        self._sealer = sealer

    async def __aenter__(self) -> Transaction:
        return SQLData(await self._tx.__aenter__(), self._account_id, self._sealer)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return await self._tx.__aexit__(exc_type, exc, tb)


class SQLAccount(SQLData):
    """One account of an SQL store (see :class:`wamd.store.Account`)."""

    def __init__(self, store: SQLStore, account_id: int) -> None:
        super().__init__(store.auto, account_id, store.sealer)
        self._store = store
        self._id = account_id

    def __repr__(self) -> str:
        return f"<{type(self._store).__name__} account id={self._id}>"

    @property
    def id(self) -> int:
        """The account's id in the store."""
        return self._id

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A unit of work over this account (see :meth:`wamd.store.Account.transaction`)."""
        return _AccountTransaction(self._store._begin(), self._id, self._store.sealer)

    async def acquire_lease(self, *, wait: float | None = 0.0) -> Lease:
        """Take exclusive ownership of the account (see ``Account.acquire_lease``)."""
        return await self._store._acquire_lease(self._id, wait)


class SQLStore(abc.ABC):
    """Accounts over an SQL database (see :class:`wamd.store.Store`)."""

    auto: Executor
    sealer: Sealer

    def __init__(self) -> None:
        self._leases: list[Lease] = []
        self._closed = False

    @abc.abstractmethod
    def _begin(self) -> AbstractAsyncContextManager[Executor]:
        """A transaction: commits when the block exits normally, rolls back when it raises."""

    @abc.abstractmethod
    async def _lease(self, account_id: int, wait: float | None) -> Lease:
        """Take the lease of an account."""

    @abc.abstractmethod
    async def _close(self) -> None:
        """Close the database connections."""

    async def _acquire_lease(self, account_id: int, wait: float | None) -> Lease:
        lease = await self._lease(account_id, wait)
        self._leases = [held for held in self._leases if held.held]
        self._leases.append(lease)
        return lease

    async def close(self) -> None:
        """Release the leases taken through this store and close it (idempotent)."""
        if self._closed:
            return
        self._closed = True
        # (run to its end through cancellations: a second call returns at once, so a close
        # given up half-way would leave leases held and connections open for good)
        await finish(self._close_all())

    async def _close_all(self) -> None:
        for lease in self._leases:
            await lease.release()
        self._leases.clear()
        await self._close()

    async def accounts(self) -> list[AccountInfo]:
        """Every account, by id."""
        rows = await self.auto.fetch(
            "SELECT id, jid, lid, push_name, created_at FROM accounts ORDER BY id"
        )
        return [AccountInfo(int(r[0]), r[1], r[2], r[3], int(r[4])) for r in rows]

    async def new_account(self, credentials: DeviceCredentials) -> SQLAccount:
        """Create an account holding ``credentials``."""
        async with self._begin() as x:
            if credentials.jid is not None:
                other = await x.fetchrow("SELECT id FROM accounts WHERE jid = ?", [credentials.jid])
                if other is not None:
                    raise StoreError(f"account {other[0]} already has JID {credentials.jid}")
            row = await x.fetchrow(
                "INSERT INTO accounts (jid, lid, push_name, created_at, credentials) "
                "VALUES (?, ?, ?, ?, ?) RETURNING id",
                [credentials.jid, credentials.lid, credentials.push_name, now(), b""],
            )
            assert row is not None
            account_id = int(row[0])
            blob = self.sealer.seal(encode_credentials(credentials), aad("accounts", account_id))
            await x.write("UPDATE accounts SET credentials = ? WHERE id = ?", [blob, account_id])
        return SQLAccount(self, account_id)

    async def _find(self, key: int | str) -> int:
        if isinstance(key, int):
            row = await self.auto.fetchrow("SELECT id FROM accounts WHERE id = ?", [key])
        else:
            row = await self.auto.fetchrow(
                "SELECT id FROM accounts WHERE jid = ? OR lid = ? ORDER BY id LIMIT 1", [key, key]
            )
        if row is None:
            raise AccountNotFound(f"no account {key!r}")
        return int(row[0])

    async def account(self, key: int | str) -> SQLAccount:
        """The account with this id, device JID or LID."""
        return SQLAccount(self, await self._find(key))

    async def delete_account(self, key: int | str) -> None:
        """Delete an account and everything it owns."""
        account_id = await self._find(key)
        if not await self.auto.execute("DELETE FROM accounts WHERE id = ?", [account_id]):
            raise AccountNotFound(f"no account {key!r}")

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
