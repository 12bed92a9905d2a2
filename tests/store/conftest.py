"""Fixtures of the store contract suite: every test runs on each backend."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest

from wamd.store import (
    DeviceCredentials,
    MemoryStore,
    SignedPreKey,
    Store,
    StoredKeyPair,
)
from wamd.store.postgres import PostgresStore
from wamd.store.sqlite import SQLiteStore

BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
PG_DSN = os.environ.get("WAMD_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
_schemas = itertools.count()


def fresh_schema() -> str:
    """A schema name no other test (or concurrent test run) uses."""
    return f"wamd_test_{os.getpid()}_{next(_schemas)}_{os.urandom(3).hex()}"


async def drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_run_schema() -> Iterator[str]:
    """One schema for the contract tests of this run (emptied before each test), dropped after."""
    schema = fresh_schema()

    async def create() -> None:
        await (await PostgresStore.connect(PG_DSN, schema=schema)).close()

    # (its own event loop in a thread: it is first asked for inside a test's running loop)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, create()).result()
        try:
            yield schema
        finally:
            pool.submit(asyncio.run, drop_schema(schema)).result()


async def _truncate(schema: str) -> None:
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'DELETE FROM "{schema}".accounts')  # cascades to every table
    finally:
        await conn.close()


@pytest.fixture
async def pg_schema() -> AsyncIterator[str]:
    """A fresh PostgreSQL schema, dropped after the test."""
    schema = fresh_schema()
    try:
        yield schema
    finally:
        await drop_schema(schema)


def key_pair() -> StoredKeyPair:
    """Random key-pair bytes (the store checks lengths only, not the curve)."""
    return StoredKeyPair(public=os.urandom(32), private=os.urandom(32))


def make_credentials(**changes: object) -> DeviceCredentials:
    """Fresh random credentials, with any field overridden."""
    fields: dict[str, object] = {
        "noise_key": key_pair(),
        "identity_key": key_pair(),
        "registration_id": int.from_bytes(os.urandom(2), "big") & 0x3FFF,
        "signed_prekey": SignedPreKey(1, key_pair(), os.urandom(64)),
        "adv_secret_key": os.urandom(32),
    }
    fields.update(changes)
    return DeviceCredentials(**fields)  # type: ignore[arg-type]


@pytest.fixture
def credentials() -> Callable[..., DeviceCredentials]:
    return make_credentials


async def open_store(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Store:
    """A store of ``backend`` on the test's database (another handle on it when one is open;
    a separate one for ``memory``)."""
    if backend == "memory":
        return MemoryStore()
    if backend == "sqlite":
        return await SQLiteStore.open(tmp_path / "wamd.db")
    return await PostgresStore.connect(PG_DSN, schema=request.getfixturevalue("pg_run_schema"))


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "postgres":
        await _truncate(request.getfixturevalue("pg_run_schema"))
    s = await open_store(request, tmp_path, request.param)
    try:
        yield s
    finally:
        await s.close()
