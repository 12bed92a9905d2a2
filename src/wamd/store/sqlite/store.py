"""The SQLite store: one file, WAL journal, aiosqlite, file-lock leases.

Durability: the database runs in WAL mode with ``synchronous=FULL`` by default, so a committed
transaction is on disk (the WAL is fsynced at every commit) before ``commit`` returns. The
receive path acknowledges a message only after its transaction commits; with ``FULL`` that
acknowledgement survives a power cut, not only a process crash. ``synchronous="NORMAL"`` is
faster and still atomic and crash-safe for the process (a kill -9 loses nothing committed: the
WAL is in the OS page cache), but a power loss may drop the last commits — messages the server
already considers delivered. Choose it only when that trade is acceptable.

One connection writes; a lock serializes its users, and a transaction holds it from
``BEGIN IMMEDIATE`` to ``COMMIT``. Each call to the writer's worker thread
(:mod:`.worker`) costs CPU on both sides, so a transaction makes one: its ``COMMIT``, which
fsyncs. ``BEGIN`` and the writes whose results nobody reads (``write``, ``executemany``) wait
in the transaction until a statement whose result is needed (a query, a row count) or
``COMMIT`` takes them along. The statements between ``BEGIN`` and ``COMMIT`` run on the event
loop's thread: they only touch pages (the write lock is the transaction's, nothing waits).
``BEGIN`` runs there too when it needs no wait (no call of the store unfinished on the worker
thread, and no other process holding the write lock); otherwise it goes to the worker thread,
which waits for the lock.

The writer's busy timeout is 0: nothing on the event loop's thread ever waits for a lock. The
statements that may have to wait for another process's write lock (``BEGIN``, ``COMMIT``, a
statement outside a transaction) run on the worker thread, and when one finds the lock taken
it runs again with the configured busy timeout (:func:`_patiently`).

Plain reads outside transactions use a second, read-only connection, so they never wait for a
commit's fsync (WAL gives them the last committed state).
Several processes may share the file (for different accounts); SQLite's busy timeout makes
their writers take turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from types import TracebackType
from typing import Literal, cast

import aiosqlite
import platformdirs

from wamd.errors import StoreError
from wamd.store._sync import LeaseBase, LocalLeases, TaskLock, TxTasks, finish, poll_acquire
from wamd.store.interfaces import Lease
from wamd.store.sealing import KeySource, Sealer
from wamd.store.sql.base import SQLStore, open_sealer
from wamd.store.sql.executor import Executor, Row, same_executor
from wamd.store.sql.migrations import Migrations, load_migrations
from wamd.store.sql.statements import exists_each, insert_all, insert_unless_present
from wamd.store.sqlite.worker import Worker

__all__ = ["SQLiteStore", "default_path", "migrate"]

MIGRATIONS: Migrations = load_migrations("wamd.store.sqlite")

Synchronous = Literal["FULL", "NORMAL", "EXTRA"]

# a statement waiting in a transaction: (sql, arguments or argument rows, how it runs: one of
# _ONE, _MANY (executemany), _NEW (an INSERT that may meet a key already there))
_Op = tuple[str, Sequence[object] | list[Sequence[object]], int]
# what a statement gave: its row count, its rows, the rowid of the row it inserted
_Result = tuple[int, list[Row], int | None]
_ONE, _MANY, _NEW = 0, 1, 2
_PRESENT = -2
"""The row count of a ``_NEW`` statement that met a key already there: SQLite undid it (its
conflict resolution is ABORT: the statement, not the transaction)."""
_KEY_PRESENT = (sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE)
_BEGIN: _Op = ("BEGIN IMMEDIATE", (), _ONE)
_COMMIT: _Op = ("COMMIT", (), _ONE)


def default_path() -> Path:
    """The default database file: ``wamd.db`` in the user's data directory."""
    return platformdirs.user_data_path("wamd", appauthor=False) / "wamd.db"


def _error(exc: sqlite3.Error) -> StoreError:
    return StoreError(f"sqlite: {exc}")


