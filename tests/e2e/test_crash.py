"""kill -9 of the receiving client during a burst: every message reaches the handler exactly
once, none is undecryptable (the full 2,000-message run is bench/crash.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.crash import run_crash_scenario

pytestmark = pytest.mark.slow


async def test_kill_9_during_a_burst_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("WAMD_CRASH_SEED", "20261128"))
    report = await run_crash_scenario(tmp_path, count=300, kills=3, seed=seed, max_gap=0.6)
    assert len(report.sent) == 300
    assert not report.missing, f"seed {seed}: {len(report.missing)} messages never handled"
    assert len(report.handled) == len(set(report.handled)) == 300
    assert report.duplicates == []
    assert report.undecryptable == []
