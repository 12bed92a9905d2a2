"""SlotPool: the semaphore of the receive and handler pools."""

from __future__ import annotations

import asyncio

import pytest

from wamd.slots import SlotPool


async def test_free_slots_are_taken_without_waiting_then_callers_wait_in_order() -> None:
    pool = SlotPool(2)
    assert pool.try_acquire()
    await pool.acquire()
    assert pool.free == 0
    assert pool.locked()
    assert not pool.try_acquire()
    order: list[int] = []

    async def waiter(n: int) -> None:
        await pool.acquire()
        order.append(n)

    tasks = [asyncio.create_task(waiter(n)) for n in range(3)]
    await asyncio.sleep(0)
    assert order == []
    pool.release()
    await asyncio.sleep(0)
    assert order == [0]
    pool.release()
    pool.release()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2]
    assert pool.free == 0
    for _ in range(2):
        pool.release()
    assert pool.free == 2


async def test_a_waiter_cancelled_before_its_turn_leaves_the_count_intact() -> None:
    pool = SlotPool(1)
    await pool.acquire()
    task = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0)
    assert pool.waiting == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pool.waiting == 0
    pool.release()
    assert pool.free == 1
    assert not pool.locked()


async def test_a_slot_handed_to_a_waiter_cancelled_at_once_goes_to_the_next() -> None:
    pool = SlotPool(1)
    await pool.acquire()
    first = asyncio.create_task(pool.acquire())
    second = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0)
    pool.release()  # granted to `first`...
    first.cancel()  # ...which is cancelled before it runs: the slot must reach `second`
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)
    assert pool.free == 0
    pool.release()
    assert pool.free == 1


async def test_a_new_caller_does_not_overtake_waiters() -> None:
    pool = SlotPool(1)
    await pool.acquire()
    waiting = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0)
    pool.release()
    assert not pool.try_acquire()  # the released slot belongs to the waiter
    await waiting
    assert pool.free == 0


def test_negative_size_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        SlotPool(-1)
