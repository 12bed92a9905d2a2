"""A transaction cancelled while its BEGIN (or its ROLLBACK) is in flight keeps the store's
lock until the connection is out of the transaction: otherwise the next holder's statements
run inside the orphaned transaction and vanish with it (``wamd logout`` under load saw its
account deletion undone that way)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from wamd.pairing.credentials import new_credentials
from wamd.store.sqlite import SQLiteStore


async def deletion_survives(path: Path, cancels: int) -> list[int]:
    store = await SQLiteStore.open(path)
    try:
        kept = await store.new_account(new_credentials())
        doomed = await store.new_account(new_credentials())

        async def holder() -> None:
            async with kept.transaction() as tx:
                await tx.credentials.load()
                await asyncio.sleep(30)

        held = asyncio.ensure_future(holder())
        await asyncio.sleep(0)  # the holder took the lock and sent BEGIN
        for _ in range(cancels):
            held.cancel()
            await asyncio.sleep(0)
        deleting = asyncio.ensure_future(store.delete_account(doomed.id))
        await asyncio.gather(held, return_exceptions=True)
        await deleting
    finally:
        await store.close()
    store = await SQLiteStore.open(path)
    try:
        return [info.id for info in await store.accounts()]
    finally:
        await store.close()


async def test_a_cancelled_begin_does_not_swallow_the_next_statement(tmp_path: Path) -> None:
    assert await deletion_survives(tmp_path / "a.db", cancels=1) == [1]


async def test_cancelled_again_while_rolling_back(tmp_path: Path) -> None:
    assert await deletion_survives(tmp_path / "b.db", cancels=3) == [1]
