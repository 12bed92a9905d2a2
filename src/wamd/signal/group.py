"""Sender keys (group messaging) as libsignal and WhatsApp use them.

A sender key state: key id, chain key at an iteration, the signing key pair (only its public
half for other senders' keys) and stored out-of-order message keys. Message key seed =
HMAC(chain key, 0x01), next chain key = HMAC(chain key, 0x02); HKDF(seed, salt = 32 zero bytes,
info = "WhisperGroup", 48) -> IV (16) | AES-256 key (32). A ``SenderKeyMessage`` is
version | protobuf | XEdDSA signature over version | protobuf.

Records are values: every function returns a new record and leaves the given one as it was.
"""

from __future__ import annotations

import secrets

from google.protobuf.message import DecodeError as ProtoDecodeError

from wamd.crypto import KeyPair, verify_signature
from wamd.errors import DuplicateMessage, InvalidMessage, NoSession, StoreError
from wamd.proto import signal_pb2
from wamd.signal import symmetric, wire
from wamd.signal._pbwrite import bytes_field, varint_field
from wamd.signal.state import DEFAULT_LIMITS, Limits

__all__ = [
    "SenderKeyRecord",
    "SenderKeyState",
    "create_sender_key",
    "distribution_message",
    "group_decrypt",
    "group_encrypt",
    "process_distribution",
]

_MAX_ITERATION = 0xFFFFFFFF


class SenderKeyState:
    """One sender-key chain (never modified in place once built)."""

    __slots__ = ("chain_key", "iteration", "key_id", "signing_key", "signing_public", "skipped")

    def __init__(
        self,
        key_id: int,
        iteration: int,
        chain_key: bytes,
        signing_public: bytes,
        signing_key: KeyPair | None = None,
        skipped: dict[int, bytes] | None = None,
    ) -> None:
        self.key_id = key_id
        self.iteration = iteration
        self.chain_key = chain_key
        self.signing_public = signing_public
        self.signing_key = signing_key
        self.skipped = skipped if skipped is not None else {}

    def __repr__(self) -> str:
        return (
            f"SenderKeyState(key_id={self.key_id}, iteration={self.iteration},"
            f" own={self.signing_key is not None}, skipped={len(self.skipped)})"
        )

    def serialize(self) -> bytes:
        """This state as a ``SenderKeyState`` protobuf."""
        parts = [
            varint_field(b"\x08", self.key_id),
            varint_field(b"\x10", self.iteration),
            bytes_field(b"\x1a", self.chain_key),
            bytes_field(b"\x22", self.signing_public),
        ]
        if self.signing_key is not None:
            parts.append(bytes_field(b"\x2a", self.signing_key.private))
        parts.extend(
            bytes_field(b"\x32", varint_field(b"\x08", i) + bytes_field(b"\x12", seed))
            for i, seed in self.skipped.items()
        )
        return b"".join(parts)

    def _replace(
        self, iteration: int, chain_key: bytes, skipped: dict[int, bytes]
    ) -> SenderKeyState:
        return SenderKeyState(
            self.key_id, iteration, chain_key, self.signing_public, self.signing_key, skipped
        )


class SenderKeyRecord:
    """The sender-key states of one (group, sender), newest last."""

    __slots__ = ("states",)

    def __init__(self, states: list[SenderKeyState] | None = None) -> None:
        self.states: list[SenderKeyState] = states if states is not None else []

    def state_for(self, key_id: int) -> int:
        """Index of the newest state with ``key_id``, or -1."""
        for i in range(len(self.states) - 1, -1, -1):
            if self.states[i].key_id == key_id:
                return i
        return -1

    @property
    def latest(self) -> SenderKeyState | None:
        """The newest state (the one our own messages use)."""
        return self.states[-1] if self.states else None

    def __repr__(self) -> str:
        return f"SenderKeyRecord(states={self.states!r})"

    def serialize(self) -> bytes:
        """The record as bytes (a ``SenderKeyRecord`` protobuf)."""
        return b"".join(bytes_field(b"\x0a", state.serialize()) for state in self.states)

    @classmethod
    def deserialize(cls, data: bytes) -> SenderKeyRecord:
        """Parse :meth:`serialize` output; raises :class:`StoreError` when corrupt."""
        try:
            msg = signal_pb2.SenderKeyRecord.FromString(data)
        except ProtoDecodeError:
            raise StoreError("sender key record is corrupt") from None
        states = []
        for item in msg.states:
            if len(item.chain_key) != 32 or len(item.signing_public) != 32:
                raise StoreError("sender key state keys are not 32 bytes")
            signing = None
            if item.HasField("signing_private"):
                signing = KeyPair.from_private(item.signing_private)
                if signing.public != item.signing_public:
                    raise StoreError("sender key signing key pair does not match")
            states.append(
                SenderKeyState(
                    item.key_id,
                    item.iteration,
                    item.chain_key,
                    item.signing_public,
                    signing,
                    {k.index: k.seed for k in item.skipped},
                )
            )
        return cls(states)


