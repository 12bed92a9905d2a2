"""Collections, their state, and the typed results of applying patches.

A collection's state is its version, its LTHash, and the map from each live index MAC to the
value MAC last SET there. The map can be large (one entry per contact in
``critical_unblock_low``), so it stays in the store; the pure decoding and encoding steps take
only the entries they need (a :class:`MACView`) and return the changes to write back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from wamd.appstate.crypto import Operation
from wamd.appstate.lthash import EMPTY_HASH, HASH_SIZE, subtract_then_add

if TYPE_CHECKING:
    from wamd.proto.appstate_pb2 import SyncActionValue


class Collection(StrEnum):
    """The five app-state collections (``WAPatchName``)."""

    CRITICAL_BLOCK = "critical_block"
    """Account settings: push name, locale, security notifications."""
    CRITICAL_UNBLOCK_LOW = "critical_unblock_low"
    """The contact list."""
    REGULAR_HIGH = "regular_high"
    """Mute, star, delete-for-me, clear and delete chat."""
    REGULAR = "regular"
    """Labels, quick replies, key expiry and other protocol settings."""
    REGULAR_LOW = "regular_low"
    """Pin, archive, mark read/unread, unarchive setting."""


ALL_COLLECTIONS: tuple[Collection, ...] = (
    Collection.CRITICAL_BLOCK,
    Collection.CRITICAL_UNBLOCK_LOW,
    Collection.REGULAR_HIGH,
    Collection.REGULAR,
    Collection.REGULAR_LOW,
)
"""Every collection, in the order a full sync fetches them."""


@dataclass(frozen=True, slots=True)
class CollectionState:
    """Version and LTHash of one collection (``version == 0``: never synced)."""

    name: str
    version: int = 0
    hash: bytes = EMPTY_HASH

    def __post_init__(self) -> None:
        if len(self.hash) != HASH_SIZE:
            raise ValueError(f"an LTHash is {HASH_SIZE} bytes, not {len(self.hash)}")
        if self.version < 0:
            raise ValueError("a collection version is never negative")


MACView = Mapping[bytes, bytes]
"""Index MAC -> value MAC of the live entries a step may touch (loaded from the store)."""


@dataclass(frozen=True, slots=True)
class Mutation:
    """One decoded, verified app-state mutation.

    ``index`` is the decoded JSON index (e.g. ``("mute", "123@s.whatsapp.net")``), ``action``
    the ``SyncActionValue``, ``api_version`` the ``SyncActionData.version`` and
    ``patch_version`` the collection version the mutation arrived in.
    """

    collection: str
    operation: Operation
    index: tuple[str, ...]
    action: SyncActionValue = field(repr=False)
    api_version: int
    patch_version: int
    index_mac: bytes = field(repr=False)
    value_mac: bytes = field(repr=False)
    key_id: bytes = field(repr=False)

    @property
    def timestamp(self) -> int:
        """When the action was made, in milliseconds since the epoch (0 when absent)."""
        return int(self.action.timestamp)


@dataclass(slots=True)
class MACChanges:
    """What to write back to the store's index MAC -> value MAC map of one collection.

    ``replace`` means the collection's map must be cleared first (a snapshot was applied).
    """

    upsert: dict[bytes, bytes] = field(default_factory=dict)
    remove: set[bytes] = field(default_factory=set)
    replace: bool = False

    def set(self, index_mac: bytes, value_mac: bytes) -> None:
        """Record a SET of ``index_mac``."""
        self.upsert[index_mac] = value_mac
        self.remove.discard(index_mac)

    def delete(self, index_mac: bytes) -> None:
        """Record a REMOVE of ``index_mac``."""
        self.upsert.pop(index_mac, None)
        if not self.replace:
            self.remove.add(index_mac)


@dataclass(slots=True)
class SyncResult:
    """The outcome of applying a snapshot and/or patches (or of encoding one patch).

    Commit ``state`` and ``macs`` to the store in one transaction, then hand ``mutations``
    to the event mapping. ``warnings`` lists tolerated oddities (e.g. a REMOVE of an index
    that was never SET), as WhatsApp's own clients tolerate them.
    """

    state: CollectionState
    mutations: list[Mutation] = field(default_factory=list)
    macs: MACChanges = field(default_factory=MACChanges)
    warnings: list[str] = field(default_factory=list)


class MACOverlay:
    """The stored MAC map (``base``) seen through the changes made so far in this step."""

    __slots__ = ("_base", "changes")

    def __init__(self, base: MACView, changes: MACChanges) -> None:
        self._base = base
        self.changes = changes

    def get(self, index_mac: bytes) -> bytes | None:
        """The value MAC ``index_mac`` holds now, or ``None``."""
        found = self.changes.upsert.get(index_mac)
        if found is not None:
            return found
        if self.changes.replace or index_mac in self.changes.remove:
            return None
        return self._base.get(index_mac)

    def advance(
        self, lthash: bytes, items: Iterable[tuple[Operation, bytes, bytes]]
    ) -> tuple[bytes, list[bytes]]:
        """Apply ``(operation, index MAC, value MAC)`` items in order to ``lthash``.

        A SET replaces the index's previous value (subtracted) with its own (added); a REMOVE
        subtracts the previous value. Returns the new hash and the index MACs of REMOVEs that
        found no previous value (tolerated, as WhatsApp's clients do; a real inconsistency
        then shows as a snapshot MAC mismatch).
        """
        subtract: list[bytes] = []
        add: list[bytes] = []
        orphans: list[bytes] = []
        for operation, index_mac, value_mac in items:
            previous = self.get(index_mac)
            if previous is not None:
                subtract.append(previous)
            elif operation is Operation.REMOVE:
                orphans.append(index_mac)
            if operation is Operation.SET:
                add.append(value_mac)
                self.changes.set(index_mac, value_mac)
            else:
                self.changes.delete(index_mac)
        return subtract_then_add(lthash, subtract, add), orphans
