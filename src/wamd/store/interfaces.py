"""The store's interfaces: one small async Protocol per concern, and the handles bundling them.

A :class:`Store` holds many accounts (devices). ``await store.account(id_or_jid)`` returns an
:class:`Account`: the per-device handle whose attributes are the concern stores below, plus
``transaction()`` and ``acquire_lease()``. Inside ``async with account.transaction() as tx``,
``tx`` offers the same concern stores; everything written through ``tx`` commits atomically
when the block exits normally and is rolled back when it raises.

Conventions shared by every implementation (checked by ``tests/store``):

* JIDs are strings (``str(jid)``); Signal addresses are ``"<name>.<device>"`` strings.
* ``get`` returns ``None`` for a missing key; batch ``get_many`` returns a dict holding only
  the keys found; ``delete`` of a missing key is not an error.
* Timestamps are Unix seconds (``int``); a ``None`` timestamp argument means "now".
* Inside a transaction, use the ``tx`` handles only: any other call on the same store from
  the task that holds the transaction (the account's own handles, another account, a nested
  ``transaction()``, ``store.accounts()``) raises :class:`~wamd.errors.StoreError` (it could
  otherwise wait for itself).
* Batch writes outside a transaction (``put_many``...) commit as one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from wamd.store.types import (
    AccountInfo,
    AppStateSyncKey,
    AppStateVersion,
    ChatSettings,
    Contact,
    DeviceCredentials,
    InboxEntry,
    MessageSecret,
    OutgoingMessage,
    PreKey,
    PrivacyToken,
    SeenMessage,
    SignedPreKey,
)

__all__ = [
    "Account",
    "AccountData",
    "AppStateKeyStore",
    "AppStateStore",
    "ChatSettingsStore",
    "ContactStore",
    "CredentialStore",
    "IdentityStore",
    "InboxStore",
    "LIDMapStore",
    "Lease",
    "MessageSecretStore",
    "OutgoingStore",
    "PreKeyStore",
    "PrivacyTokenStore",
    "SeenStore",
    "SenderKeyDistributionStore",
    "SenderKeyStore",
    "SessionStore",
    "SignedPreKeyStore",
    "Store",
    "Transaction",
]


class CredentialStore(Protocol):
    """The device's own credentials (keys, JID, profile)."""

    async def load(self) -> DeviceCredentials:
        """The stored credentials."""
        ...

    async def save(self, credentials: DeviceCredentials) -> None:
        """Replace the stored credentials (also updates the JID/LID the account is found by).

        Raises :class:`~wamd.errors.StoreError` when another account already has that JID.
        """
        ...


class IdentityStore(Protocol):
    """Contacts' Signal identity keys (32 raw bytes) by address."""

    async def get(self, address: str) -> bytes | None:
        """The identity key stored for ``address``."""
        ...

    async def get_many(self, addresses: Iterable[str]) -> dict[str, bytes]:
        """The identity keys stored for the given addresses (missing ones are left out)."""
        ...

    async def put(self, address: str, key: bytes) -> None:
        """Store (or replace) the identity key of ``address``."""
        ...

    async def put_many(self, keys: Mapping[str, bytes]) -> None:
        """Store several identity keys at once."""
        ...

    async def delete(self, address: str) -> None:
        """Forget the identity key of ``address``."""
        ...

    async def delete_user(self, name: str) -> None:
        """Forget the identity keys of every device of ``name`` (addresses ``name.*``)."""
        ...


class SessionStore(Protocol):
    """Signal session records (opaque bytes) by address."""

    async def get(self, address: str) -> bytes | None:
        """The session record of ``address``."""
        ...

    async def get_many(self, addresses: Iterable[str]) -> dict[str, bytes]:
        """The session records of the given addresses (missing ones are left out)."""
        ...

    async def put(self, address: str, record: bytes) -> None:
        """Store (or replace) the session record of ``address``."""
        ...

    async def put_many(self, records: Mapping[str, bytes]) -> None:
        """Store several session records at once."""
        ...

    async def delete(self, address: str) -> None:
        """Delete the session of ``address``."""
        ...

    async def delete_many(self, addresses: Iterable[str]) -> None:
        """Delete the sessions of several addresses."""
        ...

    async def delete_user(self, name: str) -> None:
        """Delete the sessions with every device of ``name`` (addresses ``name.*``)."""
        ...

    async def addresses_of_user(self, name: str) -> list[str]:
        """The addresses of ``name`` that have a session, sorted."""
        ...


