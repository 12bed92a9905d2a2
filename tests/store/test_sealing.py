"""Encryption at rest: secrets never reach the database in clear; the wrong key never opens it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from tests.store.conftest import PG_DSN, drop_schema, fresh_schema, make_credentials
from wamd.errors import StoreError, WrongStoreKey
from wamd.store import (
    AppStateSyncKey,
    MessageSecret,
    PreKey,
    PrivacyToken,
    SignedPreKey,
    StoredKeyPair,
    key_from_env,
)
from wamd.store.postgres import PostgresStore
from wamd.store.sealing import AESGCMSealer, KeySource, aad
from wamd.store.sql.base import SQLStore
from wamd.store.sqlite import SQLiteStore

KEY = b"correct horse battery staple 42!"
MARK = b"<<plaintext-marker-7f3a>>"

Opener = Callable[[KeySource | None], Awaitable[SQLStore]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens the same database (a file, or a fresh schema) again and again."""
    opened: list[SQLStore] = []
    if request.param == "sqlite":
        path = tmp_path / "sealed.db"

        async def open_sqlite(key: KeySource | None) -> SQLStore:
            store = await SQLiteStore.open(path, key=key)
            opened.append(store)
            return store

        yield open_sqlite
    else:
        schema = fresh_schema()

        async def open_pg(key: KeySource | None) -> SQLStore:
            store = await PostgresStore.connect(PG_DSN, schema=schema, key=key)
            opened.append(store)
            return store

        yield open_pg
    for store in opened:
        await store.close()
    if request.param == "postgres":
        await drop_schema(schema)


async def raw_bytes(store: SQLStore) -> bytes:
    """Everything the database holds, as bytes (the files, or every row of every table)."""
    if isinstance(store, SQLiteStore):
        return b"".join(
            p.read_bytes()
            for p in Path(store.path).parent.glob(Path(store.path).name + "*")
            if p.is_file()
        )
    assert isinstance(store, PostgresStore)
    conn = await asyncpg.connect(PG_DSN)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
            store.schema,
        )
        values: list[bytes] = []
        for t in tables:
            for row in await conn.fetch(f'SELECT * FROM "{store.schema}"."{t["table_name"]}"'):
                values.extend(v if isinstance(v, bytes) else str(v).encode() for v in row)
    finally:
        await conn.close()
    return b"|".join(values)


def marked(tag: str) -> bytes:
    """32 bytes (a key's size) holding the marker."""
    return (MARK + tag.encode()).ljust(32, b"#")[:32]


async def test_secrets_are_sealed_and_round_trip(opener: Opener) -> None:
    creds = make_credentials(
        noise_key=StoredKeyPair(os.urandom(32), marked("noise")),
        adv_secret_key=marked("adv"),
        account=MARK + b"account",
    )
    store = await opener(KEY)
    account = await store.new_account(creds)
    await account.sessions.put("1.0", MARK + b"session")
    await account.sender_keys.put("g@g.us", "1.0", MARK + b"sender-key")
    await account.prekeys.put_many([PreKey(1, StoredKeyPair(os.urandom(32), marked("prekey")))])
    spk = SignedPreKey(9, StoredKeyPair(os.urandom(32), marked("spk")), os.urandom(64))
    await account.signed_prekeys.put(spk)
    await account.app_state_keys.put(AppStateSyncKey(b"id", MARK + b"app-state", b"fp", 1))
    await account.message_secrets.put_many([MessageSecret("c", "s", "m", MARK + b"msg-secret")])
    await account.privacy_tokens.put_many([PrivacyToken("u@s.whatsapp.net", MARK + b"token", 1)])
    await account.outgoing.put("c", "m", MARK + b"outgoing")
    await account.inbox.put("message", MARK + b"inbox")
    await store.close()

    dump = await raw_bytes(store)
    assert len(dump) > 1000
    assert MARK not in dump

    store = await opener(KEY)
    account = await store.account(account.id)
    assert await account.credentials.load() == creds
    assert await account.sessions.get("1.0") == MARK + b"session"
    assert await account.sender_keys.get("g@g.us", "1.0") == MARK + b"sender-key"
    prekey = await account.prekeys.get(1)
    assert prekey is not None
    assert prekey.key_pair.private == marked("prekey")
    assert await account.signed_prekeys.get(9) == spk
    app_key = await account.app_state_keys.latest()
    assert app_key is not None
    assert app_key.key_data == MARK + b"app-state"
    assert await account.message_secrets.get("c", "s", "m") == MARK + b"msg-secret"
    token = await account.privacy_tokens.get("u@s.whatsapp.net")
    assert token is not None
    assert token.token == MARK + b"token"
    out = await account.outgoing.get("c", "m")
    assert out is not None
    assert out.plaintext == MARK + b"outgoing"
    assert [e.payload for e in await account.inbox.pending()] == [MARK + b"inbox"]


