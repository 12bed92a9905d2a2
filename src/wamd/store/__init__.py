"""Persistent storage of everything wamd must remember, per account (device).

Three implementations pass one contract suite: :class:`MemoryStore` (nothing persists),
``SQLiteStore`` (the embedded default) and ``PostgresStore``. See ``docs/store.md``.

.. code-block:: python

    store = MemoryStore()
    account = await store.new_account(credentials)
    async with account.transaction() as tx:
        await tx.sessions.put(address, record)
        await tx.inbox.put("message", payload)
"""

from __future__ import annotations

from wamd.store.interfaces import (
    Account,
    AccountData,
    AppStateKeyStore,
    AppStateStore,
    ChatSettingsStore,
    ContactStore,
    CredentialStore,
    IdentityStore,
    InboxStore,
    Lease,
    LIDMapStore,
    MessageSecretStore,
    OutgoingStore,
    PreKeyStore,
    PrivacyTokenStore,
    SeenStore,
    SenderKeyDistributionStore,
    SenderKeyStore,
    SessionStore,
    SignedPreKeyStore,
    Store,
    Transaction,
)
from wamd.store.memory import MemoryStore
from wamd.store.sealing import KeySource, key_from_env
from wamd.store.types import (
    EMPTY_LTHASH,
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
    StoredKeyPair,
)

__all__ = [
    "EMPTY_LTHASH",
    "Account",
    "AccountData",
    "AccountInfo",
    "AppStateKeyStore",
    "AppStateStore",
    "AppStateSyncKey",
    "AppStateVersion",
    "ChatSettings",
    "ChatSettingsStore",
    "Contact",
    "ContactStore",
    "CredentialStore",
    "DeviceCredentials",
    "IdentityStore",
    "InboxEntry",
    "InboxStore",
    "KeySource",
    "LIDMapStore",
    "Lease",
    "MemoryStore",
    "MessageSecret",
    "MessageSecretStore",
    "OutgoingMessage",
    "OutgoingStore",
    "PreKey",
    "PreKeyStore",
    "PrivacyToken",
    "PrivacyTokenStore",
    "SeenMessage",
    "SeenStore",
    "SenderKeyDistributionStore",
    "SenderKeyStore",
    "SessionStore",
    "SignedPreKey",
    "SignedPreKeyStore",
    "Store",
    "StoredKeyPair",
    "Transaction",
    "key_from_env",
]
