"""The Signal facade the client uses: enc types ``pkmsg`` / ``msg`` / ``skmsg`` over a store.

Usage, one unit of work per batch of stanzas::

    cipher = SignalCipher(identity_key_pair, registration_id)      # long-lived, per account
    batch = cipher.batch(account)                                  # reads go through the store
    await batch.prefetch(addresses=[...])                          # optional batch loading
    result = await batch.decrypt(address, "pkmsg", data)           # pure: nothing is written
    async with account.transaction() as tx:
        await batch.commit(tx)                                     # new records, identities,
        ...                                                        # consumed prekeys + own rows

Decryption and encryption never write: they update the batch's working view and its
:class:`ChangeSet`. A failed decryption raises a typed error and leaves the view unchanged.
Dropping the batch without committing forgets everything it did.

Parsed records are cached per :class:`SignalCipher`, keyed by their stored bytes: a record
whose stored bytes are unchanged is not parsed again, and a stale cache entry can never be used
(a rolled-back commit leaves different bytes in the store than in the cache).

Beside that, the cipher remembers the *committed* session and identity of recently used
addresses, so that a batch needs no store read for them (:meth:`SignalBatch.prefetch`). The
rules that keep it equal to the store:

* :meth:`SignalBatch.commit` forgets every address it writes, before writing: whatever the
  transaction's outcome (committed, rolled back, unknown), the next batch reads the store;
* around the transaction, :meth:`SignalBatch.committing` remembers what was written once the
  transaction's block exited normally (the caller still holds the addresses' locks); an
  exception (a rollback, or a cancellation whose COMMIT may have landed) remembers nothing;
* a store read is remembered only when no commit was under way at any moment of it (a count
  of commits under way, and a counter bumped when one begins or ends);
* anything that writes sessions or identities without a batch calls
  :meth:`SignalCipher.forget` for those addresses (the receive path's PN->LID session move
  does), and the cipher assumes it is the only writer of its account's sessions (one client
  per account, as the store's account leases ensure).
"""

from __future__ import annotations

import contextlib
import enum
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Generic, TypeVar

from wamd.crypto import KeyPair
from wamd.errors import UntrustedIdentity
from wamd.signal import group as group_ops
from wamd.signal import wire
from wamd.signal.group import SenderKeyRecord
from wamd.signal.keys import PreKeyBundle
from wamd.signal.padding import pad, unpad
from wamd.signal.session_cipher import (
    ENC_MSG,
    ENC_PKMSG,
    LocalIdentity,
    decrypt_prekey_message,
    decrypt_signal_message,
    encrypt,
    session_from_bundle,
)
from wamd.signal.state import DEFAULT_LIMITS, Limits, SessionRecord
from wamd.signal.store import SignalStore

__all__ = [
    "ENC_MSG",
    "ENC_PKMSG",
    "ENC_SKMSG",
    "ChangeSet",
    "DecryptResult",
    "EncryptResult",
    "GroupEncryptResult",
    "IdentityChange",
    "SignalBatch",
    "SignalCipher",
    "TrustPolicy",
]

ENC_SKMSG = "skmsg"

SenderKeyName = tuple[str, str]
"""(group JID, sender address)."""

K = TypeVar("K")
V = TypeVar("V")


class TrustPolicy(enum.Enum):
    """What to do when a contact's identity key differs from the stored one."""

    ACCEPT = "accept"
    """Accept the new key (as WhatsApp clients do), archive the old session, report the change."""
    REJECT = "reject"
    """Raise :class:`~wamd.errors.UntrustedIdentity`."""


@dataclass(frozen=True, slots=True)
class IdentityChange:
    """A contact's identity key changed (``old`` is the key stored before)."""

    address: str
    old: bytes
    new: bytes


@dataclass(slots=True)
class ChangeSet:
    """What a batch changed, to be committed in one store transaction."""

    sessions: dict[str, SessionRecord] = field(default_factory=dict)
    identities: dict[str, bytes] = field(default_factory=dict)
    consumed_prekeys: set[int] = field(default_factory=set)
    sender_keys: dict[SenderKeyName, SenderKeyRecord] = field(default_factory=dict)
    identity_changes: list[IdentityChange] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.sessions or self.identities or self.consumed_prekeys or self.sender_keys)