async def test_plaintext_store_holds_the_marker(opener: Opener) -> None:
    """The check above can fail: without a key the same secrets are in the database."""
    store = await opener(None)
    account = await store.new_account(make_credentials())
    await account.sessions.put("1.0", MARK + b"session")
    await store.close()
    assert MARK in await raw_bytes(store)


async def test_wrong_or_missing_key_is_refused(opener: Opener) -> None:
    store = await opener(KEY)
    await store.new_account(make_credentials())
    await store.close()
    with pytest.raises(WrongStoreKey, match="wrong"):
        await opener(b"another key of enough length")
    with pytest.raises(WrongStoreKey, match="encrypted"):
        await opener(None)
    with pytest.raises(WrongStoreKey, match="16"):
        await opener(b"short")

    async def async_key() -> bytes:
        return KEY

    store = await opener(async_key)
    assert len(await store.accounts()) == 1


async def test_plaintext_store_refuses_a_key(opener: Opener) -> None:
    await (await opener(None)).close()
    with pytest.raises(WrongStoreKey, match="not encrypted"):
        await opener(KEY)


async def test_key_from_the_environment(opener: Opener, monkeypatch: pytest.MonkeyPatch) -> None:
    source = key_from_env("WAMD_TEST_STORE_KEY")
    monkeypatch.delenv("WAMD_TEST_STORE_KEY", raising=False)
    with pytest.raises(WrongStoreKey, match="WAMD_TEST_STORE_KEY"):
        await opener(source)
    monkeypatch.setenv("WAMD_TEST_STORE_KEY", KEY.decode())
    store = await opener(source)
    await store.new_account(make_credentials())
    await store.close()
    assert len(await (await opener(KEY)).accounts()) == 1


async def test_a_sealed_value_moved_to_another_row_does_not_open(opener: Opener) -> None:
    store = await opener(KEY)
    account = await store.new_account(make_credentials())
    await account.sessions.put("1.0", b"alice's session")
    await store.auto.execute(
        "INSERT INTO sessions (account_id, address, record) "
        "SELECT account_id, '2.0', record FROM sessions WHERE address = '1.0'"
    )
    with pytest.raises(StoreError, match="failed to open"):
        await account.sessions.get("2.0")
    await store.auto.execute("UPDATE sessions SET record = ? WHERE address = '1.0'", [b"junk"])
    with pytest.raises(StoreError, match="malformed"):
        await account.sessions.get("1.0")


def test_sealer_repr_and_format() -> None:
    sealer = AESGCMSealer(bytes(range(32)))
    assert bytes(range(32)).hex() not in repr(sealer)
    sealed = sealer.seal(b"data", aad("t", 1, "k"))
    assert sealed[0] == 1
    assert len(sealed) == 1 + 12 + 4 + 16
    assert sealer.open(sealed, aad("t", 1, "k")) == b"data"
    with pytest.raises(StoreError):
        sealer.open(sealed, aad("t", 2, "k"))