def _statements(script: str) -> Iterator[str]:
    """Split a script into complete statements (sqlite3 knows where each one ends)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer
            buffer = ""
    if buffer.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in buffer.splitlines()
    ):
        raise StoreError("migration script ends with an incomplete statement")


async def migrate(conn: aiosqlite.Connection, target: int | None = None) -> int:
    """Bring the schema of ``conn`` (autocommit mode) to ``target`` (default: latest);
    returns the version reached. Each step is one transaction."""
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS wamd_version (version INTEGER NOT NULL)")
        while True:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                rows = list(await conn.execute_fetchall("SELECT version FROM wamd_version"))
                current = int(rows[0][0]) if rows else 0
                steps = MIGRATIONS.plan(current, target)
                if not steps:
                    await conn.execute("COMMIT")
                    return current
                step = steps[0]
                for statement in _statements(step.sql):
                    await conn.execute(statement)
                await conn.execute("DELETE FROM wamd_version")
                await conn.execute("INSERT INTO wamd_version (version) VALUES (?)", [step.version])
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
    except sqlite3.Error as exc:
        raise _error(exc) from exc


def _busy(exc: sqlite3.OperationalError) -> bool:
    """Whether ``exc`` says another connection holds a lock this one needs."""
    return exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _patiently(
    db: sqlite3.Connection, wait_ms: int, sql: str, args: Sequence[object]
) -> sqlite3.Cursor:
    """Run a statement that may need another connection's lock (a ``BEGIN``, a ``COMMIT``, a
    statement outside a transaction) on the worker thread: at once, and when the lock is
    taken, again with a busy timeout of ``wait_ms``. (The writer's busy timeout is 0 the rest
    of the time. A statement that got ``SQLITE_BUSY`` changed nothing; a ``COMMIT`` that got
    it left its transaction open: both can run again.)"""
    try:
        return db.execute(sql, args)
    except sqlite3.OperationalError as exc:
        if not _busy(exc):
            raise
    db.execute(f"PRAGMA busy_timeout={wait_ms}")
    try:
        return db.execute(sql, args)
    finally:
        db.execute("PRAGMA busy_timeout=0")


def _run(db: sqlite3.Connection, ops: Sequence[_Op], wait_ms: int | None = None) -> _Result:
    """Run ``ops`` in order; the outcome of the last one. On the worker thread,
    ``wait_ms`` is the busy timeout of the statements that may wait for a lock
    (:func:`_patiently`); on the event loop's thread it is ``None``: nothing waits there."""
    cursor: sqlite3.Cursor | None = None
    rows: list[Row] = []
    for sql, args, how in ops:
        if how == _MANY:
            cursor = db.executemany(sql, cast("list[Sequence[object]]", args))
        elif how == _NEW:
            try:
                cursor = db.execute(sql, args)
            except sqlite3.IntegrityError as exc:
                if exc.sqlite_errorcode not in _KEY_PRESENT:
                    raise
                cursor, rows = None, []
                continue
        elif wait_ms is None:
            cursor = db.execute(sql, args)
        else:
            cursor = _patiently(db, wait_ms, sql, args)
        rows = cursor.fetchall()
    if cursor is None:
        return (_PRESENT if ops and ops[-1][2] == _NEW else -1), rows, None
    return cursor.rowcount, rows, cursor.lastrowid


async def _rollback(calls: Worker) -> None:
    """ROLLBACK, waited for through cancellations: its caller holds the store's lock, and the
    next holder's statements must not run inside this transaction (a statement whose await was
    cancelled still runs, in order, on the connection's thread). Errors are ignored: no
    transaction is left when COMMIT (or BEGIN) itself failed. Raises
    :class:`asyncio.CancelledError` afterwards when the caller was cancelled meanwhile."""
    with contextlib.suppress(sqlite3.Error):
        await finish(calls.run(lambda db: db.execute("ROLLBACK")))


