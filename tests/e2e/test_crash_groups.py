"""kill -9 of a group member while the server delivers a burst of group notifications and
receipts: after the restarts every event reached the handler exactly once, and the member
removed during the burst cannot read the next group message (scenario: group_crash.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.group_crash import ROTATE_MARK, Backend, run_group_crash
from tests.store.conftest import PG_DSN, drop_schema, fresh_schema

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("WAMD_CRASH_SEED", "20261128"))


async def check(tmp_path: Path, backend: Backend) -> None:
    report = await run_group_crash(tmp_path, backend, seed=SEED, kills=2, receipts=40)
    where = f"seed {SEED}, {backend.kind}"
    assert report.expected_group["joined"] == 1, where
    assert sum(report.expected_group.values()) >= 13, where
    assert report.handled_group == report.expected_group, where
    assert set(report.receipts_handled) == set(report.receipts_sent), where
    assert all(n == 1 for n in report.receipts_handled.values()), where
    assert report.duplicates == [], where
    # the removed member held R's first sender key, and lost it with its membership
    assert report.removed_held_old_key, where
    assert report.remaining_got_message, where
    assert not report.removed_got_message, where
    assert not report.removed_could_decrypt, where
    assert report.holders, where  # the new key went to the remaining devices...
    assert report.removed_addresses == set(), where  # ...not to the removed member's
    assert ROTATE_MARK not in report.holders, where


async def test_group_notifications_and_receipts_survive_kill_9_sqlite(tmp_path: Path) -> None:
    await check(tmp_path, Backend("sqlite", tmp_path))


@pytest.mark.postgres
async def test_group_notifications_and_receipts_survive_kill_9_postgres(tmp_path: Path) -> None:
    schema = fresh_schema()
    try:
        await check(tmp_path, Backend("postgres", tmp_path, PG_DSN, schema))
    finally:
        await drop_schema(schema)
