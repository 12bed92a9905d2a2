"""Session state of the Double Ratchet and the session record holding current and old states.

States are treated as values: the cipher functions never modify a state or record they were
given; they return new ones that share the unchanged parts. That makes decryption pure (a
failed or discarded decryption leaves the caller's state as it was) without deep copies.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError as ProtoDecodeError

from wamd.crypto import KeyPair
from wamd.errors import StoreError
from wamd.proto import signal_pb2
from wamd.signal._pbwrite import bytes_field, varint, varint_field

__all__ = [
    "Limits",
    "PendingPreKey",
    "ReceiverChain",
    "SessionRecord",
    "SessionState",
]

SESSION_VERSION = 3
_VERSION_FIELD = varint_field(b"\x08", SESSION_VERSION)


def _skipped_field(index: int, seed: bytes) -> bytes:
    """A ``SkippedKey`` as a length-delimited field 4 of its chain (seeds are 32 bytes)."""
    inner = b"\x08" + varint(index) + b"\x12\x20" + seed
    return b"\x22" + varint(len(inner)) + inner


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that keep hostile or broken peers from growing state without end.

    ``max_skip``: how far ahead of a chain a message may be (libsignal: 2000).
    ``max_skipped_per_chain`` / ``max_skipped_total``: stored out-of-order message keys per chain
    and per session state (or sender-key state); the oldest are dropped beyond them.
    ``max_receiver_chains``: receiving chains kept per session state (libsignal: 5).
    ``max_archived_sessions``: old session states kept per record (libsignal: 40).
    ``max_sender_key_states``: sender-key states kept per (group, sender) (libsignal: 5).
    """

    max_skip: int = 2000
    max_skipped_per_chain: int = 2000
    max_skipped_total: int = 2000
    max_receiver_chains: int = 5
    max_archived_sessions: int = 40
    max_sender_key_states: int = 5


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class PendingPreKey:
    """The X3DH header an initiator sends with every message until the peer replies."""

    pre_key_id: int | None
    signed_pre_key_id: int
    base_key: bytes


class ReceiverChain:
    """A receiving chain: chain key for message ``index`` on, and stored skipped message keys.

    Never mutated once built: the cipher creates a new chain to advance one.
    """

    __slots__ = ("_serialized", "chain_key", "index", "ratchet_key", "skipped")

    def __init__(
        self, ratchet_key: bytes, chain_key: bytes, index: int, skipped: dict[int, bytes]
    ) -> None:
        self.ratchet_key = ratchet_key
        self.chain_key = chain_key
        self.index = index
        self.skipped = skipped
        self._serialized: bytes | None = None

    def serialize(self) -> bytes:
        """This chain as a ``ReceiverChain`` protobuf (computed once: chains never change)."""
        data = self._serialized
        if data is None:
            data = self._serialized = b"".join(
                [
                    b"\x0a\x20",
                    self.ratchet_key,
                    b"\x12\x20",
                    self.chain_key,
                    b"\x18",
                    varint(self.index),
                    *[_skipped_field(i, seed) for i, seed in self.skipped.items()],
                ]
            )
        return data

    def __repr__(self) -> str:
        return f"ReceiverChain(index={self.index}, skipped={len(self.skipped)})"