class _SQLiteExecutor(Executor):
    """Statements on the store's connection; ``tx`` tells whether a transaction is open.

    In a transaction, ``pending`` holds the statements not run yet (``BEGIN`` first, then
    held-back writes); the next statement whose result is needed, or the ``COMMIT``, runs them
    first (see the module docstring for which thread runs what)."""

    def __init__(self, store: SQLiteStore, tx: bool) -> None:
        self._store = store
        self._tx = tx
        self.open = True
        self.pending: list[_Op] = [_BEGIN] if tx else []
        self.sent = False  # something (BEGIN at least) went to the thread: roll back on failure
        self.begun = False  # the BEGIN ran: the connection is this transaction's until COMMIT
        self.failed = False

    async def run(self, op: _Op) -> _Result:
        """Run the pending statements and ``op``: in one call to the worker thread, or right
        here once the transaction has begun (and ``op`` is not the COMMIT)."""
        if self._tx:
            if not self.open:
                raise StoreError("the transaction is finished")
            if self.failed:
                raise StoreError("a statement of this transaction failed")
            ops, self.pending = [*self.pending, op], []
            if op is not _COMMIT:
                # Between BEGIN and COMMIT the statements only touch pages (no fsync, no wait
                # for a lock: the write lock is ours) and nothing else is queued on the
                # connection (the store's lock is held, and every earlier call on its thread
                # finished before the BEGIN did): run them on this thread, without a round
                # trip to the worker. BEGIN runs here too when it needs no wait
                # (SQLiteStore._begin_here); COMMIT (it fsyncs) goes to the worker thread.
                try:
                    if not self.sent and self._store._begin_here():
                        self.sent = self.begun = True
                        ops = ops[1:]  # (the BEGIN just ran)
                    if self.begun:
                        return _run(self._store._db, ops)
                except sqlite3.Error as exc:
                    self.failed = True
                    raise _error(exc) from exc
            self.sent = True
            try:
                wait = self._store._wait_ms
                result = await self._store._calls.run(lambda db: _run(db, ops, wait))
                self.begun = True
                return result
            except sqlite3.Error as exc:
                # the held-back writes before the failed statement ran, the ones after did not:
                # only a rollback of the whole transaction leaves it consistent
                self.failed = True
                raise _error(exc) from exc
        store = self._store
        store._tx_tasks.check()
        await store._lock.acquire()
        wait = store._wait_ms
        try:
            return await store._calls.run(lambda db: _run(db, [op], wait))
        except sqlite3.Error as exc:
            raise _error(exc) from exc
        finally:
            store._lock.release()

    async def execute(self, sql: str, args: Sequence[object] = ()) -> int:
        return (await self.run((sql, args, _ONE)))[0]

    async def insert_rows(self, sql: str, args: Sequence[object], rows: int, key: str) -> list[int]:
        # Without RETURNING (it costs a temporary table): the rows of one INSERT get
        # consecutive rowids, each one more than the largest so far (the write lock is ours),
        # and the last one is the connection's last rowid.
        last = (await self.run((sql, args, _ONE)))[2]
        assert last is not None
        return list(range(last - rows + 1, last + 1))

    async def insert_new(
        self, table: str, columns: tuple[str, ...], key: int, rows: Sequence[Sequence[object]]
    ) -> list[bool]:
        # Without RETURNING (it costs a temporary table): a plain INSERT of every row, which
        # SQLite undoes whole when one of the keys is there already (ABORT: the statement,
        # not the transaction; rare: a message delivered again). Only then one query asks
        # which keys are there, and an INSERT adds the other rows. In one transaction: it
        # holds the write lock from its BEGIN IMMEDIATE, no other connection adds a key.
        if not self._tx:
            async with self.atomic() as x:
                return await x.insert_new(table, columns, key, rows)
        args = [v for row in rows for v in row]
        if (await self.run((insert_all(table, columns, len(rows)), args, _NEW)))[0] != _PRESENT:
            return [True] * len(rows)
        probe = exists_each(table, columns[:key], len(rows))
        found = await self.fetchrow(probe, [v for row in rows for v in row[:key]])
        assert found is not None
        absent = [row for row, there in zip(rows, found, strict=True) if not there]
        if absent:
            sql = insert_unless_present(table, columns, len(absent))
            await self.write(sql, [v for row in absent for v in row])
        return [not there for there in found]

    async def write(self, sql: str, args: Sequence[object] = ()) -> None:
        if not self._tx:
            await self.execute(sql, args)
            return
        self._hold((sql, args, _ONE))

    def _hold(self, op: _Op) -> None:
        """Keep ``op`` for the transaction's next call to the thread (or its COMMIT)."""
        if not self.open:
            raise StoreError("the transaction is finished")
        self.pending.append(op)

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        rows = list(rows)
        if not rows:
            return
        if not self._tx:  # one transaction for the batch, not one (and one fsync) per row
            async with self.atomic() as x:
                await x.executemany(sql, rows)
            return
        self._hold((sql, rows, _MANY))

    async def fetch(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        reader = self._store._reader
        if not self._tx and reader is not None and sql.lstrip()[:6].upper() == "SELECT":
            # a plain read outside a transaction: the read connection, without waiting for
            # the writer (WAL: it sees every transaction committed before it starts)
            self._store._tx_tasks.check()
            try:
                return list(await reader.execute_fetchall(sql, args))
            except sqlite3.Error as exc:
                raise _error(exc) from exc
        return (await self.run((sql, args, _ONE)))[1]

    def atomic(self) -> AbstractAsyncContextManager[Executor]:
        if self._tx:
            return same_executor(self)
        return self._store._begin()

    def in_list(self, column: str, values: Sequence[object]) -> tuple[str, list[object]]:
        return f"{column} IN ({', '.join('?' * len(values))})", list(values)


class _Transaction:
    """``async with`` one transaction of the store (:meth:`SQLiteStore._begin`): holds the
    store's lock and marks the task as holding a transaction from entry to exit; commits when
    the block exits normally, rolls back when it raises. (A class rather than a generator:
    the receive path opens one per batch.)"""

    __slots__ = ("_store", "_task", "_x")

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store
        self._task: asyncio.Task[object] | None = None
        self._x: _SQLiteExecutor | None = None

    async def __aenter__(self) -> _SQLiteExecutor:
        store = self._store
        store._tx_tasks.check()
        await store._lock.acquire()
        task = self._task = asyncio.current_task()
        if task is not None:
            store._tx_tasks.add(task)
        x = self._x = _SQLiteExecutor(store, tx=True)
        return x

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        x = self._x
        assert x is not None
        try:
            if exc_type is not None:
                await self._abandon(x)
            elif x.sent or len(x.pending) > 1:  # (nothing to commit: no BEGIN either)
                try:
                    await x.run(_COMMIT)
                except BaseException:
                    await self._abandon(x)
                    raise
        finally:
            x.open = False
            store = self._store
            if self._task is not None:
                store._tx_tasks.discard(self._task)
            store._lock.release()

    async def _abandon(self, x: _SQLiteExecutor) -> None:
        x.open = False
        if x.sent:
            # Also when cancelled while a call waited for the worker thread: it still runs
            # there. Roll it back (queued after it) or the connection stays in a transaction
            # nobody owns: every later BEGIN fails, and the next holder's statements run
            # inside it and vanish with it. (After a COMMIT that ran, the ROLLBACK finds no
            # transaction and changes nothing.)
            await _rollback(self._store._calls)


class _FileLease(LeaseBase):
    def __init__(self, account_id: int, fd: int) -> None:
        super().__init__(f"account {account_id}")
        self._fd = fd

    async def _release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


class SQLiteStore(SQLStore):
    """A store in one SQLite file (see :class:`wamd.store.Store`); open with :meth:`open`."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        reader: aiosqlite.Connection | None,
        path: str,
        sealer: Sealer,
    ) -> None:
        """Use :meth:`open`."""
        super().__init__()
        self._conn = conn
        self._db: sqlite3.Connection = conn._conn
        """The writer's sqlite3 connection (opened with ``check_same_thread=False``): used
        directly, on the event loop's thread, inside a transaction that has begun."""
        self._reader = reader
        self._calls = Worker(self._db)
        """The writer's worker thread (aiosqlite's stays idle after :meth:`open`)."""
        self._wait_ms = 30000
        """The busy timeout of the writer's statements that may wait for another connection's
        write lock (:func:`_patiently`); its connection's own busy timeout stays 0."""
        self._path = path
        self._lock = TaskLock()
        self._tx_tasks = TxTasks()
        self._local_leases = LocalLeases()
        self.sealer = sealer
        self.auto = _SQLiteExecutor(self, tx=False)

    def __repr__(self) -> str:
        return f"<SQLiteStore {self._path!r}>"

    @property
    def path(self) -> str:
        """The database file (``":memory:"`` for an in-memory database)."""
        return self._path

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        key: KeySource | None = None,
        synchronous: Synchronous = "FULL",
        busy_timeout: float = 30.0,
    ) -> SQLiteStore:
        """Open (creating or upgrading as needed) the store at ``path``.

        Args:
            path: the database file; default :func:`default_path`. ``":memory:"`` works too
                (nothing persists; leases are per process).
            key: the at-rest encryption key (bytes or a callable returning it, e.g.
                :func:`wamd.store.key_from_env`); ``None`` for a plaintext store.
            synchronous: SQLite's ``synchronous`` pragma (see the module docs).
            busy_timeout: seconds to wait for another process's write lock.

        Raises:
            SchemaTooNew: the file was written by a newer wamd.
            WrongStoreKey: the key does not open the store (or one was given to a plaintext
                store, or none to an encrypted one).
            StoreError: the file cannot be opened or is not a wamd store.
        """
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError("synchronous must be FULL, NORMAL or EXTRA")
        if path is None:
            path = default_path()
        path = os.fspath(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        busy = f"PRAGMA busy_timeout={int(busy_timeout * 1000)}"
        opened: list[aiosqlite.Connection] = []
        try:
            conn = await aiosqlite.connect(path, isolation_level=None, check_same_thread=False)
            opened.append(conn)
            for pragma in (
                "PRAGMA journal_mode=WAL",
                f"PRAGMA synchronous={synchronous}",
                "PRAGMA foreign_keys=ON",
                busy,
            ):
                await conn.execute(pragma)
            await migrate(conn)
            await conn.execute("PRAGMA busy_timeout=0")  # (see SQLiteStore._wait_ms)
            reader = None
            if path != ":memory:":  # (a second ":memory:" connection is another database)
                reader = await aiosqlite.connect(path, isolation_level=None)
                opened.append(reader)
                await reader.execute("PRAGMA query_only=ON")
                await reader.execute(busy)
            store = cls(conn, reader, path, Sealer())
            store._wait_ms = int(busy_timeout * 1000)
            try:
                store.sealer = await open_sealer(store.auto, key)
            except BaseException:
                await store._calls.close()
                raise
        except BaseException as exc:
            for c in opened:
                await c.close()
            if isinstance(exc, sqlite3.Error):
                raise _error(exc) from exc
            raise
        return store

    def _begin_here(self) -> bool:
        """``BEGIN IMMEDIATE`` on the event loop's thread when it needs no wait: nothing is
        queued on the worker thread and no other process holds the write lock (the writer's
        busy timeout is 0). ``False``: the caller sends its BEGIN to the worker thread, which
        waits for the lock as long as the busy timeout says (:func:`_patiently`)."""
        if not self._calls.idle:
            return False
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
            return False
        return True

    def _begin(self) -> _Transaction:
        return _Transaction(self)

    def _lock_file(self, account_id: int) -> Path:
        return Path(f"{self._path}.locks") / f"account-{account_id}.lock"

    async def _lease(self, account_id: int, wait: float | None) -> Lease:
        what = f"account {account_id} of {self._path}"
        if self._path == ":memory:":
            return await self._local_leases.acquire(account_id, wait, what)
        lock_path = self._lock_file(account_id)
        lock_path.parent.mkdir(exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

        async def try_once() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        try:
            await poll_acquire(try_once, wait, what)
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return _FileLease(account_id, fd)

    async def _close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
        await self._calls.close()
        await self._conn.close()
