"""The sandbox's persistent state: one SQLite file, used from one worker thread.

Every database access goes through :meth:`SandboxState.run`, which executes a plain function
``fn(connection)`` in the state's own thread inside one transaction (committed when ``fn``
returns, rolled back when it raises). The event loop never blocks on SQLite, and all writes
are serialized.

Schemas are per *component* with numbered migrations. The core tables (server keys, accounts,
devices, prekeys, pairing refs) belong to ``"core"``; an area module adds its own with
:meth:`SandboxState.register_schema` before the state is opened::

    state.register_schema("messaging", [
        "CREATE TABLE offline_queue (...)",      # migration 1
        "ALTER TABLE offline_queue ADD ...",     # migration 2, added later
    ])

Migrations already applied (recorded in ``schema_versions``) are skipped; new ones run in order,
each in its own transaction. A migration script is split on ``;`` (so no semicolons inside
string literals or triggers). Never edit or reorder a released migration: append a new one.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from wamd.errors import StoreError

T = TypeVar("T")

STATE_FILE = "sandbox.sqlite3"

CORE_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    CREATE TABLE accounts (
        phone TEXT PRIMARY KEY,
        lid TEXT NOT NULL UNIQUE,
        identity_private BLOB NOT NULL,
        registration_id INTEGER NOT NULL,
        signed_prekey_private BLOB NOT NULL,
        signed_prekey_signature BLOB NOT NULL,
        adv_raw_id INTEGER NOT NULL,
        next_device INTEGER NOT NULL DEFAULT 1,
        next_key_index INTEGER NOT NULL DEFAULT 1,
        push_name TEXT NOT NULL DEFAULT '',
        banned_until INTEGER NOT NULL DEFAULT 0,
        ban_code INTEGER NOT NULL DEFAULT 0,
        outdated INTEGER NOT NULL DEFAULT 0,
        created INTEGER NOT NULL
    );
    CREATE TABLE devices (
        phone TEXT NOT NULL REFERENCES accounts(phone) ON DELETE CASCADE,
        device INTEGER NOT NULL,
        noise_public BLOB NOT NULL UNIQUE,
        identity_public BLOB NOT NULL,
        registration_id INTEGER NOT NULL,
        signed_prekey_id INTEGER NOT NULL,
        signed_prekey_public BLOB NOT NULL,
        signed_prekey_signature BLOB NOT NULL,
        key_index INTEGER NOT NULL,
        device_identity BLOB NOT NULL,
        platform TEXT NOT NULL DEFAULT '',
        device_props BLOB,
        push_name TEXT NOT NULL DEFAULT '',
        created INTEGER NOT NULL,
        last_seen INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (phone, device)
    );
    CREATE TABLE prekeys (
        phone TEXT NOT NULL,
        device INTEGER NOT NULL,
        key_id INTEGER NOT NULL,
        public BLOB NOT NULL,
        PRIMARY KEY (phone, device, key_id),
        FOREIGN KEY (phone, device) REFERENCES devices(phone, device) ON DELETE CASCADE
    );
    CREATE TABLE pair_refs (
        ref TEXT PRIMARY KEY,
        noise_public BLOB NOT NULL,
        issued INTEGER NOT NULL,
        expires INTEGER NOT NULL
    );
    """,
)


@dataclass(frozen=True, slots=True)
class Account:
    """A sandbox account: a phone number with its LID and its simulated primary phone's keys.

    ``identity_private`` is the primary device's identity key, which is also the account's ADV
    signature key (the ``accountSignatureKey`` companions receive). Secrets stay out of reprs.
    """

    phone: str
    lid: str
    identity_private: bytes = field(repr=False)
    registration_id: int
    signed_prekey_private: bytes = field(repr=False)
    signed_prekey_signature: bytes = field(repr=False)
    adv_raw_id: int
    next_device: int
    next_key_index: int
    push_name: str
    banned_until: int
    ban_code: int
    outdated: bool
    created: int


@dataclass(frozen=True, slots=True)
class Device:
    """A companion device paired to an account (device ids start at 1; 0 is the phone)."""

    phone: str
    device: int
    noise_public: bytes
    identity_public: bytes
    registration_id: int
    signed_prekey_id: int
    signed_prekey_public: bytes
    signed_prekey_signature: bytes
    key_index: int
    device_identity: bytes = field(repr=False)
    platform: str
    device_props: bytes | None = field(repr=False)
    push_name: str
    created: int
    last_seen: int