class PreKeyStore(Protocol):
    """One-time prekeys and the counter their ids come from."""

    async def reserve_ids(self, count: int) -> list[int]:
        """Reserve ``count`` fresh prekey ids (1..0xFFFFFF, wrapping), never handed out twice
        in a row; the caller generates the keys and stores them with :meth:`put_many`."""
        ...

    async def put_many(self, prekeys: Iterable[PreKey]) -> None:
        """Store generated prekeys (not yet uploaded)."""
        ...

    async def get(self, key_id: int) -> PreKey | None:
        """The prekey with ``key_id``."""
        ...

    async def get_many(self, key_ids: Iterable[int]) -> dict[int, PreKey]:
        """The prekeys with the given ids (missing ones are left out)."""
        ...

    async def remove(self, key_id: int) -> None:
        """Delete a prekey (after a pkmsg consumed it)."""
        ...

    async def count(self, *, uploaded: bool | None = None) -> int:
        """How many prekeys are stored (only uploaded / not uploaded ones when given)."""
        ...

    async def unuploaded(self, limit: int | None = None) -> list[PreKey]:
        """Prekeys not yet uploaded, oldest first."""
        ...

    async def mark_uploaded(self, key_ids: Iterable[int]) -> None:
        """Record that the server has these prekeys."""
        ...


class SignedPreKeyStore(Protocol):
    """Signed prekeys by id (the current one and older ones still needed to decrypt)."""

    async def get(self, key_id: int) -> SignedPreKey | None:
        """The signed prekey with ``key_id``."""
        ...

    async def put(self, prekey: SignedPreKey) -> None:
        """Store (or replace) a signed prekey."""
        ...

    async def all(self) -> list[SignedPreKey]:
        """Every stored signed prekey, by id."""
        ...

    async def remove(self, key_id: int) -> None:
        """Delete a signed prekey."""
        ...


class SenderKeyStore(Protocol):
    """Group sender-key records (opaque bytes) by (group, sender address)."""

    async def get(self, group: str, sender: str) -> bytes | None:
        """The sender-key record of ``sender`` in ``group``."""
        ...

    async def get_many(self, group: str, senders: Iterable[str]) -> dict[str, bytes]:
        """The sender-key records of several senders in ``group``."""
        ...

    async def put(self, group: str, sender: str, record: bytes) -> None:
        """Store (or replace) the sender-key record of ``sender`` in ``group``."""
        ...

    async def delete(self, group: str, sender: str) -> None:
        """Delete the sender-key record of ``sender`` in ``group``."""
        ...

    async def delete_group(self, group: str) -> None:
        """Delete every sender-key record of ``group``."""
        ...


class SenderKeyDistributionStore(Protocol):
    """Which devices already received our sender key (SKDM) for a group.

    An SKDM is sent once per (group, device); rotating our sender key clears the group.
    """

    async def sent_to(self, group: str) -> set[str]:
        """The device addresses that have our current sender key for ``group``."""
        ...

    async def mark_sent(self, group: str, devices: Iterable[str]) -> None:
        """Record that ``devices`` received our sender key for ``group``."""
        ...

    async def clear(self, group: str) -> None:
        """Forget every device of ``group`` (after rotating our sender key)."""
        ...

    async def forget_devices(self, devices: Iterable[str]) -> None:
        """Forget ``devices`` in every group (their identity changed; they need a new SKDM)."""
        ...


class AppStateKeyStore(Protocol):
    """App-state sync keys by key id."""

    async def get(self, key_id: bytes) -> AppStateSyncKey | None:
        """The key with ``key_id``."""
        ...

    async def put(self, key: AppStateSyncKey) -> None:
        """Store (or replace) a key."""
        ...

    async def put_many(self, keys: Iterable[AppStateSyncKey]) -> None:
        """Store several keys at once."""
        ...

    async def latest(self) -> AppStateSyncKey | None:
        """The key with the newest timestamp (ties: the greatest key id)."""
        ...


