"""kill -9 of the receiving client at random points during a 2,000-message burst: every
message reaches the handler exactly once, none is undecryptable (bench/crash.py runs the same
scenario with other sizes, seeds and stores, and prints its figures)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.crash import run_crash_scenario

pytestmark = pytest.mark.slow

COUNT = 2000


async def test_kill_9_during_a_burst_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("WAMD_CRASH_SEED", "20261128"))
    report = await run_crash_scenario(tmp_path, count=COUNT, kills=6, seed=seed, by_progress=True)
    assert len(report.sent) == COUNT
    assert not report.missing, f"seed {seed}: {len(report.missing)} messages never handled"
    assert len(report.handled) == len(set(report.handled)) == COUNT
    assert report.duplicates == []
    assert report.undecryptable == []
    # every kill landed while the receiver was still working through the burst
    assert len(report.handled_at_kills) == 6
    assert all(n < COUNT for n in report.handled_at_kills), report.handled_at_kills
