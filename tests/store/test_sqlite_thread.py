"""The SQLite store's writer thread (:class:`wamd.store.sqlite.worker.Worker`), the one
aiosqlite internal the store relies on, and the batching of a transaction's statements."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import aiosqlite
import pytest

from tests.store.conftest import make_credentials
from wamd.errors import StoreError
from wamd.store.sqlite import SQLiteStore
from wamd.store.sqlite.worker import Worker

T = TypeVar("T")


async def test_aiosqlite_exposes_its_sqlite3_connection(tmp_path: Path) -> None:
    # fails loudly if aiosqlite drops or changes Connection._conn (the store's writer thread
    # uses the sqlite3 connection that aiosqlite opened and migrated)
    conn = await aiosqlite.connect(tmp_path / "x.db", isolation_level=None)
    try:
        assert isinstance(conn._conn, sqlite3.Connection)
    finally:
        await conn.close()


async def test_the_worker_runs_calls_in_order_on_its_thread(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "x.db", isolation_level=None, check_same_thread=False)
    worker = Worker(db)
    try:
        begin = asyncio.ensure_future(worker.run(lambda db: db.execute("BEGIN")))
        await asyncio.sleep(0)  # (queued, maybe not finished)
        ident, in_tx = await worker.run(lambda db: (threading.get_ident(), db.in_transaction))
        await begin
        assert ident != threading.get_ident()
        assert in_tx  # ran after the BEGIN queued before it
        assert worker.idle
        with pytest.raises(sqlite3.OperationalError):
            await worker.run(lambda db: db.execute("NOT SQL"))
        cancelled = asyncio.ensure_future(worker.run(lambda db: db.execute("ROLLBACK")))
        await asyncio.sleep(0)
        cancelled.cancel()  # (it runs all the same)
        assert await worker.run(lambda db: db.in_transaction) is False
        assert worker.idle
    finally:
        await worker.close()
        await worker.close()  # (idempotent)
        db.close()
    with pytest.raises(sqlite3.ProgrammingError):  # (not a call that never returns)
        await worker.run(lambda db: None)


def _count_calls(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the store's calls to its writer's worker thread (the real calls still run)."""
    calls = [0]
    real = store._calls.run

    async def counted(fn: Callable[[sqlite3.Connection], T]) -> T:
        calls[0] += 1
        return await real(fn)

    monkeypatch.setattr(store._calls, "run", counted)
    return calls


async def test_a_transaction_of_writes_is_one_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await SQLiteStore.open(tmp_path / "x.db")
    try:
        account = await store.new_account(make_credentials())
        calls = _count_calls(store, monkeypatch)
        async with account.transaction() as tx:
            await tx.sessions.put_many({"1.0": b"a"})
            await tx.sessions.put("2.0", b"b")
            await tx.inbox.mark_done([1, 2])
        assert calls == [1]  # BEGIN, the writes and COMMIT together
        async with account.transaction() as tx:
            await tx.sessions.put_many({"3.0": b"c"})
            assert await tx.sessions.get("3.0") == b"c"  # (read-your-writes)
        # BEGIN, the write and the read on the event loop's thread; only COMMIT goes there
        assert calls == [2]
        async with account.transaction():
            pass
        assert calls == [2]  # nothing to begin or commit
        assert await account.sessions.get_many(["1.0", "2.0", "3.0"]) == {
            "1.0": b"a",
            "2.0": b"b",
            "3.0": b"c",
        }
    finally:
        await store.close()


async def test_a_failed_held_back_write_fails_the_whole_transaction(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "x.db")
    try:
        account = await store.new_account(make_credentials())
        duplicate = "INSERT INTO wamd_meta (key, value) VALUES (?, ?)"

        async def body() -> None:
            async with account.transaction() as tx:
                await tx.sessions.put_many({"1.0": b"a"})
                x = tx.sessions._x  # type: ignore[attr-defined]  # (the transaction's)
                await x.write(duplicate, ["k", b"1"])
                await x.write(duplicate, ["k", b"2"])  # held back: no error yet
                with pytest.raises(StoreError, match="UNIQUE"):
                    await tx.sessions.get("1.0")  # ran after them: the error comes here
                with pytest.raises(StoreError, match="failed"):
                    await tx.sessions.get("1.0")  # the transaction is refused from now on
                await tx.sessions.put("2.0", b"b")  # (held back: refused at COMMIT)

        with pytest.raises(StoreError, match="failed"):
            await body()
        # nothing of it committed, and the connection is clean for the next transaction
        assert await account.sessions.get_many(["1.0", "2.0"]) == {}
        assert await store.auto.fetch("SELECT key FROM wamd_meta WHERE key = 'k'") == []
        async with account.transaction() as tx:
            await tx.sessions.put("3.0", b"c")
        assert await account.sessions.get("3.0") == b"c"
    finally:
        await store.close()


