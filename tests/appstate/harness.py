"""In-memory wiring of wamd's app-state engine to the server core: devices of one account
share a server (SQLite in memory) and a blob store, each device has its own store account."""

from __future__ import annotations

import itertools
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tests.store.conftest import make_credentials
from wamd.appstate import events as ev
from wamd.appstate.engine import AppStateEngine
from wamd.appstate.server import AppStateServer, collections_changed, schema
from wamd.binary import Node
from wamd.proto import appstate_pb2 as pb
from wamd.store import Account, MemoryStore, Store
from wamd.store.types import AppStateSyncKey

T = TypeVar("T")
PHONE = "15550001111"


class Backend:
    """The server core, its database and blob store, and the devices connected to it."""

    def __init__(self, *, snapshots: bool = True) -> None:
        self.db = sqlite3.connect(":memory:")
        schema(self.db)
        self.db.commit()
        self.blobs: dict[str, bytes] = {}
        self._ids = itertools.count(1)
        self.server = AppStateServer(self.run, publish_blob=self.publish if snapshots else None)
        self.devices: list[Device] = []
        self.iqs: list[Node] = []

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            result = fn(self.db)
        except BaseException:
            self.db.rollback()
            raise
        self.db.commit()
        return result

    async def publish(self, data: bytes) -> pb.ExternalBlobReference:
        path = f"/v/t62.appstate/{next(self._ids)}"
        self.blobs[path] = data
        return pb.ExternalBlobReference(direct_path=path, file_size_bytes=len(data))

    async def download(self, ref: pb.ExternalBlobReference) -> bytes:
        return self.blobs[ref.direct_path]

    async def device(self, store: Store | None = None, account: Account | None = None) -> Device:
        store = store or MemoryStore()
        account = account or await store.new_account(make_credentials())
        device = Device(self, store, account)
        self.devices.append(device)
        return device


@dataclass
class Device:
    """One wamd device: its store account and its engine; it records the events it saw."""

    backend: Backend
    store: Store
    account: Account
    events: list[ev.AppStateEvent] = field(default_factory=list)
    key_requests: list[list[bytes]] = field(default_factory=list)
    recoveries: list[str] = field(default_factory=list)
    engine: AppStateEngine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = self.new_engine()

    def new_engine(self) -> AppStateEngine:
        async def request_keys(ids: list[bytes]) -> None:
            self.key_requests.append(ids)

        async def request_recovery(name: str) -> None:
            self.recoveries.append(name)

        return AppStateEngine(
            self.account,
            self.send_iq,
            self.backend.download,
            request_keys=request_keys,
            request_recovery=request_recovery,
        )

    async def send_iq(self, iq: Node) -> Node:
        self.backend.iqs.append(iq)
        outcome = await self.backend.server.handle(PHONE, iq)
        for name, version in outcome.changed:
            note = Node(
                "notification",
                {"type": "server_sync"},
                [Node("collection", {"name": name, "version": str(version)})],
            )
            for other in self.backend.devices:
                if other is not self:
                    other.pending.append(note)
        return Node("iq", {"type": "result"}, [outcome.answer])

    pending: list[Node] = field(default_factory=list)

    async def handle_notifications(self) -> None:
        """What the client does on ``server_sync``: sync the named collections."""
        notes, self.pending = self.pending, []
        for note in notes:
            for name in collections_changed(note):
                self.events += await self.engine.sync_collection(name)

    async def push(self, info: object) -> None:
        self.events += await self.engine.push(info)  # type: ignore[arg-type]


async def share_key(*devices: Device, key: AppStateSyncKey | None = None) -> AppStateSyncKey:
    """What the primary phone does at pairing: give every device the same (new) sync key."""
    key = key or AppStateSyncKey(os.urandom(6), os.urandom(32), timestamp=1)
    for device in devices:
        await device.account.app_state_keys.put(key)
    return key
