"""The sandbox's state survives restarts; area modules extend its schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from wamd.errors import StoreError
from wamd.sandbox import Sandbox
from wamd.sandbox.state import SandboxState

from .raw import Companion, login, pair_by_qr

PHONE = "15550005"


async def test_restart_keeps_keys_accounts_and_devices(tmp_path: Path) -> None:
    companion = Companion()
    async with Sandbox(state_dir=tmp_path, port=0) as first:
        root = first.root_public_key
        await pair_by_qr(first, companion, PHONE)
        account = await first.state.account(PHONE)
    async with Sandbox(state_dir=tmp_path, port=0) as second:
        assert second.root_public_key == root
        assert await second.state.account(PHONE) == account
        client = await login(second, companion)
        await client.close()


async def test_in_memory_sandboxes_are_independent() -> None:
    async with Sandbox(port=0) as one, Sandbox(port=0) as two:
        assert one.root_public_key != two.root_public_key
        assert one.url != two.url
        await one.admin.create_account(PHONE)
        assert await two.state.account(PHONE) is None


async def test_component_schemas_migrate_once_and_in_order(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    state = SandboxState(path)
    state.register_schema("messaging", ["CREATE TABLE queue (id INTEGER PRIMARY KEY, body BLOB)"])
    await state.open()
    await state.run(lambda db: db.execute("INSERT INTO queue (body) VALUES (x'01')"))
    await state.close()

    state = SandboxState(path)
    state.register_schema(
        "messaging",
        [
            "CREATE TABLE queue (id INTEGER PRIMARY KEY, body BLOB)",
            "ALTER TABLE queue ADD COLUMN acked INTEGER NOT NULL DEFAULT 0",
        ],
    )
    await state.open()
    rows = await state.run(lambda db: db.execute("SELECT body, acked FROM queue").fetchall())
    assert rows == [(b"\x01", 0)]
    versions = await state.run(
        lambda db: dict(db.execute("SELECT component, version FROM schema_versions").fetchall())
    )
    assert versions == {"core": 1, "messaging": 2}
    with pytest.raises(RuntimeError, match="before the state is opened"):
        state.register_schema("late", [])
    await state.close()


async def test_failed_migration_rolls_back(tmp_path: Path) -> None:
    state = SandboxState(tmp_path / "s.sqlite3")
    state.register_schema("broken", ["CREATE TABLE ok (x INTEGER); CREATE TABLE ok (y INTEGER)"])
    with pytest.raises(sqlite3.OperationalError):
        await state.open()
    db = sqlite3.connect(tmp_path / "s.sqlite3")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    assert "ok" not in tables


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    state = SandboxState(tmp_path / "s.sqlite3")
    await state.open()
    await state.run(lambda db: db.execute("UPDATE schema_versions SET version = 99"))
    await state.close()
    with pytest.raises(StoreError, match="newer"):
        await SandboxState(tmp_path / "s.sqlite3").open()


async def test_transactions_roll_back_on_error() -> None:
    state = SandboxState(":memory:")
    await state.open()

    def fail(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO meta (key, value) VALUES ('k', x'00')")
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await state.run(fail)
    assert await state.get_meta("k") is None
    await state.close()
    with pytest.raises(StoreError, match="not open"):
        await state.get_meta("k")


def test_account_reprs_hide_the_phone_keys() -> None:
    from wamd.sandbox.phone import new_account

    account = new_account("15550001", "123", 0)
    assert account.identity_private.hex() not in repr(account)
    assert account.signed_prekey_private.hex() not in repr(account)
