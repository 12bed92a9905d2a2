"""Reconnect policy: exponential backoff with jitter, capped, reset on success (sans-I/O)."""

from __future__ import annotations

import inspect
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["Backoff", "ReconnectHook", "ReconnectPolicy"]

ReconnectHook = Callable[[int, "BaseException | None"], "bool | Awaitable[bool]"]
"""``hook(attempt, error) -> bool``: return False to veto an automatic reconnect attempt.

``attempt`` counts from 1 since the last successful login; ``error`` is what ended the
previous connection or attempt (None when unknown). May be a coroutine function.
"""


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """How the client reconnects after an unexpected disconnect.

    The delay before attempt ``n`` (from 1) is ``min(max_delay, initial_delay * factor**(n-1))``,
    then scaled by a random factor in ``[1 - jitter, 1]`` so that many clients dropped at once
    do not come back in lockstep. ``max_attempts=None`` retries forever. ``hook`` may veto an
    attempt (see :data:`ReconnectHook`).
    """

    enabled: bool = True
    initial_delay: float = 1.0
    max_delay: float = 60.0
    factor: float = 2.0
    jitter: float = 0.3
    max_attempts: int | None = None
    hook: ReconnectHook | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")
        if self.factor < 1:
            raise ValueError("factor must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")
        if self.max_attempts is not None and self.max_attempts < 0:
            raise ValueError("max_attempts must not be negative")

    def base_delay(self, attempt: int) -> float:
        """The delay before ``attempt`` (from 1) without jitter."""
        if attempt < 1:
            raise ValueError("attempt counts from 1")
        # Cap the exponent first so that huge attempt numbers do not overflow a float.
        exponent = min(attempt - 1, 1024)
        try:
            raw = self.initial_delay * self.factor**exponent
        except OverflowError:
            raw = self.max_delay
        return min(self.max_delay, raw)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The delay before ``attempt`` (from 1), jittered with ``rng``."""
        base = self.base_delay(attempt)
        if self.jitter == 0:
            return base
        r = (rng or random).random()
        return base * (1.0 - self.jitter * r)


class Backoff:
    """Counts consecutive failed attempts and hands out the next delay.

    ``next_delay()`` returns None when the policy gives up (disabled or out of attempts);
    ``reset()`` is called after a successful login.
    """

    def __init__(self, policy: ReconnectPolicy, rng: random.Random | None = None) -> None:
        self.policy = policy
        self._rng = rng  # None: the shared module generator (a Random() costs 2.5 KiB)
        self.attempt = 0

    def next_delay(self) -> float | None:
        """Advance to the next attempt and return its delay, or None to stop reconnecting."""
        if not self.policy.enabled:
            return None
        if self.policy.max_attempts is not None and self.attempt >= self.policy.max_attempts:
            return None
        self.attempt += 1
        return self.policy.delay(self.attempt, self._rng)

    def reset(self) -> None:
        """Forget past failures (after a successful login)."""
        self.attempt = 0

    async def allowed(self, error: BaseException | None) -> bool:
        """Ask the policy's hook whether the current attempt may go ahead."""
        hook = self.policy.hook
        if hook is None:
            return True
        result = hook(self.attempt, error)
        if inspect.isawaitable(result):
            result = await result
        return bool(result)