class SessionState:
    """One Double Ratchet session with a remote device.

    Attribute values are never modified in place by the cipher; :meth:`copy` gives a shallow
    copy whose fields may be reassigned (before it is serialized or handed on: a state keeps
    the bytes of its serialization's first fields once written, and a state parsed from bytes
    keeps those bytes).
    """

    __slots__ = (
        "_head",
        "_stored",
        "base_key",
        "initiator",
        "pending",
        "previous_counter",
        "receiver_chains",
        "remote_identity",
        "remote_registration_id",
        "root_key",
        "sender_chain_key",
        "sender_index",
        "sender_ratchet",
    )

    def __init__(
        self,
        *,
        remote_identity: bytes,
        remote_registration_id: int,
        root_key: bytes,
        base_key: bytes,
        initiator: bool,
        sender_ratchet: KeyPair,
        sender_chain_key: bytes | None,
        sender_index: int = 0,
        previous_counter: int = 0,
        receiver_chains: list[ReceiverChain] | None = None,
        pending: PendingPreKey | None = None,
    ) -> None:
        self.remote_identity = remote_identity
        self.remote_registration_id = remote_registration_id
        self.root_key = root_key
        self.base_key = base_key
        self.initiator = initiator
        self.sender_ratchet = sender_ratchet
        self.sender_chain_key = sender_chain_key
        self.sender_index = sender_index
        self.previous_counter = previous_counter
        self.receiver_chains = receiver_chains if receiver_chains is not None else []
        self.pending = pending
        self._head: bytes | None = None
        """Serialized fields 1 to 9 (identity to sender index), once written."""
        self._stored: bytes | None = None
        """The bytes this state was parsed from (it has not changed since)."""

    def copy(self, *, same_head: bool = False) -> SessionState:
        """A shallow copy (the chain list is new; chains themselves are shared).

        ``same_head``: the caller changes none of the fields up to the sender index (only
        receiver chains and the pending header), so the copy keeps their serialized bytes.
        """
        new = SessionState.__new__(SessionState)
        new._head = self._head if same_head else None
        new._stored = None
        new.remote_identity = self.remote_identity
        new.remote_registration_id = self.remote_registration_id
        new.root_key = self.root_key
        new.base_key = self.base_key
        new.initiator = self.initiator
        new.sender_ratchet = self.sender_ratchet
        new.sender_chain_key = self.sender_chain_key
        new.sender_index = self.sender_index
        new.previous_counter = self.previous_counter
        new.receiver_chains = list(self.receiver_chains)
        new.pending = self.pending
        return new

    def find_receiver_chain(self, ratchet_key: bytes) -> int:
        """Index in :attr:`receiver_chains` of the chain for ``ratchet_key``, or -1."""
        chains = self.receiver_chains
        for i in range(len(chains) - 1, -1, -1):
            if chains[i].ratchet_key == ratchet_key:
                return i
        return -1

    def __repr__(self) -> str:
        return (
            f"SessionState(base_key={self.base_key.hex()[:16]}.., sender_index={self.sender_index},"
            f" receiver_chains={len(self.receiver_chains)}, pending={self.pending is not None})"
        )

    # --- serialization ---------------------------------------------------------------------

    def serialize(self) -> bytes:
        """This state as bytes (a ``SessionState`` protobuf). Keys are 32 bytes: their
        length-delimited fields are written with the constant length byte 0x20.

        A state parsed from bytes gives back those bytes; the fields up to the sender index
        are written once per state (and kept by copies that do not change them).
        """
        if self._stored is not None:
            return self._stored
        chain_key = self.sender_chain_key
        head = self._head
        if head is None:
            ratchet = self.sender_ratchet
            head = self._head = b"".join(
                (
                    _VERSION_FIELD,
                    b"\x12\x20",
                    self.remote_identity,
                    b"\x18",
                    varint(self.remote_registration_id),
                    b"\x22\x20",
                    self.root_key,
                    b"\x28",
                    varint(self.previous_counter),
                    b"\x32\x20",
                    ratchet.public,
                    b"\x3a\x20",
                    ratchet.private,
                    b"" if chain_key is None else b"\x42\x20" + chain_key,
                    b"\x48",
                    varint(self.sender_index),
                )
            )
        parts = [head]
        for chain in self.receiver_chains:
            data = chain.serialize()
            parts += (b"\x52", varint(len(data)), data)
        pending = self.pending
        if pending is not None:
            inner = b"" if pending.pre_key_id is None else varint_field(b"\x08", pending.pre_key_id)
            inner += varint_field(b"\x10", pending.signed_pre_key_id)
            inner += b"\x1a\x20" + pending.base_key
            parts.append(bytes_field(b"\x5a", inner))
        parts += (
            b"\x62\x20",
            self.base_key,
            b"\x68\x01" if self.initiator else b"\x68\x00",
            b"\x70\x00" if chain_key is None else b"\x70\x01",
        )
        return b"".join(parts)

    @classmethod
    def from_proto(cls, msg: signal_pb2.SessionState) -> SessionState:
        """Rebuild a state from its protobuf; raises :class:`StoreError` when inconsistent."""
        if msg.version != SESSION_VERSION:
            raise StoreError(f"unsupported session state version {msg.version}")
        for name in ("remote_identity", "root_key", "base_key", "sender_ratchet_private"):
            if len(getattr(msg, name)) != 32:
                raise StoreError(f"session state field {name} is not 32 bytes")
        ratchet = KeyPair.from_private(msg.sender_ratchet_private)
        if ratchet.public != msg.sender_ratchet_public:
            raise StoreError("session state ratchet key pair does not match")
        chains = []
        for chain in msg.receiver_chains:
            if len(chain.ratchet_key) != 32 or len(chain.chain_key) != 32:
                raise StoreError("receiver chain keys are not 32 bytes")
            chains.append(
                ReceiverChain(
                    chain.ratchet_key,
                    chain.chain_key,
                    chain.index,
                    {k.index: k.seed for k in chain.skipped},
                )
            )
        pending = None
        if msg.HasField("pending_pre_key"):
            p = msg.pending_pre_key
            pending = PendingPreKey(
                p.pre_key_id if p.HasField("pre_key_id") else None,
                p.signed_pre_key_id,
                p.base_key,
            )
        return cls(
            remote_identity=msg.remote_identity,
            remote_registration_id=msg.remote_registration_id,
            root_key=msg.root_key,
            base_key=msg.base_key,
            initiator=msg.initiator,
            sender_ratchet=ratchet,
            sender_chain_key=msg.sender_chain_key if msg.has_sender_chain else None,
            sender_index=msg.sender_index,
            previous_counter=msg.previous_counter,
            receiver_chains=chains,
            pending=pending,
        )

    @classmethod
    def deserialize(cls, data: bytes) -> SessionState:
        """Parse :meth:`serialize` output; raises :class:`StoreError` when corrupt."""
        try:
            msg = signal_pb2.SessionState.FromString(data)
        except ProtoDecodeError:
            raise StoreError("session state record is corrupt") from None
        state = cls.from_proto(msg)
        state._stored = data
        return state


