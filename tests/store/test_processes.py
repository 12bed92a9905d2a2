"""Real processes, killed with SIGKILL: transactions stay all-or-nothing; leases pass over."""

from __future__ import annotations

import asyncio
import json
import random
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.conftest import subprocess_env
from tests.store.conftest import PG_DSN, drop_schema, fresh_schema, make_credentials
from wamd.store import AppStateVersion, SeenMessage
from wamd.store.postgres import PostgresStore
from wamd.store.sql.base import SQLStore
from wamd.store.sqlite import SQLiteStore

WORKER = Path(__file__).with_name("worker.py")
PEERS = [f"peer{k}.0" for k in range(4)]
KILLS = 6

Backend = tuple[dict[str, str], Callable[[], Awaitable[SQLStore]]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """A database the worker processes and the test open by the same spec."""
    if request.param == "sqlite":
        path = str(tmp_path / "shared.db")
        yield {"backend": "sqlite", "path": path}, lambda: SQLiteStore.open(path)
        return
    schema = fresh_schema()
    try:
        yield (
            {"backend": "postgres", "dsn": PG_DSN, "schema": schema},
            lambda: PostgresStore.connect(PG_DSN, schema=schema),
        )
    finally:
        await drop_schema(schema)


async def spawn(mode: str, spec: dict[str, str], account_id: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        mode,
        json.dumps(spec),
        str(account_id),
        stdout=asyncio.subprocess.PIPE,
        env=subprocess_env(),
    )


async def new_account_id(open_store: Callable[[], Awaitable[SQLStore]]) -> int:
    store = await open_store()
    try:
        return (await store.new_account(make_credentials())).id
    finally:
        await store.close()


async def wait_for_entry_by(
    open_store: Callable[[], Awaitable[SQLStore]], account_id: int, pid: bytes
) -> None:
    """Wait until the account's inbox holds an entry the lease worker ``pid`` wrote."""
    store = await open_store()
    try:
        account = await store.account(account_id)
        while True:
            if any(e.payload.startswith(pid + b":") for e in await account.inbox.pending()):
                return
            await asyncio.sleep(0.05)
    finally:
        await store.close()


def lthash(i: int) -> bytes:
    return i.to_bytes(8, "big") * 16


async def committed_transactions(store: SQLStore, account_id: int) -> int:
    """How many of the worker's transactions the database holds, checking that each of them
    is there whole and nothing of a later one is."""
    account = await store.account(account_id)
    version = await account.app_state.get_version("regular")
    i = version.version
    assert version == (AppStateVersion(i, lthash(i)) if i else AppStateVersion())
    expected = {p: str(i).encode() for p in PEERS} if i else {}
    assert await account.sessions.get_many(PEERS) == expected
    assert [e.payload for e in await account.inbox.pending()] == [
        str(n).encode() for n in range(1, i + 1)
    ]
    seen = await store.auto.fetchrow("SELECT COUNT(*) FROM seen WHERE account_id = ?", [account_id])
    assert seen is not None
    assert seen[0] == i
    assert not await account.seen.contains(SeenMessage("chat", "peer", f"m{i + 1}"))
    macs = await account.app_state.get_macs("regular", [f"idx{n}".encode() for n in range(i + 2)])
    assert set(macs) == {f"idx{n}".encode() for n in range(1, i + 1)}
    counter = await store.auto.fetchrow(
        "SELECT next_prekey_id FROM accounts WHERE id = ?", [account_id]
    )
    assert counter is not None
    assert counter[0] == i + 1
    return i


@pytest.mark.slow
async def test_kill_9_mid_transaction_leaves_all_or_nothing(backend: Backend) -> None:
    spec, open_store = backend
    account_id = await new_account_id(open_store)
    committed = 0
    rng = random.Random()
    for _ in range(KILLS):
        proc = await spawn("write", spec, account_id)
        assert proc.stdout is not None
        first = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert first.strip().isdigit(), first
        await asyncio.sleep(rng.uniform(0.0, 0.25))
        proc.kill()
        await proc.wait()
        acked = [int(line) for line in (first + await proc.stdout.read()).split()]
        assert acked == list(range(acked[0], acked[0] + len(acked)))
        assert acked[0] == committed + 1  # the worker went on from the last commit

        store = await open_store()
        try:
            if isinstance(store, SQLiteStore):
                check = await store.auto.fetch("PRAGMA integrity_check")
                assert [tuple(r) for r in check] == [("ok",)]
            now = await committed_transactions(store, account_id)
        finally:
            await store.close()
        assert now >= acked[-1]  # everything reported committed is there
        assert now <= acked[-1] + 1  # at most the one in flight also made it
        committed = now
    assert committed > KILLS


@pytest.mark.slow
async def test_two_processes_race_for_one_account(backend: Backend) -> None:
    spec, open_store = backend
    account_id = await new_account_id(open_store)
    procs = [await spawn("lease", spec, account_id) for _ in range(2)]
    try:
        # both started (a loaded machine may take long to start Python): both race from here
        for p in procs:
            assert p.stdout is not None
            assert await asyncio.wait_for(p.stdout.readline(), 60) == b"READY\n"
        lines = {
            asyncio.ensure_future(p.stdout.readline()): p for p in procs if p.stdout is not None
        }
        done, pending = await asyncio.wait(lines, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        assert len(done) == 1, "exactly one process may own the account"
        (first,) = done
        owner = lines[first]
        assert first.result().startswith(b"OWNER")
        (waiting,) = pending
        # the owner's first commit (fsynced: slow on a loaded machine) is in, and the other
        # process has polled for the lease meanwhile and for a second more (its backoff
        # stays under that): it must not have taken it
        async with asyncio.timeout(20):
            await wait_for_entry_by(open_store, account_id, first.result().split()[1])
        await asyncio.sleep(1.0)
        assert not waiting.done(), "the second process took a lease that was held"

        owner.kill()
        await owner.wait()
        second = await asyncio.wait_for(waiting, 20)
        assert second.startswith(b"OWNER")
        # the new owner's first entry (a commit, fsynced: slow on a loaded machine)
        async with asyncio.timeout(20):
            await wait_for_entry_by(open_store, account_id, second.split()[1])
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()

    store = await open_store()
    try:
        entries = await (await store.account(account_id)).inbox.pending()
    finally:
        await store.close()
    writers = [e.payload.split(b":")[0] for e in entries]
    owners = [w for n, w in enumerate(writers) if n == 0 or writers[n - 1] != w]
    assert len(owners) == 2, f"writers interleaved: {owners}"
    assert owners[0] == first.result().split()[1]
    assert owners[1] == second.split()[1]
