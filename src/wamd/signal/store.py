"""The storage the Signal facade needs, as small structural Protocols.

They are the subset of ``wamd.store``'s per-concern interfaces that Signal uses, so an account
or a transaction of any wamd store satisfies :class:`SignalStore` as it is. Records are opaque
bytes (serialized :class:`~wamd.signal.state.SessionRecord` /
:class:`~wamd.signal.group.SenderKeyRecord`); identity keys are 32 raw bytes; addresses are
libsignal's ``"<name>.<device>"`` strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from wamd.store import Account, Transaction

__all__ = [
    "IdentityStoreLike",
    "KeyPairLike",
    "PreKeyLike",
    "PreKeyStoreLike",
    "SenderKeyStoreLike",
    "SessionStoreLike",
    "SignalStore",
    "SignedPreKeyLike",
    "SignedPreKeyStoreLike",
]


class KeyPairLike(Protocol):
    """Anything with 32-byte ``public`` and ``private`` halves."""

    @property
    def public(self) -> bytes: ...
    @property
    def private(self) -> bytes: ...


class PreKeyLike(Protocol):
    """A stored one-time prekey."""

    @property
    def key_id(self) -> int: ...
    @property
    def key_pair(self) -> KeyPairLike: ...


class SignedPreKeyLike(Protocol):
    """A stored signed prekey."""

    @property
    def key_id(self) -> int: ...
    @property
    def key_pair(self) -> KeyPairLike: ...


class SessionStoreLike(Protocol):
    """Session records by address."""

    async def get_many(self, addresses: Iterable[str]) -> dict[str, bytes]: ...
    async def put_many(self, records: Mapping[str, bytes]) -> None: ...


class IdentityStoreLike(Protocol):
    """Contacts' identity keys by address."""

    async def get_many(self, addresses: Iterable[str]) -> dict[str, bytes]: ...
    async def put_many(self, keys: Mapping[str, bytes]) -> None: ...


class PreKeyStoreLike(Protocol):
    """Our one-time prekeys by id."""

    async def get_many(self, key_ids: Iterable[int]) -> Mapping[int, PreKeyLike]: ...
    async def remove(self, key_id: int) -> None: ...


class SignedPreKeyStoreLike(Protocol):
    """Our signed prekeys by id."""

    async def get(self, key_id: int) -> SignedPreKeyLike | None: ...


class SenderKeyStoreLike(Protocol):
    """Sender-key records by (group, sender address)."""

    async def get_many(self, group: str, senders: Iterable[str]) -> dict[str, bytes]: ...
    async def put(self, group: str, sender: str, record: bytes) -> None: ...


class SignalStore(Protocol):
    """What the Signal facade reads and writes (an account or a transaction of a wamd store)."""

    @property
    def sessions(self) -> SessionStoreLike: ...
    @property
    def identities(self) -> IdentityStoreLike: ...
    @property
    def prekeys(self) -> PreKeyStoreLike: ...
    @property
    def signed_prekeys(self) -> SignedPreKeyStoreLike: ...
    @property
    def sender_keys(self) -> SenderKeyStoreLike: ...


if TYPE_CHECKING:  # mypy proves that wamd.store's accounts and transactions fit

    def _fits(account: Account, tx: Transaction) -> tuple[SignalStore, SignalStore]:
        return account, tx
