"""Statement texts built from a row count, shared by the concern stores and the executors.

Each builder is cached: the same statement comes back as the same string object, which the
driver's statement cache finds at once (and the text is not joined again per batch).
"""

from __future__ import annotations

import functools

__all__ = ["ROWS", "exists_each", "insert_all", "insert_rows", "insert_unless_present"]

ROWS = 100
"""Rows of one multi-row statement (5 parameters each: under SQLite's oldest limit of 999)."""


@functools.lru_cache(maxsize=64)
def insert_rows(head: str, row: str, count: int) -> str:
    """``head`` (an ``INSERT ... VALUES``) followed by ``count`` times ``row``."""
    return head + ", ".join([row] * count)


def _placeholders(count: int) -> str:
    return f"({', '.join('?' * count)})"


@functools.lru_cache(maxsize=64)
def insert_all(table: str, columns: tuple[str, ...], count: int) -> str:
    """A plain ``INSERT`` of ``count`` rows of ``columns`` into ``table`` (it fails, and
    inserts none of them, when the unique key of one is there already)."""
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    return insert_rows(head, _placeholders(len(columns)), count)


@functools.lru_cache(maxsize=64)
def insert_unless_present(
    table: str, columns: tuple[str, ...], count: int, returning: tuple[str, ...] = ()
) -> str:
    """An ``INSERT`` of ``count`` rows of ``columns`` into ``table`` that skips a row whose
    unique key is there already (``ON CONFLICT DO NOTHING``), ``RETURNING`` the columns
    ``returning`` of the rows it inserted when there are any."""
    sql = insert_all(table, columns, count) + " ON CONFLICT DO NOTHING"
    return f"{sql} RETURNING {', '.join(returning)}" if returning else sql


@functools.lru_cache(maxsize=64)
def exists_each(table: str, key: tuple[str, ...], count: int) -> str:
    """A query of one row: for each of ``count`` keys (values of the ``key`` columns, in
    that order), whether ``table`` holds a row with it. (One ``EXISTS`` subquery a key, each
    a lookup in the key's index: no temporary table, unlike a row-value ``IN`` list.)"""
    where = " AND ".join(f"{column} = ?" for column in key)
    probe = f"EXISTS (SELECT 1 FROM {table} WHERE {where})"
    return "SELECT " + ", ".join([probe] * count)