def create_sender_key(record: SenderKeyRecord | None = None) -> SenderKeyRecord:
    """Our own sender key for a group: the given record if it has a state we can sign with,
    else a new record with a fresh state (random 31-bit id, iteration 0)."""
    if record is not None:
        latest = record.latest
        if latest is not None and latest.signing_key is not None:
            return record
    signing = KeyPair.generate()
    state = SenderKeyState(
        secrets.randbelow(2**31 - 1) + 1, 0, secrets.token_bytes(32), signing.public, signing
    )
    return SenderKeyRecord([state])


def distribution_message(record: SenderKeyRecord) -> bytes:
    """The serialized SenderKeyDistributionMessage for our current sender key state."""
    state = record.latest
    if state is None or state.signing_key is None:
        raise NoSession("no own sender key to distribute")
    return wire.build_sender_key_distribution(
        wire.SenderKeyDistribution(
            state.key_id, state.iteration, state.chain_key, state.signing_public
        )
    )


def process_distribution(
    record: SenderKeyRecord | None, data: bytes, limits: Limits = DEFAULT_LIMITS
) -> SenderKeyRecord:
    """Add the sender key a peer distributed; raises :class:`InvalidMessage` when malformed.

    A distribution repeating a known state (same id and signing key) keeps the state we have,
    so a replayed distribution cannot rewind the chain.
    """
    dist = wire.parse_sender_key_distribution(data)
    states = list(record.states) if record is not None else []
    for existing in states:
        if existing.key_id == dist.key_id and existing.signing_public == dist.signing_key:
            return record if record is not None else SenderKeyRecord(states)
    states = [s for s in states if s.key_id != dist.key_id]
    states.append(SenderKeyState(dist.key_id, dist.iteration, dist.chain_key, dist.signing_key))
    del states[: max(0, len(states) - limits.max_sender_key_states)]
    return SenderKeyRecord(states)


def group_encrypt(
    record: SenderKeyRecord | None, plaintext: bytes
) -> tuple[SenderKeyRecord, bytes]:
    """Encrypt with our own sender key: (new record, serialized SenderKeyMessage).

    Raises :class:`NoSession` when the record holds no own (signing) state.
    """
    state = record.latest if record is not None else None
    if record is None or state is None or state.signing_key is None:
        raise NoSession("no own sender key for this group")
    if state.iteration >= _MAX_ITERATION:
        raise NoSession("sender key chain exhausted; create a new sender key")
    seed, next_chain_key = symmetric.active.chain_step(state.chain_key)
    body = wire.build_sender_key_body(
        state.key_id, state.iteration, symmetric.active.seal_group(seed, plaintext)
    )
    signature = state.signing_key.sign(body)
    new_state = state._replace(state.iteration + 1, next_chain_key, state.skipped)
    return SenderKeyRecord([*record.states[:-1], new_state]), body + signature


def group_decrypt(
    record: SenderKeyRecord | None, data: bytes, limits: Limits = DEFAULT_LIMITS
) -> tuple[SenderKeyRecord, bytes]:
    """Decrypt a SenderKeyMessage: (new record, plaintext).

    Raises :class:`NoSession` (no state with the message's key id), :class:`InvalidMessage`
    (bad signature, malformed, too far ahead, undecryptable) or :class:`DuplicateMessage`.
    """
    message = wire.parse_sender_key_message(data)
    position = record.state_for(message.key_id) if record is not None else -1
    if record is None or position < 0:
        raise NoSession(f"no sender key with id {message.key_id}")
    state = record.states[position]
    if not verify_signature(state.signing_public, message.signed, message.signature):
        raise InvalidMessage("bad sender key message signature")
    iteration = message.iteration
    if iteration < state.iteration:
        seed = state.skipped.get(iteration)
        if seed is None:
            raise DuplicateMessage(f"group message {iteration} was already decrypted (or is old)")
        skipped = dict(state.skipped)
        del skipped[iteration]
        new_state = state._replace(state.iteration, state.chain_key, skipped)
    else:
        if iteration - state.iteration > limits.max_skip:
            raise InvalidMessage(f"group message is over {limits.max_skip} messages ahead")
        chain_key = state.chain_key
        skipped = state.skipped
        if iteration > state.iteration:
            skipped = dict(skipped)
            step = symmetric.active.chain_step
            for index in range(state.iteration, iteration):
                skipped[index], chain_key = step(chain_key)
            limit = min(limits.max_skipped_per_chain, limits.max_skipped_total)
            overflow = len(skipped) - limit
            if overflow > 0:
                for index in sorted(skipped)[:overflow]:
                    del skipped[index]
        seed, chain_key = symmetric.active.chain_step(chain_key)
        new_state = state._replace(iteration + 1, chain_key, skipped)
    plaintext = symmetric.active.open_group(seed, message.ciphertext)
    states = list(record.states)
    states[position] = new_state
    return SenderKeyRecord(states), plaintext
