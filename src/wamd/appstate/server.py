"""The server side of app state: versioned patches per account and collection (for the sandbox).

The server never holds sync keys: it stores the patches clients push, gives each the next
version of its collection, and serves them back. A snapshot is built without keys too: the live
records (the last SET of every index not since REMOVEd) with the snapshot MAC and key id of the
newest patch, which its author computed over exactly that state.

Storage is SQLite, accessed through a runner ``run(fn)`` that executes ``fn(connection)`` in
one transaction (``SandboxState.run`` in the sandbox; a plain connection in tests). The tables
are registered as the ``"appstate"`` component (:data:`MIGRATIONS`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from google.protobuf.message import DecodeError as ProtoDecodeError

from wamd.appstate.protocol import CONFLICT
from wamd.appstate.state import ALL_COLLECTIONS
from wamd.binary import AttrValue, Node
from wamd.errors import AttributeInvalid, AttributeMissing
from wamd.proto import appstate_pb2 as pb

T = TypeVar("T")


class DBRunner(Protocol):
    """Runs ``fn(connection)`` in one transaction and returns its result."""

    def __call__(self, fn: Callable[[sqlite3.Connection], T], /) -> Awaitable[T]: ...


PublishBlob = Callable[[bytes], Awaitable[pb.ExternalBlobReference]]
"""Stores a blob on the media servers ("md-app-state") and returns the reference to it."""

COMPONENT = "appstate"
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE appstate_collections (
        phone TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        snapshot_mac BLOB NOT NULL,
        key_id BLOB NOT NULL,
        PRIMARY KEY (phone, name)
    );
    CREATE TABLE appstate_patches (
        phone TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        patch BLOB NOT NULL,
        PRIMARY KEY (phone, name, version)
    );
    CREATE TABLE appstate_records (
        phone TEXT NOT NULL,
        name TEXT NOT NULL,
        index_mac BLOB NOT NULL,
        record BLOB NOT NULL,
        PRIMARY KEY (phone, name, index_mac)
    )
    """,
)

PAGE_SIZE = 100
"""Patches per answer; the rest follow with ``has_more_patches="true"``."""

MAX_MUTATIONS = 5000
"""Most mutations one pushed patch may carry."""

_KNOWN = frozenset(str(c) for c in ALL_COLLECTIONS)


