"""SQLite specifics: default location, pragmas, in-memory databases, lock files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.store.conftest import make_credentials
from wamd.errors import LeaseHeld
from wamd.store.sqlite import SQLiteStore, default_path


async def test_default_path_is_in_the_user_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_path() == tmp_path / "data" / "wamd" / "wamd.db"
    store = await SQLiteStore.open()
    try:
        assert Path(store.path) == default_path()
        await store.new_account(make_credentials())
    finally:
        await store.close()
    assert default_path().is_file()


@pytest.mark.parametrize(("synchronous", "level"), [("FULL", 2), ("NORMAL", 1)])
async def test_wal_and_synchronous(tmp_path: Path, synchronous: str, level: int) -> None:
    store = await SQLiteStore.open(tmp_path / "x.db", synchronous=synchronous)  # type: ignore[arg-type]
    try:
        assert [tuple(r) for r in await store.auto.fetch("PRAGMA journal_mode")] == [("wal",)]
        assert [tuple(r) for r in await store.auto.fetch("PRAGMA synchronous")] == [(level,)]
        assert [tuple(r) for r in await store.auto.fetch("PRAGMA foreign_keys")] == [(1,)]
    finally:
        await store.close()
    with pytest.raises(ValueError, match="synchronous"):
        await SQLiteStore.open(tmp_path / "y.db", synchronous="OFF")  # type: ignore[arg-type]


async def test_in_memory_database(tmp_path: Path) -> None:
    store = await SQLiteStore.open(":memory:")
    try:
        account = await store.new_account(make_credentials())
        await account.sessions.put("1.0", b"s")
        assert await account.sessions.get("1.0") == b"s"
        lease = await account.acquire_lease()
        with pytest.raises(LeaseHeld):
            await account.acquire_lease()
        await lease.release()
    finally:
        await store.close()
    assert list(tmp_path.iterdir()) == []  # noqa: ASYNC240 (a test, after the fact)


async def test_leases_use_one_lock_file_per_account(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    first, second = await SQLiteStore.open(path), await SQLiteStore.open(path)
    try:
        a = await first.new_account(make_credentials())
        b = await first.new_account(make_credentials())
        lease_a = await a.acquire_lease()
        lease_b = await (await second.account(b.id)).acquire_lease()  # other account: free
        with pytest.raises(LeaseHeld):
            await (await second.account(a.id)).acquire_lease()
        locks = sorted(p.name for p in (tmp_path / "x.db.locks").iterdir())
        assert locks == [f"account-{a.id}.lock", f"account-{b.id}.lock"]
        await lease_b.release()
    finally:
        await first.close()  # releases lease_a
        await second.close()
    assert not lease_a.held
    reopened = await SQLiteStore.open(path)
    try:
        await (await (await reopened.account(a.id)).acquire_lease()).release()
    finally:
        await reopened.close()


async def test_a_transaction_cancelled_while_it_begins_leaves_none_open(tmp_path: Path) -> None:
    """A task cancelled while its BEGIN waits in aiosqlite's thread queue: the BEGIN still
    runs there after the task has given up. The store must not be left inside a transaction
    nobody owns (every later transaction would fail: "cannot start a transaction within a
    transaction")."""
    store = await SQLiteStore.open(tmp_path / "x.db")
    try:
        account = await store.new_account(make_credentials())
        slow = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) "
        # (through the store's counted calls, as its own cancelled statements go)
        busy = asyncio.ensure_future(
            store._calls.run(lambda db: db.execute(slow + "SELECT COUNT(*) FROM n").fetchall())
        )

        async def begin() -> None:
            async with account.transaction() as tx:
                await tx.sessions.put("1.0", b"never")

        task = asyncio.ensure_future(begin())
        await asyncio.sleep(0.05)  # its BEGIN is queued behind the slow statement
        assert not busy.done(), "the statement was not slow enough to queue the BEGIN"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await busy
        async with account.transaction() as tx:
            await tx.sessions.put("1.0", b"after")
        assert await account.sessions.get("1.0") == b"after"
    finally:
        await store.close()
