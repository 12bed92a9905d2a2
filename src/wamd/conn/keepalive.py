"""Keepalive bookkeeping: ping interval, failure counting and when to give up (sans-I/O).

The driver sends ``<iq xmlns="w:p" type="get" to="s.whatsapp.net"/>`` every
``interval_min``-``interval_max`` seconds and waits ``deadline`` seconds for the answer; it
reports each outcome here and emits whatever event comes back. When no ping has succeeded for
``max_fail_time`` seconds, :meth:`KeepAlive.failure` says the connection is dead and the driver
drops it (an automatic reconnect follows).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from wamd.events import KeepAliveRestored, KeepAliveTimeout

__all__ = ["KeepAlive", "KeepAliveConfig"]


@dataclass(frozen=True, slots=True)
class KeepAliveConfig:
    """Timing of keepalive pings, in seconds."""

    interval_min: float = 20.0
    interval_max: float = 30.0
    deadline: float = 10.0
    max_fail_time: float = 180.0

    def __post_init__(self) -> None:
        if not 0 < self.interval_min <= self.interval_max:
            raise ValueError("need 0 < interval_min <= interval_max")
        if self.deadline <= 0 or self.max_fail_time <= 0:
            raise ValueError("deadline and max_fail_time must be positive")


class KeepAlive:
    """Tracks consecutive ping failures since the last success.

    Times are monotonic seconds given by the caller, so tests drive it without a clock.
    """

    def __init__(
        self, config: KeepAliveConfig, now: float, rng: random.Random | None = None
    ) -> None:
        self.config = config
        self._rng = rng
        self.error_count = 0
        self.last_success = now
        self.last_success_wall = datetime.now(UTC)

    def next_interval(self) -> float:
        """Seconds to wait before the next ping (uniform in the configured range)."""
        cfg = self.config
        r = (self._rng or random).random()
        return cfg.interval_min + (cfg.interval_max - cfg.interval_min) * r

    def success(self, now: float) -> KeepAliveRestored | None:
        """A ping was answered; returns the event to emit (after earlier failures) or None."""
        restored = self.error_count > 0
        self.error_count = 0
        self.last_success = now
        self.last_success_wall = datetime.now(UTC)
        return KeepAliveRestored() if restored else None

    def failure(self, now: float) -> tuple[KeepAliveTimeout, bool]:
        """A ping went unanswered: the event to emit, and whether to drop the connection."""
        self.error_count += 1
        event = KeepAliveTimeout(self.error_count, self.last_success_wall)
        dead = now - self.last_success >= self.config.max_fail_time
        return event, dead
