"""Store throughput: Signal session get/put (one by one and in batches) and the receive-path
transaction (session + dedupe row + inbox event; one message, and batches of five: "x5",
figures per message), per backend.

    .venv/bin/python bench/store.py [--n 2000] [--batch 500] [--pg-dsn DSN] [--no-pg]

Backends: memory (reference), SQLite with synchronous=FULL (the default) and NORMAL, SQLite
with encryption at rest, PostgreSQL (a scratch schema, dropped afterwards). Figures are
operations per second on this machine, one task, sequential awaits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from wamd.store import (
    DeviceCredentials,
    MemoryStore,
    SeenMessage,
    SignedPreKey,
    Store,
    StoredKeyPair,
)

RECORD = os.urandom(1200)  # a Signal session record with a few chains is ~1 KB


def _pair() -> StoredKeyPair:
    return StoredKeyPair(os.urandom(32), os.urandom(32))


def _credentials() -> DeviceCredentials:
    return DeviceCredentials(
        noise_key=_pair(),
        identity_key=_pair(),
        registration_id=1234,
        signed_prekey=SignedPreKey(1, _pair(), os.urandom(64)),
        adv_secret_key=os.urandom(32),
    )


async def _rate(count: int, run: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    """(operations per second, CPU microseconds per operation, all threads of the process)."""
    start, cpu = time.perf_counter(), time.process_time()
    await run()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return count / wall, cpu / count * 1e6


async def measure(store: Store, n: int, batch: int) -> dict[str, tuple[float, float]]:
    """(operations per second, CPU us per operation) for each measured operation."""
    account = await store.new_account(_credentials())
    addresses = [f"4917{i:08d}.{i % 4}" for i in range(n)]
    results: dict[str, tuple[float, float]] = {}

    async def put_single() -> None:
        for address in addresses:
            await account.sessions.put(address, RECORD)

    async def get_single() -> None:
        for address in addresses:
            await account.sessions.get(address)

    chunks = [addresses[i : i + batch] for i in range(0, n, batch)]

    async def put_batch() -> None:
        for chunk in chunks:
            await account.sessions.put_many(dict.fromkeys(chunk, RECORD))

    async def get_batch() -> None:
        for chunk in chunks:
            await account.sessions.get_many(chunk)

    async def receive_tx() -> None:
        for i, address in enumerate(addresses):
            async with account.transaction() as tx:
                await tx.sessions.put(address, RECORD)
                await tx.seen.add(SeenMessage("chat@s.whatsapp.net", address, f"ID{i}"))
                await tx.inbox.put("message", RECORD[:300])

    async def receive_batches() -> None:
        # batches of 5 messages, as the receive linger gathers them (figures per message)
        for start in range(0, n, 5):
            senders = addresses[start : start + 5]
            async with account.transaction() as tx:
                await tx.sessions.put_many({senders[0]: RECORD})
                await tx.seen.add_many(
                    [(SeenMessage("batch@s.whatsapp.net", a, f"B{start}"), None) for a in senders]
                )
                await tx.inbox.put_many([("message", RECORD[:300], None)] * len(senders))

    results["put 1"] = await _rate(n, put_single)
    results["get 1"] = await _rate(n, get_single)
    results[f"put_many {batch}"] = await _rate(n, put_batch)
    results[f"get_many {batch}"] = await _rate(n, get_batch)
    results["receive tx"] = await _rate(n, receive_tx)
    results["receive tx x5"] = await _rate(n, receive_batches)
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="sessions per measurement")
    parser.add_argument("--batch", type=int, default=500, help="batch size")
    parser.add_argument(
        "--pg-dsn", default="postgresql://postgres@127.0.0.1:5432/test", help="PostgreSQL DSN"
    )
    parser.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    args = parser.parse_args()

    from wamd.store.sqlite import SQLiteStore

    rows: list[tuple[str, dict[str, tuple[float, float]]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("memory", await measure(MemoryStore(), args.n, args.batch)))
        for label, options in [
            ("sqlite FULL", {}),
            ("sqlite NORMAL", {"synchronous": "NORMAL"}),
            ("sqlite FULL+key", {"key": b"benchmark key of some length"}),
        ]:
            path = Path(tmp) / f"{label.replace(' ', '_')}.db"
            sqlite_store = await SQLiteStore.open(path, **options)  # type: ignore[arg-type]
            try:
                rows.append((label, await measure(sqlite_store, args.n, args.batch)))
            finally:
                await sqlite_store.close()
    if not args.no_pg:
        import asyncpg

        from wamd.store.postgres import PostgresStore

        schema = f"wamd_bench_{os.getpid()}"
        pg_store = await PostgresStore.connect(args.pg_dsn, schema=schema)
        try:
            rows.append(("postgres", await measure(pg_store, args.n, args.batch)))
        finally:
            await pg_store.close()
            conn = await asyncpg.connect(args.pg_dsn)
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await conn.close()

    columns = list(rows[0][1])
    load = os.getloadavg()[0]
    print(
        f"wamd store (n={args.n}, 1.2 KB session records, python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, load average {load:.1f})"
    )
    for title, index, fmt in [("operations/s", 0, ",.0f"), ("CPU us/operation", 1, ",.1f")]:
        print(f"\n{title:<16}" + "".join(f"{c:>16}" for c in columns))
        for label, result in rows:
            print(f"{label:<16}" + "".join(f"{result[c][index]:>16{fmt}}" for c in columns))


if __name__ == "__main__":
    asyncio.run(main())