class AppStateStore(Protocol):
    """Per-collection app-state versions (version + LT-hash) and mutation MACs.

    Use a transaction to commit a new version together with its MAC changes.
    """

    async def get_version(self, collection: str) -> AppStateVersion:
        """The synced version of ``collection`` (version 0 and a zero hash when never synced)."""
        ...

    async def put_version(self, collection: str, version: AppStateVersion) -> None:
        """Record the synced version of ``collection``."""
        ...

    async def delete_collection(self, collection: str) -> None:
        """Forget the version and every MAC of ``collection`` (before a full resync)."""
        ...

    async def put_macs(self, collection: str, macs: Mapping[bytes, bytes]) -> None:
        """Store value MACs by index MAC."""
        ...

    async def delete_macs(self, collection: str, index_macs: Iterable[bytes]) -> None:
        """Delete the MACs of these index MACs."""
        ...

    async def get_mac(self, collection: str, index_mac: bytes) -> bytes | None:
        """The value MAC stored for ``index_mac``."""
        ...

    async def get_macs(self, collection: str, index_macs: Iterable[bytes]) -> dict[bytes, bytes]:
        """The value MACs stored for several index MACs (missing ones are left out)."""
        ...


class ContactStore(Protocol):
    """Names known for users."""

    async def get(self, jid: str) -> Contact | None:
        """The names known for ``jid``."""
        ...

    async def get_many(self, jids: Iterable[str]) -> dict[str, Contact]:
        """The names known for several JIDs."""
        ...

    async def all(self) -> list[Contact]:
        """Every contact, by JID."""
        ...

    async def put(self, contact: Contact) -> None:
        """Merge names into the stored contact (``None`` fields leave the stored value)."""
        ...

    async def put_many(self, contacts: Iterable[Contact]) -> None:
        """Merge several contacts at once."""
        ...


class ChatSettingsStore(Protocol):
    """Local chat settings (mute, pin, archive)."""

    async def get(self, chat: str) -> ChatSettings:
        """The settings of ``chat`` (defaults when nothing was stored)."""
        ...

    async def update(
        self,
        chat: str,
        *,
        muted_until: int | None = None,
        pinned: bool | None = None,
        archived: bool | None = None,
    ) -> None:
        """Change some settings of ``chat`` (``None`` leaves a setting as it is)."""
        ...


class MessageSecretStore(Protocol):
    """Message secrets by (chat, sender, message id)."""

    async def get(self, chat: str, sender: str, message_id: str) -> bytes | None:
        """The secret of a message."""
        ...

    async def put_many(self, secrets: Iterable[MessageSecret]) -> None:
        """Store secrets (an existing secret is kept: the first one seen wins)."""
        ...