class AppStateRequestError(Exception):
    """A request the server refuses as a whole (an ``<iq type="error">`` with ``code``)."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text


@dataclass(slots=True)
class SyncOutcome:
    """What :meth:`AppStateServer.handle` did: the answer's ``<sync>`` and what changed.

    ``changed`` lists ``(collection, new version)`` for every accepted patch: tell the
    account's other devices (``<notification type="server_sync">``).
    """

    answer: Node
    changed: list[tuple[str, int]] = field(default_factory=list)


def schema(db: sqlite3.Connection) -> None:
    """Create the tables on a bare connection (tests; the sandbox migrates them itself)."""
    for script in MIGRATIONS:
        for statement in script.split(";"):
            if statement.strip():
                db.execute(statement)


def _check_patch(raw: bytes) -> pb.SyncdPatch:
    try:
        patch = pb.SyncdPatch.FromString(raw)
    except ProtoDecodeError:
        raise AppStateRequestError(400, "bad-request: patch is not a SyncdPatch") from None
    if not patch.mutations or len(patch.mutations) > MAX_MUTATIONS:
        raise AppStateRequestError(400, "bad-request: patch mutation count")
    if len(patch.snapshot_mac) != 32 or len(patch.patch_mac) != 32 or not patch.key_id.id:
        raise AppStateRequestError(400, "bad-request: patch MACs or key id")
    for mutation in patch.mutations:
        record = mutation.record
        if (
            mutation.operation not in (pb.SyncdMutation.SET, pb.SyncdMutation.REMOVE)
            or len(record.index.blob) != 32
            or len(record.value.blob) < 64
            or not record.key_id.id
        ):
            raise AppStateRequestError(400, "bad-request: malformed mutation")
    return patch


def _version(db: sqlite3.Connection, phone: str, name: str) -> int:
    row = db.execute(
        "SELECT version FROM appstate_collections WHERE phone = ? AND name = ?", (phone, name)
    ).fetchone()
    return int(row[0]) if row else 0


def _store_patch(db: sqlite3.Connection, phone: str, name: str, patch: pb.SyncdPatch) -> int:
    version = _version(db, phone, name) + 1
    patch.version.version = version
    db.execute(
        "INSERT INTO appstate_patches (phone, name, version, patch) VALUES (?, ?, ?, ?)",
        (phone, name, version, patch.SerializeToString()),
    )
    for mutation in patch.mutations:
        key = mutation.record.index.blob
        if mutation.operation == pb.SyncdMutation.SET:
            db.execute(
                "INSERT INTO appstate_records (phone, name, index_mac, record) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (phone, name, index_mac) DO UPDATE SET record = excluded.record",
                (phone, name, key, mutation.record.SerializeToString()),
            )
        else:
            db.execute(
                "DELETE FROM appstate_records WHERE phone = ? AND name = ? AND index_mac = ?",
                (phone, name, key),
            )
    db.execute(
        "INSERT INTO appstate_collections (phone, name, version, snapshot_mac, key_id)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (phone, name) DO UPDATE SET"
        " version = excluded.version, snapshot_mac = excluded.snapshot_mac,"
        " key_id = excluded.key_id",
        (phone, name, version, patch.snapshot_mac, patch.key_id.id),
    )
    return version


def _patches_after(
    db: sqlite3.Connection, phone: str, name: str, after: int, limit: int
) -> tuple[list[bytes], bool]:
    rows = db.execute(
        "SELECT patch FROM appstate_patches WHERE phone = ? AND name = ? AND version > ?"
        " ORDER BY version LIMIT ?",
        (phone, name, after, limit + 1),
    ).fetchall()
    return [bytes(r[0]) for r in rows[:limit]], len(rows) > limit


def _snapshot(db: sqlite3.Connection, phone: str, name: str) -> pb.SyncdSnapshot | None:
    row = db.execute(
        "SELECT version, snapshot_mac, key_id FROM appstate_collections"
        " WHERE phone = ? AND name = ?",
        (phone, name),
    ).fetchone()
    if row is None:
        return None
    snapshot = pb.SyncdSnapshot(mac=bytes(row[1]))
    snapshot.version.version = int(row[0])
    snapshot.key_id.id = bytes(row[2])
    for (record,) in db.execute(
        "SELECT record FROM appstate_records WHERE phone = ? AND name = ? ORDER BY index_mac",
        (phone, name),
    ):
        snapshot.records.add().ParseFromString(bytes(record))
    return snapshot


@dataclass(slots=True)
class _Answer:
    version: int
    patches: list[bytes] = field(default_factory=list)
    more: bool = False
    snapshot: pb.SyncdSnapshot | None = None
    accepted: bool = False
    conflict: bool = False


@dataclass(frozen=True, slots=True)
class _Request:
    name: str
    version: int
    snapshot: bool
    patch: pb.SyncdPatch | None


def _parse_request(iq: Node) -> list[_Request]:
    sync = iq.child("sync")
    if sync is None:
        raise AppStateRequestError(400, "bad-request: no <sync>")
    requests: list[_Request] = []
    try:
        for node in sync.children_by_tag("collection"):
            name = node.attr_str("name")
            if name not in _KNOWN:
                raise AppStateRequestError(400, f"bad-request: unknown collection {name}")
            patch_nodes = node.children_by_tag("patch")
            if len(patch_nodes) > 1:
                raise AppStateRequestError(400, "bad-request: one patch per collection")
            patch = None
            if patch_nodes:
                content = patch_nodes[0].content
                if not isinstance(content, bytes):
                    raise AppStateRequestError(400, "bad-request: empty patch")
                patch = _check_patch(content)
            requests.append(
                _Request(
                    name,
                    node.attr_int("version", 0),
                    node.attr_bool("return_snapshot", False),
                    patch,
                )
            )
    except (AttributeMissing, AttributeInvalid) as exc:
        raise AppStateRequestError(400, f"bad-request: {exc}") from None
    if not requests:
        raise AppStateRequestError(400, "bad-request: no collection")
    return requests


class AppStateServer:
    """Answers ``w:sync:app:state`` IQs for accounts (see the module docs).

    ``publish_blob`` (optional) uploads snapshots; without it a client asking for a snapshot
    gets every patch from version 0 instead (equally valid for a client starting from scratch).
    """

    def __init__(
        self,
        run: DBRunner,
        *,
        publish_blob: PublishBlob | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._run = run
        self.publish_blob = publish_blob
        """Uploads snapshot blobs; set it when the media store becomes available."""
        self._page_size = page_size

    async def handle(self, phone: str, iq: Node) -> SyncOutcome:
        """Answer one IQ of account ``phone``: store pushed patches, serve the asked ones.

        Raises :class:`AppStateRequestError` for a malformed request (nothing is stored).
        """
        requests = _parse_request(iq)
        outcome = SyncOutcome(Node("sync", {}, []))
        for request in requests:
            node = await self._one(phone, request, outcome)
            assert isinstance(outcome.answer.content, list)
            outcome.answer.content.append(node)
        return outcome

    async def _one(self, phone: str, request: _Request, outcome: SyncOutcome) -> Node:
        name, page = request.name, self._page_size

        def work(db: sqlite3.Connection) -> _Answer:
            current = _version(db, phone, name)
            if request.patch is not None:
                if request.version != current:
                    patches, more = _patches_after(db, phone, name, request.version, page)
                    return _Answer(current, patches=patches, more=more, conflict=True)
                return _Answer(_store_patch(db, phone, name, request.patch), accepted=True)
            if request.snapshot and self.publish_blob is not None and current > 0:
                return _Answer(current, snapshot=_snapshot(db, phone, name))
            after = 0 if request.snapshot else request.version
            patches, more = _patches_after(db, phone, name, after, page)
            return _Answer(current, patches=patches, more=more)

        answer = await self._run(work)
        version, patches, more, snapshot = (
            answer.version,
            answer.patches,
            answer.more,
            answer.snapshot,
        )
        attrs: dict[str, AttrValue] = {"name": name, "version": str(version)}
        content: list[Node] = []
        if answer.conflict:
            attrs["type"] = "error"
            content.append(Node("error", {"code": str(CONFLICT), "text": "conflict"}))
        if answer.accepted:
            outcome.changed.append((name, version))
        if more:
            attrs["has_more_patches"] = "true"
        if patches:
            content.append(Node("patches", {}, [Node("patch", {}, p) for p in patches]))
        if snapshot is not None and self.publish_blob is not None:
            reference = await self.publish_blob(snapshot.SerializeToString())
            content.append(Node("snapshot", {}, reference.SerializeToString()))
        return Node("collection", attrs, content or None)

    async def versions(self, phone: str) -> dict[str, int]:
        """The current version of every collection of ``phone`` that has one."""

        def work(db: sqlite3.Connection) -> dict[str, int]:
            rows = db.execute(
                "SELECT name, version FROM appstate_collections WHERE phone = ?", (phone,)
            )
            return {str(n): int(v) for n, v in rows}

        return await self._run(work)

    async def snapshot(self, phone: str, name: str) -> pb.SyncdSnapshot | None:
        """The live state of a collection (its records, version, snapshot MAC and key id)."""
        return await self._run(lambda db: _snapshot(db, phone, name))

    async def corrupt_snapshot_mac(self, phone: str, name: str) -> None:
        """Fault injection for tests: flip a bit of the snapshot MAC served for a collection
        (until the next accepted patch brings a new one)."""

        def work(db: sqlite3.Connection) -> None:
            row = db.execute(
                "SELECT snapshot_mac FROM appstate_collections WHERE phone = ? AND name = ?",
                (phone, name),
            ).fetchone()
            if row is None:
                raise KeyError(f"no collection {name}")
            mac = bytes(row[0])
            db.execute(
                "UPDATE appstate_collections SET snapshot_mac = ? WHERE phone = ? AND name = ?",
                (bytes([mac[0] ^ 1]) + mac[1:], phone, name),
            )

        await self._run(work)

    async def corrupt_patch_mac(self, phone: str, name: str, version: int) -> None:
        """Fault injection for tests: flip a bit of a stored patch's patch MAC."""

        def work(db: sqlite3.Connection) -> None:
            row = db.execute(
                "SELECT patch FROM appstate_patches WHERE phone = ? AND name = ? AND version = ?",
                (phone, name, version),
            ).fetchone()
            if row is None:
                raise KeyError(f"no patch v{version} of {name}")
            patch = pb.SyncdPatch.FromString(bytes(row[0]))
            patch.patch_mac = bytes([patch.patch_mac[0] ^ 1]) + patch.patch_mac[1:]
            db.execute(
                "UPDATE appstate_patches SET patch = ?"
                " WHERE phone = ? AND name = ? AND version = ?",
                (patch.SerializeToString(), phone, name, version),
            )

        await self._run(work)


def server_sync_notification(name: str, version: int, notification_id: str) -> Node:
    """``<notification type="server_sync">`` telling a device that ``name`` moved on."""
    return Node(
        "notification",
        {"type": "server_sync", "id": notification_id},
        [Node("collection", {"name": name, "version": str(version)})],
    )


def collections_changed(notification: Node) -> Sequence[str]:
    """The collection names a ``server_sync`` notification names (client side)."""
    return [n.attr_str("name", "") for n in notification.children_by_tag("collection")]