async def test_statements_after_begin_run_here_and_commit_on_the_worker(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "x.db")
    try:
        account = await store.new_account(make_credentials())
        here = threading.get_ident()
        seen: list[int] = []

        real = store._calls.run

        async def spy(fn: Callable[[sqlite3.Connection], T]) -> T:
            def where(db: sqlite3.Connection) -> T:
                seen.append(threading.get_ident())
                return fn(db)

            return await real(where)

        assert store._calls.idle
        store._calls.run = spy  # type: ignore[method-assign]
        async with account.transaction() as tx:
            await tx.sessions.put("1.0", b"a")
            assert await tx.sessions.get("1.0") == b"a"
            assert store._db.in_transaction  # begun here, without a call to the worker
            assert seen == []
        assert len(seen) == 1  # the COMMIT
        assert seen[0] != here
        assert store._calls.idle
        assert not store._db.in_transaction
        assert await account.sessions.get("1.0") == b"a"
    finally:
        await store.close()


async def test_begin_waits_on_the_worker_while_another_process_writes(tmp_path: Path) -> None:
    """Another connection (another process, say) holds the write lock: the BEGIN must wait
    for it on the worker thread, not block the event loop."""
    path = tmp_path / "x.db"
    store = await SQLiteStore.open(path)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        account = await store.new_account(make_credentials())
        other.execute("BEGIN IMMEDIATE")

        async def write() -> None:
            async with account.transaction() as tx:
                await tx.sessions.put("1.0", b"a")
                assert await tx.sessions.get("1.0") == b"a"

        task = asyncio.ensure_future(write())
        ticks = 0
        for _ in range(20):  # the loop keeps running while the BEGIN waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 20
        assert not task.done()
        assert not store._calls.idle  # the BEGIN waits on the worker thread
        other.execute("COMMIT")
        await asyncio.wait_for(task, 10)
        assert await account.sessions.get("1.0") == b"a"
        async with account.transaction() as tx:  # and the next one begins here again
            await tx.sessions.put("2.0", b"b")
        assert await account.sessions.get("2.0") == b"b"
    finally:
        other.close()
        await store.close()


async def test_writes_outside_transactions_wait_for_another_writer(tmp_path: Path) -> None:
    """The writer's own busy timeout is 0 (no PRAGMA around each BEGIN); a statement that may
    wait for the write lock waits on the worker thread, with the configured timeout."""
    path = tmp_path / "x.db"
    store = await SQLiteStore.open(path)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        account = await store.new_account(make_credentials())
        assert store._db.execute("PRAGMA busy_timeout").fetchone() == (0,)
        other.execute("BEGIN IMMEDIATE")
        task = asyncio.ensure_future(account.sessions.put("1.0", b"a"))  # (autocommit)
        await asyncio.sleep(0.2)
        assert not task.done()
        other.execute("COMMIT")
        await asyncio.wait_for(task, 10)
        assert await account.sessions.get("1.0") == b"a"
        assert store._db.execute("PRAGMA busy_timeout").fetchone() == (0,)
    finally:
        other.close()
        await store.close()


async def test_the_busy_timeout_bounds_the_wait(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    store = await SQLiteStore.open(path, busy_timeout=0.2)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        account = await store.new_account(make_credentials())
        other.execute("BEGIN IMMEDIATE")
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(StoreError, match="locked"):
            async with account.transaction() as tx:
                await tx.sessions.put("1.0", b"a")
        with pytest.raises(StoreError, match="locked"):
            await account.sessions.put("2.0", b"b")
        assert 0.3 < loop.time() - start < 5  # (two waits of 0.2 s)
        other.execute("COMMIT")
        assert store._db.execute("PRAGMA busy_timeout").fetchone() == (0,)
        assert not store._db.in_transaction
        async with account.transaction() as tx:  # the store works on once the lock is free
            await tx.sessions.put("3.0", b"c")
        assert await account.sessions.get_many(["1.0", "2.0", "3.0"]) == {"3.0": b"c"}
    finally:
        other.close()
        await store.close()
