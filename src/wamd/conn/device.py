"""The client's own device in the store: which account, its credentials, its lease.

:class:`Device` resolves the account a client drives (by id or JID, the only account in the
store, or a new one with fresh keys), keeps its :class:`~wamd.store.DeviceCredentials` cached,
writes changes through, holds the account's lease while connected and wipes the account when
the server logs the device out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from wamd.errors import StoreError
from wamd.pairing.credentials import new_credentials
from wamd.store import Account, DeviceCredentials, Lease, Store

__all__ = ["Device"]

log = logging.getLogger("wamd.conn")


class Device:
    """The account a client drives and its cached credentials."""

    def __init__(self, store: Store | None, account: int | str | None = None) -> None:
        self.store = store
        """The store (set before :meth:`load` when the client opens it lazily)."""
        self._key = account
        self._account: Account | None = None
        self._credentials: DeviceCredentials | None = None
        self._lease: Lease | None = None
        self._wiping: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        jid = self._credentials.jid if self._credentials else None
        return f"Device(account={self._account.id if self._account else None}, jid={jid!r})"

    @property
    def account(self) -> Account:
        """The store account (after :meth:`load`)."""
        if self._account is None:
            raise StoreError("device not loaded")
        return self._account

    @property
    def credentials(self) -> DeviceCredentials:
        """The cached credentials (after :meth:`load`)."""
        if self._credentials is None:
            raise StoreError("device not loaded")
        return self._credentials

    @property
    def loaded(self) -> bool:
        """Whether :meth:`load` has resolved an account."""
        return self._account is not None

    async def load(self) -> DeviceCredentials:
        """Resolve the account and read its credentials (creating both when needed).

        With no account given: the store's only account, or a new one when the store is
        empty. Raises :class:`StoreError` when the store holds several accounts and none was
        chosen.
        """
        store = self.store
        if store is None:
            raise StoreError("no store to load the device from")
        if self._account is None:
            if self._key is not None:
                self._account = await store.account(self._key)
            else:
                infos = await store.accounts()
                if len(infos) > 1:
                    raise StoreError(
                        f"the store holds {len(infos)} accounts: pass account=<id or JID>"
                    )
                if infos:
                    self._account = await store.account(infos[0].id)
                else:
                    self._account = await store.new_account(new_credentials())
                    log.info("created a new device (account %d)", self._account.id)
        self._credentials = await self._account.credentials.load()
        return self._credentials

    async def update(self, **changes: Any) -> DeviceCredentials:
        """Save the credentials with ``changes`` applied and return them."""
        credentials = dataclasses.replace(self.credentials, **changes)
        await self.account.credentials.save(credentials)
        self._credentials = credentials
        return credentials

    def saved(self, credentials: DeviceCredentials) -> None:
        """Record credentials the caller has just saved (e.g. inside a transaction)."""
        self._credentials = credentials

    async def acquire_lease(self, wait: float | None) -> None:
        """Take the account's lease (no-op when already held)."""
        if self._lease is not None and self._lease.held:
            return
        self._lease = await self.account.acquire_lease(wait=wait)

    async def release_lease(self) -> None:
        """Give the lease up (idempotent)."""
        lease, self._lease = self._lease, None
        if lease is not None:
            await lease.release()

    async def wipe(self) -> None:
        """Delete the account and everything it owns; the next :meth:`load` starts afresh.

        Concurrent calls (the server's logout and :meth:`Client.logout
        <wamd.client.Client.logout>` race) share one deletion, and a cancelled caller does not
        interrupt it: once any call returns, the account is gone from the store.
        """
        if self._wiping is None or self._wiping.done():
            self._wiping = asyncio.ensure_future(self._wipe())
            self._wiping.add_done_callback(_retrieve)
        await asyncio.shield(self._wiping)

    async def _wipe(self) -> None:
        account = self._account
        await self.release_lease()
        self._account = None
        self._credentials = None
        self._key = None
        if account is not None and self.store is not None:
            await self.store.delete_account(account.id)
            log.info("deleted the device's stored data (account %d)", account.id)


def _retrieve(task: asyncio.Task[None]) -> None:
    """Mark a wipe's failure as seen (its callers got it; a cancelled caller could not)."""
    if not task.cancelled() and task.exception() is not None:
        log.debug("wiping the device failed: %s", task.exception())
