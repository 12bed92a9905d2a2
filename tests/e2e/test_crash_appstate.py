"""kill -9 of a device while another device of the account makes many app-state changes:
after the restarts every change reached the handler exactly once, and the store holds the
server's versions and the state the changes set (scenario: appstate_crash.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.appstate_crash import run_appstate_crash
from tests.e2e.group_crash import Backend
from tests.store.conftest import PG_DSN, drop_schema, fresh_schema

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("WAMD_CRASH_SEED", "20261128"))


async def check(tmp_path: Path, backend: Backend) -> None:
    report = await run_appstate_crash(tmp_path, backend, seed=SEED, kills=4, changes=30)
    where = f"seed {SEED}, {backend.kind}, kills at {report.kill_times}"
    redelivered = f"{report.redelivered} first handled when redelivered"
    print(f"{where}: {len(report.expected)} events, {redelivered}, {report.seconds:.1f} s")
    assert report.kills == 4, where
    missing = set(report.expected) - set(report.handled)
    assert not missing, f"{where}: lost {sorted(missing)}"
    assert set(report.handled) == set(report.expected), where
    assert all(n == 1 for n in report.handled.values()), where
    assert report.duplicates == [], where
    assert report.versions == report.server_versions, where
    assert report.settings == report.expected_settings, where
    assert report.contacts == report.expected_contacts, where


async def test_appstate_changes_survive_kill_9_sqlite(tmp_path: Path) -> None:
    await check(tmp_path, Backend("sqlite", tmp_path))


@pytest.mark.postgres
async def test_appstate_changes_survive_kill_9_postgres(tmp_path: Path) -> None:
    schema = fresh_schema()
    try:
        await check(tmp_path, Backend("postgres", tmp_path, PG_DSN, schema))
    finally:
        await drop_schema(schema)