@dataclass(frozen=True, slots=True)
class DecryptResult:
    """A decrypted payload (padding already removed when the cipher pads)."""

    plaintext: bytes
    enc_type: str
    identity_change: IdentityChange | None = None
    new_session: bool = False
    consumed_prekey_id: int | None = None


@dataclass(frozen=True, slots=True)
class EncryptResult:
    """A ciphertext for one device and its enc type (``pkmsg`` needs a device-identity)."""

    enc_type: str
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class GroupEncryptResult:
    """A group ciphertext and the sender-key distribution message recipients need for it."""

    ciphertext: bytes
    distribution: bytes


class _Cache(Generic[K, V]):
    """A small LRU map of parsed records, keyed by name, validated by their stored bytes."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, tuple[bytes, V]] = OrderedDict()

    def get(self, key: K, data: bytes) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        stored, value = item
        if stored is not data and stored != data:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    def parse(self, key: K, data: bytes | None, parser: Callable[[bytes], V]) -> V | None:
        """The parsed form of stored ``data`` (``None`` stays ``None``), from cache if valid."""
        if data is None:
            return None
        value = self.get(key, data)
        if value is None:
            value = parser(data)
            self.put(key, data, value)
        return value

    def put(self, key: K, data: bytes, value: V) -> None:
        self._items[key] = (data, value)
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


class SignalCipher:
    """Long-lived Signal facade of one account (our identity, limits, trust policy, caches)."""

    def __init__(
        self,
        identity: KeyPair,
        registration_id: int,
        *,
        limits: Limits = DEFAULT_LIMITS,
        trust: TrustPolicy = TrustPolicy.ACCEPT,
        padding: bool = True,
        cache_size: int = 4096,
    ) -> None:
        self.local = LocalIdentity(identity, registration_id)
        self.limits = limits
        self.trust = trust
        self.padding = padding
        self._session_cache: _Cache[str, SessionRecord] = _Cache(cache_size)
        self._sender_key_cache: _Cache[SenderKeyName, SenderKeyRecord] = _Cache(cache_size)
        self._known: OrderedDict[str, tuple[SessionRecord, bytes]] = OrderedDict()
        """Committed (session, identity) of recently used addresses (module docstring)."""
        self._known_size = cache_size
        self._epoch = 0
        """Bumped when a commit begins or ends, and by :meth:`forget`."""
        self._writing = 0
        """Commits under way (begun by :meth:`SignalBatch.commit`, not yet ended)."""

    def __repr__(self) -> str:
        return f"SignalCipher(identity={self.local.key_pair.public.hex()}, trust={self.trust.name})"

    def batch(self, store: SignalStore) -> SignalBatch:
        """A new unit of work reading from ``store`` (an account or a transaction)."""
        return SignalBatch(self, store)

    def clear_cache(self) -> None:
        """Forget every cached parsed record and every remembered session and identity."""
        self._session_cache.clear()
        self._sender_key_cache.clear()
        self._known.clear()
        self._epoch += 1

    def forget(self, addresses: Iterable[str]) -> None:
        """Forget the remembered session and identity of ``addresses`` (call it after writing
        them other than through a batch: the next batch reads them from the store)."""
        self._epoch += 1
        for address in addresses:
            self._known.pop(address, None)

    def _remember(self, address: str, record: SessionRecord | None, identity: bytes | None) -> None:
        if record is None or identity is None:
            return  # first contact or a half-known address: read from the store next time
        known = self._known
        known[address] = (record, identity)
        known.move_to_end(address)
        if len(known) > self._known_size:
            known.popitem(last=False)


class SignalBatch:
    """A unit of work: a working view of records and the :class:`ChangeSet` made so far."""

    def __init__(self, cipher: SignalCipher, store: SignalStore) -> None:
        self._cipher = cipher
        self._store = store
        self._sessions: dict[str, SessionRecord | None] = {}
        self._identities: dict[str, bytes | None] = {}
        self._sender_keys: dict[SenderKeyName, SenderKeyRecord | None] = {}
        self._prekeys: dict[int, KeyPair | None] = {}
        self._signed_prekeys: dict[int, KeyPair | None] = {}
        self.changes = ChangeSet()
        self._written: dict[str, tuple[SessionRecord | None, bytes | None]] | None = None
        """What :meth:`commit` wrote, for :meth:`committing` to remember (None: no commit of
        sessions or identities under way)."""

    def __repr__(self) -> str:
        return f"SignalBatch(sessions={len(self._sessions)}, changed={bool(self.changes)})"

    # --- loading -----------------------------------------------------------------------------

    async def prefetch(
        self,
        *,
        addresses: Iterable[str] = (),
        sender_keys: Iterable[SenderKeyName] = (),
        prekey_ids: Iterable[int] = (),
    ) -> None:
        """Load the sessions and identities of ``addresses``, the given sender-key records
        and one-time prekeys in as few store calls as possible."""
        await self._load(addresses)
        by_group: dict[str, list[str]] = {}
        for name in dict.fromkeys(sender_keys):
            if name not in self._sender_keys:
                by_group.setdefault(name[0], []).append(name[1])
        for group_id, senders in by_group.items():
            found = await self._store.sender_keys.get_many(group_id, senders)
            sk_cache = self._cipher._sender_key_cache
            for sender in senders:
                name = (group_id, sender)
                self._sender_keys[name] = sk_cache.parse(
                    name, found.get(sender), SenderKeyRecord.deserialize
                )
        ids = [i for i in dict.fromkeys(prekey_ids) if i not in self._prekeys]
        if ids:
            prekeys = await self._store.prekeys.get_many(ids)
            for key_id in ids:
                stored = prekeys.get(key_id)
                self._prekeys[key_id] = (
                    KeyPair.from_private(stored.key_pair.private) if stored is not None else None
                )

    async def _load(self, addresses: Iterable[str]) -> None:
        """The sessions and identities of ``addresses``: remembered ones, else from the store."""
        sessions, identities, known = self._sessions, self._identities, self._cipher._known
        unknown: list[str] = []
        for address in dict.fromkeys(addresses):
            if address in sessions and address in identities:
                continue
            remembered = known.get(address)
            if remembered is None:
                unknown.append(address)
                continue
            known.move_to_end(address)
            if address not in sessions:
                sessions[address] = remembered[0]
            if address not in identities:
                identities[address] = remembered[1]
        if unknown:
            await self._read(unknown)

    async def _read(self, addresses: list[str]) -> None:
        """Load sessions and identities from the store (remembered when no commit began or
        ended meanwhile, so that what is remembered is what the store holds)."""
        cipher = self._cipher
        epoch = cipher._epoch
        wanted = [a for a in addresses if a not in self._sessions]
        records: dict[str, SessionRecord | None] = {}
        if wanted:
            stored = await self._store.sessions.get_many(wanted)
            cache = cipher._session_cache
            for address in wanted:
                records[address] = self._sessions[address] = cache.parse(
                    address, stored.get(address), SessionRecord.deserialize
                )
        wanted = [a for a in addresses if a not in self._identities]
        found: dict[str, bytes] = {}
        if wanted:
            found = await self._store.identities.get_many(wanted)
            for address in wanted:
                self._identities[address] = found.get(address)
        if cipher._epoch == epoch and not cipher._writing:
            for address in addresses:
                if address in records and address in found:
                    cipher._remember(address, records[address], found[address])

    async def _session(self, address: str) -> SessionRecord | None:
        if address not in self._sessions or address not in self._identities:
            await self._load((address,))
        return self._sessions[address]

    async def _sender_key(self, name: SenderKeyName) -> SenderKeyRecord | None:
        if name not in self._sender_keys:
            await self.prefetch(sender_keys=(name,))
        return self._sender_keys[name]

    async def _signed_prekey(self, key_id: int) -> KeyPair | None:
        if key_id not in self._signed_prekeys:
            stored = await self._store.signed_prekeys.get(key_id)
            self._signed_prekeys[key_id] = (
                KeyPair.from_private(stored.key_pair.private) if stored is not None else None
            )
        return self._signed_prekeys[key_id]

    # --- trust -------------------------------------------------------------------------------

    def _trust(self, address: str, key: bytes) -> IdentityChange | None:
        """Check ``key`` against the stored identity (records nothing; see :meth:`_accept`).

        Returns the change when a different key is stored; raises :class:`UntrustedIdentity`
        for it under ``REJECT``.
        """
        stored = self._identities.get(address)
        if stored is None or stored == key:
            return None
        if self._cipher.trust is TrustPolicy.REJECT:
            raise UntrustedIdentity(address)
        return IdentityChange(address, stored, key)

    def _accept(self, address: str, key: bytes, change: IdentityChange | None) -> None:
        """After a successful operation: store a first-seen or changed identity key."""
        if self._identities.get(address) != key:
            self._note_identity(address, key)
        if change is not None:
            self.changes.identity_changes.append(change)

    def _note_identity(self, address: str, key: bytes) -> None:
        self._identities[address] = key
        self.changes.identities[address] = key

    def _put_session(self, address: str, record: SessionRecord) -> None:
        self._sessions[address] = record
        self.changes.sessions[address] = record

    def _put_sender_key(self, name: SenderKeyName, record: SenderKeyRecord) -> None:
        self._sender_keys[name] = record
        self.changes.sender_keys[name] = record

    # --- 1:1 ---------------------------------------------------------------------------------

    async def has_session(self, address: str) -> bool:
        """Whether there is a current session with ``address`` to encrypt with."""
        record = await self._session(address)
        return record is not None and record.current is not None

    async def process_bundle(self, address: str, bundle: PreKeyBundle) -> IdentityChange | None:
        """Start a new session from a prekey bundle (the next messages are ``pkmsg``).

        Raises :class:`~wamd.errors.CryptoError` for a bad signed-prekey signature and
        :class:`~wamd.errors.UntrustedIdentity` for a changed identity under ``REJECT``.
        """
        record = await self._session(address)
        change = self._trust(address, bundle.identity_key)
        new_record = session_from_bundle(record, self._cipher.local, bundle, self._cipher.limits)
        self._accept(address, bundle.identity_key, change)
        self._put_session(address, new_record)
        return change

    async def encrypt(self, address: str, plaintext: bytes) -> EncryptResult:
        """Encrypt for one device with its current session (padding added when configured).

        Raises :class:`~wamd.errors.NoSession` without a session, and
        :class:`~wamd.errors.UntrustedIdentity` under ``REJECT`` when the stored identity of
        ``address`` no longer matches the session's.
        """
        record = await self._session(address)
        data = pad(plaintext) if self._cipher.padding else plaintext
        new_record, enc_type, ciphertext = encrypt(record, self._cipher.local, data)
        assert new_record.current is not None
        self._trust_session(address, new_record.current.remote_identity)
        self._put_session(address, new_record)
        return EncryptResult(enc_type, ciphertext)

    def _trust_session(self, address: str, session_identity: bytes) -> None:
        stored = self._identities.get(address)
        if stored is None:
            self._note_identity(address, session_identity)
        elif stored != session_identity and self._cipher.trust is TrustPolicy.REJECT:
            raise UntrustedIdentity(address)

    async def decrypt(
        self, address: str, enc_type: str, ciphertext: bytes, *, group: str | None = None
    ) -> DecryptResult:
        """Decrypt an ``<enc>`` payload from ``address`` (``skmsg`` needs ``group``).

        Raises :class:`~wamd.errors.NoSession`, :class:`~wamd.errors.InvalidMessage`,
        :class:`~wamd.errors.DuplicateMessage` or :class:`~wamd.errors.UntrustedIdentity`;
        the batch's view is unchanged when it raises.
        """
        if enc_type == ENC_MSG:
            record = await self._session(address)
            new_record, plaintext, state = decrypt_signal_message(
                record, self._cipher.local, ciphertext, self._cipher.limits
            )
            plaintext = self._unpad(plaintext)
            self._trust_session(address, state.remote_identity)
            self._put_session(address, new_record)
            return DecryptResult(plaintext, ENC_MSG)
        if enc_type == ENC_PKMSG:
            return await self._decrypt_prekey(address, ciphertext)
        if enc_type == ENC_SKMSG:
            if group is None:
                raise ValueError("decrypting skmsg needs the group")
            plaintext = await self.group_decrypt(group, address, ciphertext)
            return DecryptResult(plaintext, ENC_SKMSG)
        raise ValueError(f"unknown enc type {enc_type!r}")

    def _unpad(self, plaintext: bytes) -> bytes:
        return unpad(plaintext) if self._cipher.padding else plaintext

    async def _prekeys_of(
        self, message: wire.PreKeyMessage
    ) -> tuple[KeyPair | None, KeyPair | None]:
        """The signed and one-time prekeys a ``pkmsg`` names (``None`` when unknown)."""
        signed = await self._signed_prekey(message.signed_pre_key_id)
        one_time = None
        if message.pre_key_id is not None:
            if message.pre_key_id not in self._prekeys:
                await self.prefetch(prekey_ids=(message.pre_key_id,))
            one_time = self._prekeys[message.pre_key_id]
        return signed, one_time

    async def _decrypt_prekey(self, address: str, ciphertext: bytes) -> DecryptResult:
        message = wire.parse_prekey_message(ciphertext)
        cipher = self._cipher
        record = await self._session(address)
        change = self._trust(address, message.identity_key)
        current = record.current if record is not None else None
        if (
            change is None
            and current is not None
            and current.base_key == message.base_key
            and not current.initiator
        ):
            # the peer repeats the header of the session it started (until we reply): the
            # current session decrypts it, the prekeys it names were used up when that
            # session began (nothing to load, no prekey is asked for)
            signed_prekey = prekey = _no_key
        else:
            signed, one_time = await self._prekeys_of(message)
            signed_id, one_time_id = message.signed_pre_key_id, message.pre_key_id

            def signed_prekey(key_id: int) -> KeyPair | None:
                return signed if key_id == signed_id else None

            def prekey(key_id: int) -> KeyPair | None:
                return one_time if key_id == one_time_id else None

            if change is not None and record is not None:
                record = record.archive_current(cipher.limits)
        result = decrypt_prekey_message(
            record,
            cipher.local,
            message,
            signed_prekey=signed_prekey,
            prekey=prekey,
            limits=cipher.limits,
        )
        plaintext = self._unpad(result.plaintext)
        self._accept(address, message.identity_key, change)
        consumed = result.consumed_prekey_id
        if consumed is not None:
            self._prekeys[consumed] = None
            self.changes.consumed_prekeys.add(consumed)
        self._put_session(address, result.record)
        return DecryptResult(plaintext, ENC_PKMSG, change, result.new_session, consumed)

    # --- groups ------------------------------------------------------------------------------

    async def distribution_message(self, group: str, own_address: str) -> bytes:
        """Our SenderKeyDistributionMessage for ``group`` (creating our sender key if needed)."""
        name = (group, own_address)
        record = await self._sender_key(name)
        created = group_ops.create_sender_key(record)
        if created is not record:
            self._put_sender_key(name, created)
        return group_ops.distribution_message(created)

    async def rotate_sender_key(self, group: str, own_address: str) -> bytes:
        """Replace our sender key for ``group`` (e.g. after a member left); returns its SKDM."""
        record = group_ops.create_sender_key(None)
        self._put_sender_key((group, own_address), record)
        return group_ops.distribution_message(record)

    async def group_encrypt(
        self, group: str, own_address: str, plaintext: bytes
    ) -> GroupEncryptResult:
        """Encrypt for a group with our sender key (created on first use)."""
        distribution = await self.distribution_message(group, own_address)
        name = (group, own_address)
        data = pad(plaintext) if self._cipher.padding else plaintext
        record, ciphertext = group_ops.group_encrypt(self._sender_keys[name], data)
        self._put_sender_key(name, record)
        return GroupEncryptResult(ciphertext, distribution)

    async def process_distribution(self, group: str, sender: str, data: bytes) -> None:
        """Store the sender key that ``sender`` distributed for ``group``.

        Raises :class:`~wamd.errors.InvalidMessage` when the message is malformed.
        """
        name = (group, sender)
        record = await self._sender_key(name)
        new_record = group_ops.process_distribution(record, data, self._cipher.limits)
        if new_record is not record:
            self._put_sender_key(name, new_record)

    async def group_decrypt(self, group: str, sender: str, ciphertext: bytes) -> bytes:
        """Decrypt a ``skmsg`` from ``sender`` in ``group`` (padding removed when configured).

        Raises :class:`~wamd.errors.NoSession` (no sender key yet),
        :class:`~wamd.errors.InvalidMessage` or :class:`~wamd.errors.DuplicateMessage`.
        """
        name = (group, sender)
        record = await self._sender_key(name)
        new_record, plaintext = group_ops.group_decrypt(record, ciphertext, self._cipher.limits)
        plaintext = self._unpad(plaintext)
        self._put_sender_key(name, new_record)
        return plaintext

    # --- commit ------------------------------------------------------------------------------

    async def commit(self, tx: SignalStore) -> ChangeSet:
        """Write the change set through ``tx`` (a store transaction) and start a new one.

        Returns the committed change set (its ``identity_changes`` are the events to report).
        """
        changes, self.changes = self.changes, ChangeSet()
        written = {**dict.fromkeys(changes.sessions), **dict.fromkeys(changes.identities)}
        if self._written is not None:
            self._end(remember=False)  # an earlier commit of this batch not settled: forget it
        if written:
            cipher = self._cipher
            cipher.forget(written)  # whatever the transaction's outcome
            cipher._writing += 1
            self._written = {a: (self._sessions.get(a), self._identities.get(a)) for a in written}
        if changes.sessions:
            cache = self._cipher._session_cache
            serialized = {}
            for address, record in changes.sessions.items():
                data = record.serialize()
                serialized[address] = data
                cache.put(address, data, record)
            await tx.sessions.put_many(serialized)
        if changes.identities:
            await tx.identities.put_many(changes.identities)
        for key_id in sorted(changes.consumed_prekeys):
            await tx.prekeys.remove(key_id)
        sk_cache = self._cipher._sender_key_cache
        for name, sk_record in changes.sender_keys.items():
            data = sk_record.serialize()
            sk_cache.put(name, data, sk_record)
            await tx.sender_keys.put(name[0], name[1], data)
        return changes

    def committing(self) -> contextlib.AbstractContextManager[None]:
        """Wrap the transaction that runs :meth:`commit`: when the block exits normally
        (the transaction committed), the cipher remembers the sessions and identities
        written, so that the next batches need not read them; when it raises, nothing is
        remembered (the addresses written are read from the store next time)::

            with batch.committing():
                async with account.transaction() as tx:
                    await batch.commit(tx)

        Use it while holding the locks of the addresses written. A commit outside it works
        as well; only the next batch's store read is not saved, and until such a commit is
        settled no store read is remembered.
        """
        return _Committing(self)

    def _end(self, *, remember: bool) -> None:
        written, self._written = self._written, None
        if written is None:
            return
        cipher = self._cipher
        cipher._writing -= 1
        cipher._epoch += 1
        if remember:
            for address, (record, identity) in written.items():
                cipher._remember(address, record, identity)


def _no_key(key_id: int) -> KeyPair | None:
    """No prekey (for a ``pkmsg`` whose session exists: none is looked up)."""
    return None


class _Committing:
    """:meth:`SignalBatch.committing`: remember what was written only on a normal exit."""

    __slots__ = ("_batch",)

    def __init__(self, batch: SignalBatch) -> None:
        self._batch = batch

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._batch._end(remember=exc_type is None)
