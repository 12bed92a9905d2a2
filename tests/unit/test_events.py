"""The event dispatcher: handler tasks, filters, bounded concurrency, backpressure, waiters."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest

from wamd import events
from wamd.events import Dispatcher, Event, Filter, lend_slot


@dataclasses.dataclass(frozen=True, slots=True)
class Ping(Event):
    n: int


@dataclasses.dataclass(frozen=True, slots=True)
class Pong(Event):
    n: int


async def test_handler_runs_in_its_own_task_not_the_dispatcher() -> None:
    d = Dispatcher()
    seen: list[tuple[int, asyncio.Task[object] | None]] = []

    @d.on(Ping)
    async def handler(evt: Ping) -> None:
        seen.append((evt.n, asyncio.current_task()))

    caller = asyncio.current_task()
    await d.dispatch(Ping(1))
    await d.drain()
    assert [n for n, _ in seen] == [1]
    assert seen[0][1] is not caller


async def test_type_matching_includes_subclasses_and_base_event() -> None:
    d = Dispatcher()
    got: list[Event] = []
    d.add(Event, got.append)  # a plain (synchronous) handler is accepted too
    d.add(Pong, lambda evt: got.append(evt))
    await d.dispatch(Ping(1))
    await d.dispatch(Pong(2))
    await d.drain()
    assert got.count(Pong(2)) == 2
    assert got.count(Ping(1)) == 1


async def test_filters_compose() -> None:
    d = Dispatcher()
    got: list[int] = []
    even = Filter(lambda evt: evt.n % 2 == 0)
    big = Filter(lambda evt: evt.n > 5)
    d.add(Ping, lambda evt: got.append(evt.n), even & ~big)
    d.add(Ping, lambda evt: got.append(100 + evt.n), big | (lambda evt: evt.n == 1))
    for n in range(10):
        await d.dispatch(Ping(n))
    await d.drain()
    assert sorted(got) == [0, 2, 4, 101, 106, 107, 108, 109]


async def test_remove_by_registration_and_by_function() -> None:
    d = Dispatcher()
    got: list[int] = []

    def h(evt: Ping) -> None:
        got.append(evt.n)

    reg = d.add(Ping, h)
    d.add(Ping, h)
    assert d.remove(reg) == 1
    await d.dispatch(Ping(1))
    await d.drain()
    assert got == [1]
    assert d.remove(h) == 1
    await d.dispatch(Ping(2))
    await d.drain()
    assert got == [1]
    assert d.handlers == ()


def test_add_rejects_non_event_types() -> None:
    d = Dispatcher()
    with pytest.raises(TypeError):
        d.add(int, print)  # type: ignore[type-var]
    with pytest.raises(TypeError):
        d.add(Ping, 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_concurrency"):
        Dispatcher(max_concurrency=0)


async def test_failing_handler_is_reported_and_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors: list[tuple[BaseException, Event]] = []
    d = Dispatcher(on_error=lambda exc, evt: errors.append((exc, evt)))
    got: list[int] = []

    async def bad(evt: Ping) -> None:
        raise RuntimeError("boom")

    d.add(Ping, bad)
    d.add(Ping, lambda evt: got.append(evt.n))
    with caplog.at_level(logging.ERROR, logger="wamd.events"):
        await d.dispatch(Ping(7))
        await d.drain()
    assert got == [7]
    assert len(errors) == 1
    assert isinstance(errors[0][0], RuntimeError)
    assert "handler failed" in caplog.text


async def test_failing_filter_is_reported_not_raised() -> None:
    errors: list[BaseException] = []
    d = Dispatcher(on_error=lambda exc, evt: errors.append(exc))
    d.add(Ping, lambda evt: None, lambda evt: 1 / 0)
    await d.dispatch(Ping(1))
    assert isinstance(errors[0], ZeroDivisionError)


async def test_concurrency_is_bounded_and_dispatch_applies_backpressure() -> None:
    d = Dispatcher(max_concurrency=2)
    release = asyncio.Event()
    active = 0
    peak = 0

    async def slow(evt: Ping) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await release.wait()
        active -= 1

    d.add(Ping, slow)
    await d.dispatch(Ping(1))
    await d.dispatch(Ping(2))
    assert d.running == 2
    third = asyncio.create_task(d.dispatch(Ping(3)))
    await asyncio.sleep(0.05)
    assert not third.done(), "dispatch must wait while the pool is full"
    release.set()
    await asyncio.wait_for(third, 1)
    await d.drain()
    assert peak == 2
    assert d.running == 0


async def test_handler_awaiting_a_reply_lends_its_slot_so_the_reader_continues() -> None:
    """With a pool of 1, a handler waiting on the server must not block later dispatches."""
    d = Dispatcher(max_concurrency=1)
    reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    got: list[str] = []

    async def asks(evt: Ping) -> None:
        async with lend_slot():  # what an IQ request does while waiting for its answer
            got.append(await reply)

    async def answers(evt: Pong) -> None:
        reply.set_result("answer")

    d.add(Ping, asks)
    d.add(Pong, answers)
    await d.dispatch(Ping(1))
    await asyncio.sleep(0)
    # The "reader" delivers the answer as the next event: it must not wait for a free slot.
    await asyncio.wait_for(d.dispatch(Pong(1)), 1)
    await asyncio.wait_for(d.drain(), 1)
    assert got == ["answer"]
    assert d.running == 0
    # The slot accounting is intact: the pool still admits exactly one handler.
    assert d._slots.free == 1


async def test_lend_slot_outside_a_handler_is_a_no_op() -> None:
    async with lend_slot():
        pass


async def test_child_task_of_a_handler_does_not_lend_the_parents_slot() -> None:
    d = Dispatcher(max_concurrency=1)
    done = asyncio.Event()

    async def parent(evt: Ping) -> None:
        async def child() -> None:
            async with lend_slot():
                await asyncio.sleep(0)

        await asyncio.create_task(child())
        done.set()

    d.add(Ping, parent)
    await d.dispatch(Ping(1))
    await asyncio.wait_for(done.wait(), 1)
    await d.drain()
    assert d._slots.free == 1


async def test_wait_for_returns_the_matching_event_and_times_out() -> None:
    d = Dispatcher()
    waiter = asyncio.create_task(d.wait_for(Ping, lambda evt: evt.n == 3, timeout=1))
    await asyncio.sleep(0)
    for n in range(5):
        await d.dispatch(Ping(n))
    assert (await waiter) == Ping(3)
    with pytest.raises(TimeoutError):
        await d.wait_for(Pong, timeout=0.01)


async def test_aclose_cancels_running_handlers_and_stops_dispatching() -> None:
    d = Dispatcher()
    cancelled = asyncio.Event()

    async def forever(evt: Ping) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    d.add(Ping, forever)
    await d.dispatch(Ping(1))
    await asyncio.sleep(0)
    await asyncio.wait_for(d.aclose(cancel=True), 1)
    assert cancelled.is_set()
    await d.dispatch(Ping(2))
    assert d.running == 0
    d.reopen()
    await d.dispatch(Ping(3))
    assert d.running == 1
    await d.aclose(cancel=True)


async def test_aclose_with_timeout_cancels_stragglers() -> None:
    d = Dispatcher()
    d.add(Ping, lambda evt: asyncio.sleep(3600))
    await d.dispatch(Ping(1))
    await asyncio.wait_for(d.aclose(timeout=0.05), 1)
    assert d.running == 0


def test_event_reprs_are_plain_and_events_are_frozen() -> None:
    evt = events.QR("https://wa.me/settings/linked_devices#r,a,b,c,1", 60.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        evt.text = "x"  # type: ignore[misc]
    assert "linked_devices" not in repr(evt)  # the QR text carries the adv secret
    assert repr(events.ConnectFailure(400, "bad", None)).startswith("ConnectFailure(reason=400")


async def test_plain_handler_is_called_at_once_without_a_task() -> None:
    d = Dispatcher()
    seen: list[tuple[int, asyncio.Task[object] | None]] = []
    d.add(Ping, lambda evt: seen.append((evt.n, asyncio.current_task())))
    started = await d.dispatch(Ping(1))
    assert seen == [(1, asyncio.current_task())]  # returned before dispatch did
    assert started.tasks == []
    assert started.errors == []
    assert d.running == 0
    assert d._slots.free == d.max_concurrency


async def test_plain_handler_runs_in_a_copy_of_the_context() -> None:
    import contextvars

    var: contextvars.ContextVar[int] = contextvars.ContextVar("var", default=0)
    d = Dispatcher()
    d.add(Ping, lambda evt: var.set(evt.n))
    await d.dispatch(Ping(5))
    assert var.get() == 0  # the handler's set did not leak into the dispatcher's context


async def test_plain_handler_that_raises_is_reported_and_returned() -> None:
    errors: list[BaseException] = []
    d = Dispatcher(on_error=lambda exc, evt: errors.append(exc))

    def bad(evt: Ping) -> None:
        raise RuntimeError("boom")

    def cancels(evt: Ping) -> None:
        raise asyncio.CancelledError

    d.add(Ping, bad)
    d.add(Ping, cancels)  # contained like any failure: the dispatcher's caller goes on
    started = await d.dispatch(Ping(1))
    assert [type(e) for e in started.errors] == [RuntimeError, asyncio.CancelledError]
    assert errors == started.errors
    assert d._slots.free == d.max_concurrency


async def test_plain_handler_waits_for_a_slot_when_the_pool_is_full() -> None:
    d = Dispatcher(max_concurrency=1)
    release = asyncio.Event()
    got: list[int] = []

    async def slow(evt: Pong) -> None:
        await release.wait()

    d.add(Pong, slow)
    d.add(Ping, lambda evt: got.append(evt.n))
    await d.dispatch(Pong(1))
    blocked = asyncio.create_task(d.dispatch(Ping(2)))
    await asyncio.sleep(0.02)
    assert not blocked.done()  # backpressure applies to plain handlers too
    assert got == []
    release.set()
    await asyncio.wait_for(blocked, 1)
    assert got == [2]


async def test_awaitable_returned_by_a_plain_handler_runs_in_a_task_holding_a_slot() -> None:
    d = Dispatcher(max_concurrency=2)
    release = asyncio.Event()
    d.add(Ping, lambda evt: release.wait())
    started = await d.dispatch(Ping(1))
    assert len(started.tasks) == 1
    assert d._slots.free == 1
    release.set()
    assert await started.tasks[0] is None
    assert d._slots.free == 2


async def test_handlers_of_an_event_start_in_registration_order() -> None:
    """A plain handler after a coroutine handler runs in a task too, after that one starts;
    one before it is called at once."""
    d = Dispatcher()
    order: list[str] = []

    async def coroutine(evt: Ping) -> None:
        order.append("coroutine")

    d.add(Ping, lambda evt: order.append("plain before"))
    d.add(Ping, coroutine)
    d.add(Ping, lambda evt: order.append("plain after"))
    started = await d.dispatch(Ping(1))
    assert order == ["plain before"]
    assert len(started.tasks) == 2
    await d.drain()
    assert order == ["plain before", "coroutine", "plain after"]
