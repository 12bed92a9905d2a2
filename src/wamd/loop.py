"""Running a program's coroutine on the fastest event loop at hand.

wamd works on any asyncio event loop. ``uvloop`` (the ``speed`` extra:
``pip install "wamd[speed]"``) runs the same code with less CPU per received message (about
10% fewer instructions in ``bench/recv_instructions.py``, and fewer system calls per wake-up).
:func:`run` is :func:`asyncio.run` on uvloop when it is installed, on asyncio's own loop
otherwise; the command line uses it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

__all__ = ["LoopKind", "loop_factory", "run"]

T = TypeVar("T")

LoopKind = Literal["auto", "uvloop", "asyncio"]

LOOP_ENV = "WAMD_LOOP"
"""Environment variable that picks the loop when ``loop="auto"``: ``uvloop`` or ``asyncio``."""


def loop_factory(loop: LoopKind = "auto") -> Callable[[], asyncio.AbstractEventLoop] | None:
    """A factory for the event loop ``loop`` names (``None``: asyncio's default).

    ``"auto"`` takes uvloop when it can be imported, unless ``WAMD_LOOP=asyncio``;
    ``"uvloop"`` raises :class:`ImportError` when it is not installed.
    """
    if loop == "auto":
        wanted = os.environ.get(LOOP_ENV, "").strip().lower()
        if wanted == "asyncio":
            return None
        if wanted not in ("", "uvloop", "auto"):
            raise ValueError(f"{LOOP_ENV} must be 'uvloop' or 'asyncio', not {wanted!r}")
        try:
            import uvloop
        except ImportError:
            if wanted == "uvloop":
                raise
            return None
        return uvloop.new_event_loop
    if loop == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    if loop == "asyncio":
        return None
    raise ValueError(f"unknown event loop {loop!r}: 'auto', 'uvloop' or 'asyncio'")


def run(main: Coroutine[Any, Any, T], *, loop: LoopKind = "auto", debug: bool | None = None) -> T:
    """Run ``main`` to completion like :func:`asyncio.run`, on the loop ``loop`` names."""
    with asyncio.Runner(debug=debug, loop_factory=loop_factory(loop)) as runner:
        return runner.run(main)
