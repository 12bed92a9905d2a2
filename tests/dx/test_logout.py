"""Unlinking leaves no keys behind, even when the server's logout and the application's race
(``wamd logout`` under load showed a store still paired afterwards)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from wamd.conn.device import Device
from wamd.store.sqlite import SQLiteStore


async def test_a_cancelled_wipe_still_deletes_and_a_concurrent_one_waits_for_it(
    tmp_path: Path,
) -> None:
    store = await SQLiteStore.open(tmp_path / "s.db")
    try:
        device = Device(store)
        await device.load()
        assert len(await store.accounts()) == 1
        first = asyncio.ensure_future(device.wipe())  # e.g. the server's 401 device_removed
        for _ in range(3):
            await asyncio.sleep(0)
        first.cancel()  # its task is cancelled by the application's disconnect()
        await device.wipe()  # the application's logout: returns once the account is gone
        assert await store.accounts() == []
        assert not device.loaded
    finally:
        await store.close()


async def test_wipes_in_a_row_and_at_once(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "s.db")
    try:
        device = Device(store)
        await device.load()
        await asyncio.gather(device.wipe(), device.wipe(), device.wipe())
        assert await store.accounts() == []
        await device.wipe()  # nothing left: a no-op
        await device.load()  # a fresh account
        assert len(await store.accounts()) == 1
    finally:
        await store.close()