class SessionRecord:
    """All sessions with one remote device: the current state and archived older states.

    Archived states (newest first) stay serialized until a message needs one. Records are
    values: :meth:`with_current`, :meth:`with_previous` and :meth:`archive_current` return new
    records.
    """

    __slots__ = ("_previous", "current")

    def __init__(
        self,
        current: SessionState | None = None,
        previous: list[bytes | SessionState] | None = None,
    ) -> None:
        self.current = current
        self._previous: list[bytes | SessionState] = previous if previous is not None else []

    @property
    def previous_count(self) -> int:
        """How many archived states the record holds."""
        return len(self._previous)

    def previous_state(self, index: int) -> SessionState:
        """Archived state ``index`` (0 = newest), parsed on first use."""
        item = self._previous[index]
        if isinstance(item, bytes):
            item = SessionState.deserialize(item)
            self._previous[index] = item  # caching the parsed value does not change the record
        return item

    def states(self) -> list[SessionState]:
        """The current state (if any) followed by every archived state."""
        head = [self.current] if self.current is not None else []
        return head + [self.previous_state(i) for i in range(len(self._previous))]

    def with_current(self, state: SessionState) -> SessionRecord:
        """A record whose current state is replaced by ``state``."""
        return SessionRecord(state, list(self._previous))

    def with_previous(self, index: int, state: SessionState) -> SessionRecord:
        """A record whose archived state ``index`` is replaced by ``state``."""
        previous = list(self._previous)
        previous[index] = state
        return SessionRecord(self.current, previous)

    def promote(self, state: SessionState, limits: Limits = DEFAULT_LIMITS) -> SessionRecord:
        """A record with ``state`` as current and the old current archived first."""
        previous = list(self._previous)
        if self.current is not None:
            previous.insert(0, self.current)
        del previous[limits.max_archived_sessions :]
        return SessionRecord(state, previous)

    def archive_current(self, limits: Limits = DEFAULT_LIMITS) -> SessionRecord:
        """A record with no current state, the old current archived first."""
        if self.current is None:
            return self
        previous = [self.current, *self._previous][: limits.max_archived_sessions]
        return SessionRecord(None, previous)

    def __repr__(self) -> str:
        return f"SessionRecord(current={self.current!r}, previous={len(self._previous)})"

    def serialize(self) -> bytes:
        """The record as bytes (a ``SessionRecord`` protobuf)."""
        parts = [] if self.current is None else [bytes_field(b"\x0a", self.current.serialize())]
        for item in self._previous:
            data = item if isinstance(item, bytes) else item.serialize()
            parts.append(bytes_field(b"\x12", data))
        return b"".join(parts)

    @classmethod
    def deserialize(cls, data: bytes) -> SessionRecord:
        """Parse :meth:`serialize` output; raises :class:`StoreError` when corrupt."""
        try:
            msg = signal_pb2.SessionRecord.FromString(data)
        except ProtoDecodeError:
            raise StoreError("session record is corrupt") from None
        current = SessionState.from_proto(msg.current) if msg.HasField("current") else None
        return cls(current, list(msg.previous))
