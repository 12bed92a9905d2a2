"""The PostgreSQL store: asyncpg connection pool, advisory-lock leases, optional schema.

Statements come from the shared SQL code with ``?`` placeholders, renumbered to ``$n`` here.
Transactions run on one pooled connection at PostgreSQL's default isolation (read committed);
every write the store makes is an upsert or a keyed delete, so concurrent transactions on one
account interleave safely and each commits all or nothing.

Leases are session-level advisory locks held on a dedicated connection: a crashed owner's
connection closes with its process and the server releases the lock at once. (Do not put a
transaction-pooling proxy such as PgBouncer in transaction mode between wamd and the server:
session locks need a real session.)
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import zlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import lru_cache
from typing import Any

import asyncpg

from wamd.errors import StoreError
from wamd.store._sync import LeaseBase, TxTasks, finish, poll_acquire
from wamd.store.interfaces import Lease
from wamd.store.sealing import KeySource, Sealer
from wamd.store.sql.base import SQLStore, open_sealer
from wamd.store.sql.executor import Executor, Row, same_executor
from wamd.store.sql.migrations import Migrations, load_migrations

__all__ = ["PostgresStore", "migrate"]

MIGRATIONS: Migrations = load_migrations("wamd.store.postgres")

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


def _error(exc: BaseException) -> StoreError:
    return StoreError(f"postgres: {type(exc).__name__}: {exc}")


@lru_cache(maxsize=2048)
def _numbered(sql: str) -> str:
    """``?`` placeholders -> ``$1, $2, ...`` (the shared statements hold no literal ``?``)."""
    counter = iter(range(1, 10_000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


def _rowcount(status: str) -> int:
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def _lock_class(schema: str) -> int:
    """The advisory-lock class (int4) of a schema's wamd locks; object 0 is migrations,
    object n the lease of account n."""
    value = zlib.crc32(f"wamd:{schema}".encode())
    return value - (1 << 32) if value >= 1 << 31 else value


async def migrate(conn: asyncpg.Connection, schema: str, target: int | None = None) -> int:
    """Bring the schema to ``target`` (default: latest) under a migration lock; returns the
    version reached. Each step is one transaction."""
    try:
        while True:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1, 0)", _lock_class(schema))
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS wamd_version (version BIGINT NOT NULL)"
                )
                current = await conn.fetchval("SELECT version FROM wamd_version") or 0
                steps = MIGRATIONS.plan(int(current), target)
                if not steps:
                    return int(current)
                step = steps[0]
                await conn.execute(step.sql)
                await conn.execute("DELETE FROM wamd_version")
                await conn.execute("INSERT INTO wamd_version (version) VALUES ($1)", step.version)
    except _DB_ERRORS as exc:
        raise _error(exc) from exc


async def _rollback(conn: asyncpg.Connection) -> None:
    """ROLLBACK, waited for through cancellations, so that the connection goes back to the pool
    outside any transaction (asyncpg would roll back on release too, but reports the leftover
    transaction as an error, and a transaction it did not start is not one it knows about).
    Errors are ignored: a broken connection has no transaction left, and the pool discards it.
    Raises :class:`asyncio.CancelledError` afterwards when the caller was cancelled meanwhile."""
    with contextlib.suppress(*_DB_ERRORS):
        await finish(conn.execute("ROLLBACK"))


async def _close(conn: asyncpg.Connection) -> None:
    """Close a lease's connection, waited for through cancellations: its session (and with it
    the advisory lock) must be gone when the caller goes on, not whenever the server notices."""
    with contextlib.suppress(*_DB_ERRORS):
        await finish(conn.close())


class _PgExecutor(Executor):
    """Statements on a pooled connection (autocommit) or on a transaction's connection."""

    def __init__(self, store: PostgresStore, conn: asyncpg.Connection | None) -> None:
        self._store = store
        self._tx_conn = conn
        self.open = True

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[asyncpg.Connection]:
        if self._tx_conn is not None:
            if not self.open:
                raise StoreError("the transaction is finished")
            yield self._tx_conn
            return
        self._store._tx_tasks.check()
        try:
            async with self._store._pool.acquire() as conn:
                yield conn
        except _DB_ERRORS as exc:
            raise _error(exc) from exc

    async def execute(self, sql: str, args: Sequence[object] = ()) -> int:
        async with self._conn() as conn:
            try:
                return _rowcount(await conn.execute(_numbered(sql), *args))
            except _DB_ERRORS as exc:
                raise _error(exc) from exc

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        rows = list(rows)
        if not rows:
            return
        if self._tx_conn is None:  # the batch commits as a whole
            async with self.atomic() as x:
                await x.executemany(sql, rows)
            return
        async with self._conn() as conn:
            try:
                await conn.executemany(_numbered(sql), rows)
            except _DB_ERRORS as exc:
                raise _error(exc) from exc

    async def fetch(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        async with self._conn() as conn:
            try:
                return list(await conn.fetch(_numbered(sql), *args))
            except _DB_ERRORS as exc:
                raise _error(exc) from exc

    def atomic(self) -> AbstractAsyncContextManager[Executor]:
        if self._tx_conn is not None:
            return same_executor(self)
        return self._store._begin()

    def in_list(self, column: str, values: Sequence[object]) -> tuple[str, list[object]]:
        return f"{column} = ANY(?)", [list(values)]


class _AdvisoryLease(LeaseBase):
    def __init__(self, lock_class: int, account_id: int, conn: asyncpg.Connection) -> None:
        super().__init__(f"account {account_id}")
        self._lock_class = lock_class
        self._account_id = account_id
        self._conn = conn

    @property
    def held(self) -> bool:
        """Whether the lease is held (``False`` once released or its connection is lost)."""
        return self._held and not self._conn.is_closed()

    async def _release(self) -> None:
        # (closing the session releases the lock: no unlock statement, which a cancellation
        # could leave half-done)
        await _close(self._conn)


class PostgresStore(SQLStore):
    """A store in a PostgreSQL database (see :class:`wamd.store.Store`); use :meth:`connect`."""

    def __init__(
        self, pool: asyncpg.Pool, schema: str, connect_args: dict[str, Any], sealer: Sealer
    ) -> None:
        """Use :meth:`connect`."""
        super().__init__()
        self._pool = pool
        self.schema = schema
        self._connect_args = connect_args
        self._tx_tasks = TxTasks()
        self.sealer = sealer
        self.auto = _PgExecutor(self, None)

    def __repr__(self) -> str:
        return f"<PostgresStore schema={self.schema!r}>"

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        schema: str | None = None,
        key: KeySource | None = None,
        min_size: int = 1,
        max_size: int = 10,
    ) -> PostgresStore:
        """Connect to the database at ``dsn`` (creating or upgrading the schema as needed).

        Args:
            dsn: a libpq connection string or URL (``postgresql://user@host/db``).
            schema: keep the tables in this schema (created if missing) instead of the
                connection's default; lower-case letters, digits and ``_``.
            key: the at-rest encryption key (see ``SQLiteStore.open``); ``None`` for plaintext.
            min_size, max_size: bounds of the connection pool.

        Raises:
            SchemaTooNew, WrongStoreKey, StoreError: as ``SQLiteStore.open``.
        """
        settings: dict[str, str] = {}
        if schema is not None:
            if not _SCHEMA_NAME.match(schema):
                raise ValueError(f"invalid schema name {schema!r}")
            settings["search_path"] = schema
        connect_args: dict[str, Any] = {"dsn": dsn, "server_settings": settings}
        try:
            if schema is not None:
                conn = await asyncpg.connect(dsn)
                try:
                    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                finally:
                    await conn.close()
            pool = await asyncpg.create_pool(min_size=min_size, max_size=max_size, **connect_args)
        except _DB_ERRORS as exc:
            raise _error(exc) from exc
        try:
            async with pool.acquire() as conn:
                actual = schema or await conn.fetchval("SELECT current_schema()")
                if actual is None:
                    raise StoreError("the connection has no current schema")
                await migrate(conn, actual)
            store = cls(pool, actual, connect_args, Sealer())
            store.sealer = await open_sealer(store.auto, key)
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, _DB_ERRORS):
                raise _error(exc) from exc
            raise
        return store

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[Executor]:
        with self._tx_tasks.enter():
            async with self._transaction() as x:
                yield x

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Executor]:
        try:
            conn = await self._pool.acquire()
        except _DB_ERRORS as exc:
            raise _error(exc) from exc
        try:
            try:
                await conn.execute("BEGIN")
            except _DB_ERRORS as exc:
                raise _error(exc) from exc
            except BaseException:
                # Cancelled (or timed out) around the BEGIN: it may have run on the server
                # all the same. End it here, before the connection goes back to the pool.
                await _rollback(conn)
                raise
            x = _PgExecutor(self, conn)
            try:
                yield x
            except BaseException:
                x.open = False
                await _rollback(conn)
                raise
            x.open = False
            try:
                await conn.execute("COMMIT")
            except BaseException as exc:
                # (a COMMIT cancelled in flight may have committed: the ROLLBACK then finds
                # no transaction and undoes nothing)
                await _rollback(conn)
                if isinstance(exc, _DB_ERRORS):
                    raise _error(exc) from exc
                raise
        finally:
            await self._pool.release(conn)  # (shielded by asyncpg)

    async def _lease(self, account_id: int, wait: float | None) -> Lease:
        if not 0 < account_id < 1 << 31:
            raise StoreError("account ids beyond 2**31 cannot be leased")
        # (connecting runs to its end even when the caller is cancelled: asyncpg reports a
        # handshake cancelled half-way as an error nobody retrieved)
        connecting = asyncio.ensure_future(asyncpg.connect(**self._connect_args))
        try:
            conn: asyncpg.Connection = await finish(connecting)
        except _DB_ERRORS as exc:
            raise _error(exc) from exc
        except asyncio.CancelledError:
            if not connecting.cancelled() and connecting.exception() is None:
                await _close(connecting.result())
            raise

        async def try_once() -> bool:
            try:
                return bool(
                    await conn.fetchval(
                        "SELECT pg_try_advisory_lock($1, $2)", _lock_class(self.schema), account_id
                    )
                )
            except _DB_ERRORS as exc:
                raise _error(exc) from exc

        try:
            await poll_acquire(try_once, wait, f"account {account_id} in schema {self.schema}")
        except BaseException:
            await _close(conn)  # (the lock may have been granted as the wait was cancelled)
            raise
        return _AdvisoryLease(_lock_class(self.schema), account_id, conn)

    async def _close(self) -> None:
        await self._pool.close()