_ACCOUNT_COLUMNS = (
    "phone, lid, identity_private, registration_id, signed_prekey_private, "
    "signed_prekey_signature, adv_raw_id, next_device, next_key_index, push_name, "
    "banned_until, ban_code, outdated, created"
)
_DEVICE_COLUMNS = (
    "phone, device, noise_public, identity_public, registration_id, signed_prekey_id, "
    "signed_prekey_public, signed_prekey_signature, key_index, device_identity, platform, "
    "device_props, push_name, created, last_seen"
)


def _account(row: sqlite3.Row | None) -> Account | None:
    if row is None:
        return None
    values = list(row)
    values[12] = bool(values[12])
    return Account(*values)


def _device(row: sqlite3.Row | None) -> Device | None:
    return None if row is None else Device(*row)


class SandboxState:
    """The sandbox's SQLite database (see the module docstring).

    ``path`` is the database file (``":memory:"`` keeps everything in memory: nothing
    survives a restart).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._schemas: dict[str, tuple[str, ...]] = {"core": CORE_MIGRATIONS}
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"SandboxState(path={self.path!r}, open={self._db is not None})"

    def register_schema(self, component: str, migrations: Sequence[str]) -> None:
        """Declare ``component``'s migrations (SQL scripts, applied in order, each once).

        Call before :meth:`open`. Registering again replaces the list (so a component may be
        installed twice); migrations must only ever be appended.
        """
        if self._db is not None:
            raise RuntimeError("register schemas before the state is opened")
        self._schemas[component] = tuple(migrations)

    async def open(self) -> None:
        """Open (creating if needed) the database and apply pending migrations."""
        if self._db is not None:
            return
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-state")
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(executor, self._open_sync)
        except BaseException:
            if self._db is not None:
                await loop.run_in_executor(executor, self._db.close)
                self._db = None
            executor.shutdown(wait=False)
            raise
        self._executor = executor

    def _open_sync(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions ("
            "component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        self._db = db
        for component, migrations in self._schemas.items():
            self._migrate(db, component, migrations)

    @staticmethod
    def _migrate(db: sqlite3.Connection, component: str, migrations: Sequence[str]) -> None:
        row = db.execute(
            "SELECT version FROM schema_versions WHERE component = ?", (component,)
        ).fetchone()
        current = row[0] if row else 0
        if current > len(migrations):
            raise StoreError(
                f"sandbox state has {component} schema version {current}, newer than this "
                f"wamd ({len(migrations)})"
            )
        for version in range(current + 1, len(migrations) + 1):
            script = migrations[version - 1]
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(script):
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_versions (component, version) VALUES (?, ?) "
                    "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                    (component, version),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    async def close(self) -> None:
        """Close the database and stop the worker thread."""
        if self._db is None or self._executor is None:
            return
        db, executor = self._db, self._executor
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(executor, db.close)
        self._db = None
        self._executor = None
        executor.shutdown(wait=True)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` in the state thread inside one transaction; return its result."""
        if self._db is None or self._executor is None:
            raise StoreError("the sandbox state is not open")
        db = self._db
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _transaction, db, fn)

    # --- meta ---------------------------------------------------------------------------------

    async def get_meta(self, key: str) -> bytes | None:
        """A value of the key/value ``meta`` table."""
        row = await self.run(
            lambda db: db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        )
        return None if row is None else bytes(row[0])

    async def set_meta(self, key: str, value: bytes) -> None:
        """Store a value in the ``meta`` table."""
        await self.run(
            lambda db: db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
        )

    # --- accounts -----------------------------------------------------------------------------

    async def account(self, phone: str) -> Account | None:
        """The account of ``phone`` (digits), if it exists."""
        return await self.run(lambda db: account_by_phone(db, phone))

    async def account_by_lid(self, lid: str) -> Account | None:
        """The account whose LID user is ``lid``."""
        return await self.run(
            lambda db: _account(
                db.execute(
                    f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE lid = ?", (lid,)
                ).fetchone()
            )
        )

    async def accounts(self) -> list[Account]:
        """Every account."""
        return await self.run(
            lambda db: [
                a
                for row in db.execute(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY phone")
                if (a := _account(row)) is not None
            ]
        )

    async def update_account(self, phone: str, **values: object) -> None:
        """Set columns of an account (``banned_until=..``, ``outdated=..``, ``push_name=..``)."""
        allowed = {"push_name", "banned_until", "ban_code", "outdated"}
        if not values or set(values) - allowed:
            raise ValueError(f"updatable account columns: {sorted(allowed)}")
        assignments = ", ".join(f"{name} = ?" for name in values)
        params = [*values.values(), phone]
        await self.run(
            lambda db: db.execute(f"UPDATE accounts SET {assignments} WHERE phone = ?", params)
        )

    # --- devices ------------------------------------------------------------------------------

    async def device(self, phone: str, device: int) -> Device | None:
        """One device of an account."""
        return await self.run(lambda db: device_by_id(db, phone, device))

    async def device_by_noise_key(self, noise_public: bytes) -> Device | None:
        """The device that registered ``noise_public`` (its Noise static key)."""
        return await self.run(
            lambda db: _device(
                db.execute(
                    f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE noise_public = ?",
                    (noise_public,),
                ).fetchone()
            )
        )

    async def devices(self, phone: str) -> list[Device]:
        """The companion devices of an account, by device id."""
        return await self.run(lambda db: devices_of(db, phone))

    async def remove_device(self, phone: str, device: int) -> bool:
        """Forget a device (and its prekeys); whether it existed."""
        removed: int = await self.run(
            lambda db: (
                db.execute(
                    "DELETE FROM devices WHERE phone = ? AND device = ?", (phone, device)
                ).rowcount
            )
        )
        return removed > 0

    async def touch_device(self, phone: str, device: int, *, push_name: str | None = None) -> None:
        """Record a login of a device (and its push name, when the payload carries one)."""
        now = int(time.time())

        def update(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE devices SET last_seen = ? WHERE phone = ? AND device = ?",
                (now, phone, device),
            )
            if push_name:
                db.execute(
                    "UPDATE devices SET push_name = ? WHERE phone = ? AND device = ?",
                    (push_name, phone, device),
                )

        await self.run(update)


def _transaction(db: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    db.execute("BEGIN IMMEDIATE")
    try:
        result = fn(db)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return result


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


# --- synchronous helpers for use inside SandboxState.run ------------------------------------


def account_by_phone(db: sqlite3.Connection, phone: str) -> Account | None:
    """Read an account (inside :meth:`SandboxState.run`)."""
    return _account(
        db.execute(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE phone = ?", (phone,)).fetchone()
    )


def insert_account(db: sqlite3.Connection, account: Account) -> None:
    """Insert a new account (inside :meth:`SandboxState.run`)."""
    db.execute(
        f"INSERT INTO accounts ({_ACCOUNT_COLUMNS}) VALUES ({', '.join('?' * 14)})",
        (
            account.phone,
            account.lid,
            account.identity_private,
            account.registration_id,
            account.signed_prekey_private,
            account.signed_prekey_signature,
            account.adv_raw_id,
            account.next_device,
            account.next_key_index,
            account.push_name,
            account.banned_until,
            account.ban_code,
            int(account.outdated),
            account.created,
        ),
    )


def allocate_device(db: sqlite3.Connection, phone: str) -> tuple[int, int]:
    """Reserve the next device id and key index of an account (inside a transaction)."""
    row = db.execute(
        "SELECT next_device, next_key_index FROM accounts WHERE phone = ?", (phone,)
    ).fetchone()
    if row is None:
        raise StoreError(f"no sandbox account for {phone}")
    device, key_index = int(row[0]), int(row[1])
    db.execute(
        "UPDATE accounts SET next_device = ?, next_key_index = ? WHERE phone = ?",
        (device + 1, key_index + 1, phone),
    )
    return device, key_index


def insert_device(db: sqlite3.Connection, device: Device) -> None:
    """Insert a paired device, replacing any device holding the same Noise key."""
    db.execute("DELETE FROM devices WHERE noise_public = ?", (device.noise_public,))
    db.execute(
        f"INSERT INTO devices ({_DEVICE_COLUMNS}) VALUES ({', '.join('?' * 15)})",
        (
            device.phone,
            device.device,
            device.noise_public,
            device.identity_public,
            device.registration_id,
            device.signed_prekey_id,
            device.signed_prekey_public,
            device.signed_prekey_signature,
            device.key_index,
            device.device_identity,
            device.platform,
            device.device_props,
            device.push_name,
            device.created,
            device.last_seen,
        ),
    )


def device_by_id(db: sqlite3.Connection, phone: str, device: int) -> Device | None:
    """Read one device (inside :meth:`SandboxState.run`)."""
    return _device(
        db.execute(
            f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE phone = ? AND device = ?",
            (phone, device),
        ).fetchone()
    )


def devices_of(db: sqlite3.Connection, phone: str) -> list[Device]:
    """All companion devices of an account (inside :meth:`SandboxState.run`)."""
    return [
        d
        for row in db.execute(
            f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE phone = ? ORDER BY device", (phone,)
        )
        if (d := _device(row)) is not None
    ]
