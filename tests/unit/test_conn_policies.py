"""Sans-I/O connection policies: reconnect backoff, the state table, keepalive bookkeeping."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wamd.conn.keepalive import KeepAlive, KeepAliveConfig
from wamd.conn.reconnect import Backoff, ReconnectPolicy
from wamd.conn.state import ConnState, InvalidTransition, StateMachine
from wamd.events import KeepAliveRestored, KeepAliveTimeout


def test_backoff_grows_exponentially_and_is_capped() -> None:
    policy = ReconnectPolicy(initial_delay=1, factor=2, max_delay=10, jitter=0)
    backoff = Backoff(policy)
    assert [backoff.next_delay() for _ in range(6)] == [1, 2, 4, 8, 10, 10]
    backoff.reset()
    assert backoff.next_delay() == 1


@given(st.integers(min_value=1, max_value=10_000), st.floats(min_value=0, max_value=1))
def test_jitter_stays_within_bounds(attempt: int, jitter: float) -> None:
    policy = ReconnectPolicy(initial_delay=0.5, max_delay=30, jitter=jitter)
    base = policy.base_delay(attempt)
    delay = policy.delay(attempt, random.Random(attempt))
    assert base * (1 - jitter) - 1e-9 <= delay <= base + 1e-9
    assert 0 <= delay <= 30


def test_jitter_spreads_delays() -> None:
    policy = ReconnectPolicy(initial_delay=10, max_delay=10, jitter=0.5)
    rng = random.Random(1)
    delays = {round(policy.delay(3, rng), 6) for _ in range(20)}
    assert len(delays) > 10


def test_max_attempts_and_disabled() -> None:
    backoff = Backoff(ReconnectPolicy(max_attempts=2, jitter=0))
    assert backoff.next_delay() is not None
    assert backoff.next_delay() is not None
    assert backoff.next_delay() is None
    assert Backoff(ReconnectPolicy(enabled=False)).next_delay() is None


@pytest.mark.parametrize(
    "kwargs",
    [{"initial_delay": -1}, {"factor": 0.5}, {"jitter": 2}, {"max_attempts": -1}],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        ReconnectPolicy(**kwargs)  # type: ignore[arg-type]


async def test_hook_can_veto_sync_or_async() -> None:
    calls: list[tuple[int, BaseException | None]] = []

    def veto_third(attempt: int, error: BaseException | None) -> bool:
        calls.append((attempt, error))
        return attempt < 3

    backoff = Backoff(ReconnectPolicy(hook=veto_third))
    err = OSError("down")
    results = []
    for _ in range(3):
        backoff.next_delay()
        results.append(await backoff.allowed(err))
    assert results == [True, True, False]
    assert calls[0] == (1, err)

    async def async_no(attempt: int, error: BaseException | None) -> bool:
        return False

    backoff = Backoff(ReconnectPolicy(hook=async_no))
    backoff.next_delay()
    assert await backoff.allowed(None) is False


def test_state_machine_enforces_the_table() -> None:
    changes: list[tuple[ConnState, ConnState]] = []
    sm = StateMachine(lambda old, new: changes.append((old, new)))
    assert sm.state is ConnState.DISCONNECTED
    with pytest.raises(InvalidTransition):
        sm.to(ConnState.CONNECTED)
    sm.to(ConnState.CONNECTING)
    sm.to(ConnState.LOGGING_IN)
    sm.to(ConnState.CONNECTED)
    sm.to(ConnState.CONNECTED)  # staying put is fine and not reported
    sm.to(ConnState.WAITING_RECONNECT)
    assert not sm.can(ConnState.PAIRING)
    sm.to(ConnState.CONNECTING)
    sm.to(ConnState.PAIRING)
    sm.to(ConnState.CONNECTING)  # the 515 restart after pairing
    sm.to(ConnState.DISCONNECTED)
    assert changes[0] == (ConnState.DISCONNECTED, ConnState.CONNECTING)
    assert len(changes) == 8


def test_keepalive_counts_failures_restores_and_declares_dead() -> None:
    cfg = KeepAliveConfig(interval_min=1, interval_max=2, deadline=1, max_fail_time=10)
    ka = KeepAlive(cfg, now=0.0, rng=random.Random(0))
    assert all(1 <= ka.next_interval() <= 2 for _ in range(50))
    assert ka.success(1.0) is None
    event, dead = ka.failure(3.0)
    assert isinstance(event, KeepAliveTimeout)
    assert event.error_count == 1
    assert not dead
    event, dead = ka.failure(6.0)
    assert event.error_count == 2
    assert not dead
    assert isinstance(ka.success(7.0), KeepAliveRestored)
    assert ka.success(8.0) is None
    _, dead = ka.failure(12.0)
    assert not dead
    _, dead = ka.failure(18.0)
    assert dead


def test_keepalive_config_validation() -> None:
    with pytest.raises(ValueError, match="interval"):
        KeepAliveConfig(interval_min=5, interval_max=1)
    with pytest.raises(ValueError, match="deadline"):
        KeepAliveConfig(deadline=0)
