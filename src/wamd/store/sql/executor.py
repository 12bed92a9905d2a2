"""What the shared SQL code needs from a backend: run statements, in or out of a transaction.

Statements are written once, with ``?`` placeholders and SQL that SQLite and PostgreSQL both
accept (``ON CONFLICT ... DO UPDATE``, ``RETURNING``, row values); the PostgreSQL executor
renumbers the placeholders. Backend errors come out as :class:`~wamd.errors.StoreError`.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from wamd.store.sql.statements import insert_unless_present

__all__ = ["Executor", "Row", "same_executor"]

Row = Sequence[Any]


class Executor(abc.ABC):
    """Runs statements for the concern stores of one account handle or transaction."""

    @abc.abstractmethod
    async def execute(self, sql: str, args: Sequence[object] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""

    async def write(self, sql: str, args: Sequence[object] = ()) -> None:
        """Run one statement whose result nobody needs. In a transaction a backend may hold it
        back and send it along with the next statement or the commit, saving a round trip; an
        error of it then comes from that later call, and the transaction cannot commit."""
        await self.execute(sql, args)

    async def insert_rows(self, sql: str, args: Sequence[object], rows: int, key: str) -> list[int]:
        """Run ``sql``, an ``INSERT`` of ``rows`` rows into a table whose integer primary key
        ``key`` the database assigns, increasing; returns the keys of the new rows in the
        order of the rows. (This default appends ``RETURNING``; SQLite works the keys out from
        the last rowid instead, as a ``RETURNING`` costs it a temporary table per statement.)"""
        found = await self.fetch(f"{sql} RETURNING {key}", args)
        # (one statement assigns increasing keys in the order of its rows, whatever the order
        # RETURNING lists them in)
        return sorted(int(r[0]) for r in found)

    async def insert_new(
        self, table: str, columns: tuple[str, ...], key: int, rows: Sequence[Sequence[object]]
    ) -> list[bool]:
        """Insert ``rows`` (values of ``columns``) into ``table``, except those whose key (the
        values of the first ``key`` columns: a unique key of the table) is there already;
        whether each row was inserted. The rows' keys must be distinct. (This default is one
        ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` the keys; SQLite, where a ``RETURNING``
        costs a temporary table per statement, tries a plain ``INSERT`` of every row and asks
        which keys are there only when it fails on one.)"""
        sql = insert_unless_present(table, columns, len(rows), columns[:key])
        found = {tuple(r) for r in await self.fetch(sql, [v for row in rows for v in row])}
        return [tuple(row[:key]) in found for row in rows]

    @abc.abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        """Run one statement for each argument row (held back in a transaction, like
        :meth:`write`, where the backend can)."""

    @abc.abstractmethod
    async def fetch(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        """Run a query; returns every row."""

    async def fetchrow(self, sql: str, args: Sequence[object] = ()) -> Row | None:
        """Run a query; returns its first row, if any."""
        rows = await self.fetch(sql, args)
        return rows[0] if rows else None

    @abc.abstractmethod
    def atomic(self) -> AbstractAsyncContextManager[Executor]:
        """An executor whose statements commit together: a transaction of its own, or this
        executor itself when it already runs inside one."""

    @abc.abstractmethod
    def in_list(self, column: str, values: Sequence[object]) -> tuple[str, list[object]]:
        """A ``column IN (...)`` condition for ``values`` and its arguments."""


@asynccontextmanager
async def same_executor(x: Executor) -> AsyncIterator[Executor]:
    """``atomic()`` of an executor already inside a transaction: the executor itself."""
    yield x