class LIDMapStore(Protocol):
    """LID <-> phone-number mappings between user parts (no device, no server).

    Each LID maps to one phone number and back; storing a new pair replaces any pair that
    shared either side.
    """

    async def put_many(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Store ``(lid_user, pn_user)`` pairs."""
        ...

    async def pn_for_lid(self, lid: str) -> str | None:
        """The phone-number user of a LID user."""
        ...

    async def lid_for_pn(self, pn: str) -> str | None:
        """The LID user of a phone-number user."""
        ...

    async def pns_for_lids(self, lids: Iterable[str]) -> dict[str, str]:
        """Phone-number users by LID user (unknown ones are left out)."""
        ...

    async def lids_for_pns(self, pns: Iterable[str]) -> dict[str, str]:
        """LID users by phone-number user (unknown ones are left out)."""
        ...


class PrivacyTokenStore(Protocol):
    """Privacy (trusted-contact) tokens by JID."""

    async def get(self, jid: str) -> PrivacyToken | None:
        """The token received from ``jid``."""
        ...

    async def put_many(self, tokens: Iterable[PrivacyToken]) -> None:
        """Store (or replace) tokens."""
        ...


class OutgoingStore(Protocol):
    """Plaintexts of sent messages, kept to answer retry receipts."""

    async def get(self, chat: str, message_id: str) -> OutgoingMessage | None:
        """The kept plaintext of a sent message."""
        ...

    async def put(
        self, chat: str, message_id: str, plaintext: bytes, timestamp: int | None = None
    ) -> None:
        """Keep the plaintext of a sent message."""
        ...

    async def delete(self, chat: str, message_id: str) -> None:
        """Forget a sent message."""
        ...

    async def prune(self, *, before: int | None = None, keep_last: int | None = None) -> int:
        """Delete messages older than ``before`` and/or beyond the newest ``keep_last``;
        returns how many were deleted."""
        ...


class SeenStore(Protocol):
    """The incoming dedupe buffer: received messages by (chat, sender, id)."""

    async def add(self, message: SeenMessage, timestamp: int | None = None) -> bool:
        """Record a received message; ``False`` when it was already recorded."""
        ...

    async def add_many(self, messages: Sequence[tuple[SeenMessage, int | None]]) -> list[bool]:
        """Record several messages (with their timestamps) at once, as :meth:`add` each;
        ``False`` for those already recorded. A message given twice is recorded once: ``True``
        (when new) for its first occurrence only."""
        ...

    async def contains(self, message: SeenMessage) -> bool:
        """Whether the message was already recorded."""
        ...

    async def prune(self, *, before: int | None = None, keep_last: int | None = None) -> int:
        """Delete records older than ``before`` and/or beyond the newest ``keep_last``;
        returns how many were deleted."""
        ...


class InboxStore(Protocol):
    """The durable inbox: decrypted events awaiting handler dispatch, in arrival order."""

    async def put(self, kind: str, payload: bytes, created_at: int | None = None) -> int:
        """Append an event; returns its sequence number (increasing within the account)."""
        ...

    async def put_many(self, entries: Sequence[tuple[str, bytes, int | None]]) -> list[int]:
        """Append several events ``(kind, payload, created_at)`` in order, as :meth:`put`
        each (one statement on SQL stores); returns their sequence numbers."""
        ...

    async def get(self, seq: int) -> InboxEntry | None:
        """The entry with ``seq``."""
        ...

    async def pending(self, limit: int | None = None) -> list[InboxEntry]:
        """Entries not marked done, in sequence order."""
        ...

    async def mark_done(self, seqs: Iterable[int]) -> None:
        """Mark entries as dispatched."""
        ...

    async def delete_done(self) -> int:
        """Delete the entries marked done; returns how many."""
        ...


class AccountData(Protocol):
    """The concern stores of one account (what an :class:`Account` and a transaction share)."""

    @property
    def credentials(self) -> CredentialStore: ...
    @property
    def identities(self) -> IdentityStore: ...
    @property
    def sessions(self) -> SessionStore: ...
    @property
    def prekeys(self) -> PreKeyStore: ...
    @property
    def signed_prekeys(self) -> SignedPreKeyStore: ...
    @property
    def sender_keys(self) -> SenderKeyStore: ...
    @property
    def sender_key_distribution(self) -> SenderKeyDistributionStore: ...
    @property
    def app_state_keys(self) -> AppStateKeyStore: ...
    @property
    def app_state(self) -> AppStateStore: ...
    @property
    def contacts(self) -> ContactStore: ...
    @property
    def chat_settings(self) -> ChatSettingsStore: ...
    @property
    def message_secrets(self) -> MessageSecretStore: ...
    @property
    def lid_map(self) -> LIDMapStore: ...
    @property
    def privacy_tokens(self) -> PrivacyTokenStore: ...
    @property
    def outgoing(self) -> OutgoingStore: ...
    @property
    def seen(self) -> SeenStore: ...
    @property
    def inbox(self) -> InboxStore: ...


class Transaction(AccountData, Protocol):
    """The concern stores of one account inside ``account.transaction()``."""


@runtime_checkable
class Lease(Protocol):
    """Exclusive ownership of an account by this process, until released."""

    @property
    def held(self) -> bool:
        """Whether the lease is still held (``False`` once released or lost)."""
        ...

    async def release(self) -> None:
        """Give the lease up (idempotent)."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Account(AccountData, Protocol):
    """One device's data in a store."""

    @property
    def id(self) -> int:
        """The store's internal id of the account (stable, assigned at creation)."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A unit of work: ``async with account.transaction() as tx: ...`` commits everything
        written through ``tx`` at once, or nothing when the block raises."""
        ...

    async def acquire_lease(self, *, wait: float | None = 0.0) -> Lease:
        """Take exclusive ownership of the account.

        ``wait=0`` fails at once, ``None`` waits forever, a number waits that many seconds.
        Raises :class:`~wamd.errors.LeaseHeld` when another owner keeps it. A crashed owner's
        lease is released with its process (file lock / database session).
        """
        ...


class Store(Protocol):
    """A database of accounts."""

    async def accounts(self) -> list[AccountInfo]:
        """Every account, by id."""
        ...

    async def new_account(self, credentials: DeviceCredentials) -> Account:
        """Create an account holding ``credentials``."""
        ...

    async def account(self, key: int | str) -> Account:
        """The account with this id, or with this device JID or LID.

        Raises :class:`~wamd.errors.AccountNotFound` when there is none.
        """
        ...

    async def delete_account(self, key: int | str) -> None:
        """Delete an account and everything it owns.

        Raises :class:`~wamd.errors.AccountNotFound` when there is none.
        """
        ...

    async def close(self) -> None:
        """Release leases and connections (idempotent)."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
