"""Schema migrations: upgrades keep data, the fast path equals the steps, newer schemas refuse."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import aiosqlite
import asyncpg
import pytest

from tests.conftest import ROOT
from tests.store.conftest import PG_DSN, make_credentials
from wamd.errors import SchemaTooNew, StoreError
from wamd.store import SeenMessage
from wamd.store.postgres import PostgresStore
from wamd.store.postgres import store as pg_store
from wamd.store.sql.codec import encode_credentials
from wamd.store.sql.migrations import load_migrations
from wamd.store.sqlite import SQLiteStore
from wamd.store.sqlite import store as sqlite_store

CREDS = make_credentials(push_name="Old Schema", jid="4915:2@s.whatsapp.net")


def _normalize(sql: str | None) -> str:
    return re.sub(r"\s+", " ", sql or "").strip()


async def _sqlite_schema(path: Path) -> list[tuple[str, str, str]]:
    async with aiosqlite.connect(path) as conn:
        rows = await conn.execute_fetchall(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
            "ORDER BY type, name"
        )
    return [(r[0], r[1], _normalize(r[2])) for r in rows]


async def _sqlite_version(path: Path) -> int:
    async with aiosqlite.connect(path) as conn:
        rows = list(await conn.execute_fetchall("SELECT version FROM wamd_version"))
    return int(rows[0][0])


def test_every_backend_has_contiguous_migrations_and_a_latest_schema() -> None:
    for package in ("wamd.store.sqlite", "wamd.store.postgres"):
        migrations = load_migrations(package)
        assert migrations.latest.version == len(migrations.steps) >= 2
        assert migrations.plan(0) == [migrations.latest]
        assert [m.version for m in migrations.plan(0, target=1)] == [1]
        assert [m.version for m in migrations.plan(1)] == list(range(2, len(migrations.steps) + 1))
        assert migrations.plan(migrations.latest.version) == []
        with pytest.raises(SchemaTooNew):
            migrations.plan(migrations.latest.version + 1)


async def test_sqlite_fast_path_equals_the_numbered_steps(tmp_path: Path) -> None:
    fast, stepped = tmp_path / "fast.db", tmp_path / "stepped.db"
    async with aiosqlite.connect(fast, isolation_level=None) as conn:
        assert await sqlite_store.migrate(conn) == sqlite_store.MIGRATIONS.latest.version
    async with aiosqlite.connect(stepped, isolation_level=None) as conn:
        assert await sqlite_store.migrate(conn, target=1) == 1
        assert await sqlite_store.migrate(conn) == sqlite_store.MIGRATIONS.latest.version
    assert await _sqlite_schema(fast) == await _sqlite_schema(stepped)


async def test_sqlite_upgrade_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await sqlite_store.migrate(conn, target=1)
        await conn.execute(
            "INSERT INTO accounts (id, jid, lid, push_name, created_at, credentials) "
            "VALUES (1, ?, NULL, ?, 1700000000, ?)",
            [CREDS.jid, CREDS.push_name, encode_credentials(CREDS)],
        )
        await conn.execute(
            "INSERT INTO sessions (account_id, address, record) VALUES (1, '4917.0', x'0102')"
        )
        await conn.execute(
            "INSERT INTO app_state_versions (account_id, collection, version, hash) "
            "VALUES (1, 'regular', 7, zeroblob(128))"
        )
    assert await _sqlite_version(path) == 1
    store = await SQLiteStore.open(path)
    try:
        account = await store.account(CREDS.jid or "")
        assert await account.credentials.load() == CREDS
        assert await account.sessions.get("4917.0") == b"\x01\x02"
        assert (await account.app_state.get_version("regular")).version == 7
        # the tables 0002 added work
        assert await account.seen.add(SeenMessage("c", "s", "id"))
        assert await account.inbox.put("message", b"x") > 0
        await account.sender_key_distribution.mark_sent("g@g.us", ["1.0"])
    finally:
        await store.close()
    assert await _sqlite_version(path) == sqlite_store.MIGRATIONS.latest.version


async def test_sqlite_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    await (await SQLiteStore.open(path)).close()
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await conn.execute("UPDATE wamd_version SET version = 999")
    with pytest.raises(SchemaTooNew, match="999"):
        await SQLiteStore.open(path)


async def test_sqlite_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not an SQLite database, not at all" * 100)
    with pytest.raises(StoreError):
        await SQLiteStore.open(path)


async def _pg_conn(schema: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(PG_DSN, server_settings={"search_path": schema})
    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    return conn


async def _pg_schema(conn: asyncpg.Connection, schema: str) -> list[tuple[object, ...]]:
    columns = await conn.fetch(
        "SELECT table_name, column_name, data_type, is_nullable, column_default, collation_name "
        "FROM information_schema.columns WHERE table_schema = $1 ORDER BY 1, 2",
        schema,
    )
    indexes = await conn.fetch(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY 2",
        schema,
    )
    constraints = await conn.fetch(
        "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE connamespace = $1::regnamespace ORDER BY 1, 2",
        schema,
    )
    strip = schema + "."
    return [
        *(tuple(r) for r in columns),
        *((r[0], r[1], r[2].replace(strip, "")) for r in indexes),
        *((r[0].replace(strip, ""), r[1]) for r in constraints),
    ]


@pytest.mark.postgres
async def test_postgres_fast_path_equals_the_numbered_steps(pg_schema: str) -> None:
    fast, stepped = pg_schema, pg_schema + "_b"
    conn_fast, conn_stepped = await _pg_conn(fast), await _pg_conn(stepped)
    try:
        assert await pg_store.migrate(conn_fast, fast) == pg_store.MIGRATIONS.latest.version
        assert await pg_store.migrate(conn_stepped, stepped, target=1) == 1
        assert await pg_store.migrate(conn_stepped, stepped) == pg_store.MIGRATIONS.latest.version
        a = await _pg_schema(conn_fast, fast)
        b = await _pg_schema(conn_stepped, stepped)
        assert a
        assert [tuple(str(v).replace(stepped, fast) for v in row) for row in b] == [
            tuple(str(v) for v in row) for row in a
        ]
    finally:
        await conn_stepped.execute(f'DROP SCHEMA "{stepped}" CASCADE')
        await conn_fast.close()
        await conn_stepped.close()


@pytest.mark.postgres
async def test_postgres_upgrade_keeps_the_data(pg_schema: str) -> None:
    conn = await _pg_conn(pg_schema)
    try:
        await pg_store.migrate(conn, pg_schema, target=1)
        await conn.execute(
            "INSERT INTO accounts (jid, push_name, created_at, credentials) VALUES ($1, $2, 1, $3)",
            CREDS.jid,
            CREDS.push_name,
            encode_credentials(CREDS),
        )
        await conn.execute(
            "INSERT INTO sessions (account_id, address, record) VALUES (1, '4917.0', '\\x0102')"
        )
        assert await conn.fetchval("SELECT version FROM wamd_version") == 1
    finally:
        await conn.close()
    store = await PostgresStore.connect(PG_DSN, schema=pg_schema)
    try:
        account = await store.account(CREDS.jid or "")
        assert await account.credentials.load() == CREDS
        assert await account.sessions.get("4917.0") == b"\x01\x02"
        assert await account.seen.add(SeenMessage("c", "s", "id"))
        assert await account.inbox.put("message", b"x") > 0
    finally:
        await store.close()
    conn = await _pg_conn(pg_schema)
    try:
        assert await conn.fetchval("SELECT version FROM wamd_version") == 2
        await conn.execute("UPDATE wamd_version SET version = 999")
    finally:
        await conn.close()
    with pytest.raises(SchemaTooNew, match="999"):
        await PostgresStore.connect(PG_DSN, schema=pg_schema)


def test_the_wheel_ships_the_migrations(tmp_path: Path) -> None:
    """The .sql files are package data: a built wheel must carry them (setuptools from the
    test extras builds it offline)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("wamd-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for backend in ("sqlite", "postgres"):
        for migration in load_migrations(f"wamd.store.{backend}").steps:
            assert f"wamd/store/{backend}/migrations/{migration.name}" in names
        assert f"wamd/store/{backend}/migrations/latest.sql" in names
