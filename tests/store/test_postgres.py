"""PostgreSQL specifics: lost leases, schemas, connection errors."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.store.conftest import PG_DSN, make_credentials
from wamd.errors import StoreError
from wamd.store.postgres import PostgresStore
from wamd.store.postgres.store import _lock_class

pytestmark = pytest.mark.postgres


async def test_a_lease_whose_session_dies_is_lost_and_free(pg_schema: str) -> None:
    store = await PostgresStore.connect(PG_DSN, schema=pg_schema)
    try:
        account = await store.new_account(make_credentials())
        lease = await account.acquire_lease()
        admin = await asyncpg.connect(PG_DSN)
        try:
            pids = await admin.fetch(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 "
                "AND classid = $2::oid",
                account.id,
                # the int4 class id as PostgreSQL stores it (an unsigned oid)
                await admin.fetchval("SELECT ($1::int8 & 4294967295)", _lock_class(store.schema)),
            )
            assert len(pids) == 1
            await admin.execute("SELECT pg_terminate_backend($1)", pids[0]["pid"])
        finally:
            await admin.close()
        for _ in range(50):
            if not lease.held:
                break
            await asyncio.sleep(0.05)
        assert not lease.held
        again = await account.acquire_lease()
        assert again.held
        await lease.release()  # releasing a lost lease is harmless
        assert again.held
    finally:
        await store.close()


async def test_schemas_are_separate_stores(pg_schema: str) -> None:
    a = await PostgresStore.connect(PG_DSN, schema=pg_schema)
    b = await PostgresStore.connect(PG_DSN, schema=pg_schema + "_b")
    try:
        account = await a.new_account(make_credentials(jid="1:1@s.whatsapp.net"))
        assert await b.accounts() == []
        other = await b.new_account(make_credentials(jid="1:1@s.whatsapp.net"))
        assert other.id == account.id  # same id, other schema: independent leases too
        async with await account.acquire_lease(), await other.acquire_lease():
            pass
    finally:
        await a.close()
        await b.close()
        conn = await asyncpg.connect(PG_DSN)
        await conn.execute(f'DROP SCHEMA "{pg_schema}_b" CASCADE')
        await conn.close()


async def test_bad_arguments_and_unreachable_servers() -> None:
    with pytest.raises(ValueError, match="schema"):
        await PostgresStore.connect(PG_DSN, schema='x"; DROP TABLE y; --')
    with pytest.raises(StoreError):
        await PostgresStore.connect("postgresql://postgres@127.0.0.1:1/test")


async def test_concurrent_writers_of_one_lid_pair_do_not_collide(pg_schema: str) -> None:
    """Two transactions learning the same LID pair at once (a receive batch and a group send
    do): the second one's insert waits for the first's commit and must not then fail on the
    primary key (its DELETE ran before that row was visible)."""
    store = await PostgresStore.connect(PG_DSN, schema=pg_schema)
    try:
        account = await store.new_account(make_credentials())
        first_wrote = asyncio.Event()

        async def first() -> None:
            async with account.transaction() as tx:
                await tx.lid_map.put_many([("100", "4911")])
                assert await tx.lid_map.pn_for_lid("100") == "4911"  # (the insert has run)
                first_wrote.set()
                await asyncio.sleep(0.3)

        async def second(pair: tuple[str, str]) -> None:
            await first_wrote.wait()
            async with account.transaction() as tx:
                await tx.lid_map.put_many([pair])

        await asyncio.gather(first(), second(("100", "4911")))
        assert await account.lid_map.pn_for_lid("100") == "4911"
        first_wrote.clear()
        # a pair sharing one side with the concurrent one: no error, one side wins
        await asyncio.gather(first(), second(("100", "4922")))
        assert await account.lid_map.pn_for_lid("100") in ("4911", "4922")
    finally:
        await store.close()
