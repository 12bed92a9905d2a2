"""Keeping the server supplied with our one-time prekeys.

After each login the server's count is asked (``<iq xmlns=encrypt type=get><count/>``): none
means a first upload of 812 keys, fewer than ``prekey_min`` a refill of ``prekey_batch``. The
server also announces a low count with ``<notification type="encrypt"><count value/>``. An
upload (``<iq xmlns=encrypt type=set>``: registration id, key type, identity, ``<list>`` of
``<key><id/><value/></key>``, ``<skey>``) sends keys generated and stored first; they are
marked uploaded once the server accepted them. Our signed prekey is kept in the signed-prekey
store so that ``pkmsg`` built on it decrypt.
"""

from __future__ import annotations

import asyncio
import logging

from wamd.messaging.context import Context
from wamd.messaging.stanzas import (
    parse_prekey_count,
    prekey_count_request,
    prekey_upload_request,
)
from wamd.signal import generate_prekeys
from wamd.store import PreKey, StoredKeyPair

__all__ = ["PreKeyUpkeep"]

log = logging.getLogger("wamd.messaging")


class PreKeyUpkeep:
    """Uploads and refills our one-time prekeys (see the module docstring)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._lock = asyncio.Lock()
        self.uploaded = 0

    def __repr__(self) -> str:
        return f"PreKeyUpkeep(uploaded={self.uploaded})"

    async def ensure_signed_prekey(self) -> None:
        """Put the credentials' signed prekey into the signed-prekey store if missing."""
        signed = self._ctx.credentials().signed_prekey
        store = self._ctx.account.signed_prekeys
        if await store.get(signed.key_id) is None:
            await store.put(signed)

    async def server_count(self) -> int:
        """How many of our one-time prekeys the server still has."""
        return parse_prekey_count(await self._ctx.link.request(prekey_count_request()))

    async def check(self, count: int | None = None) -> int:
        """Upload keys when the server's ``count`` (asked when not given) is low; returns
        how many were uploaded."""
        async with self._lock:
            if count is None:
                count = await self.server_count()
            opts = self._ctx.options
            if count >= opts.prekey_min:
                return 0
            wanted = (
                opts.initial_prekeys if count == 0 and self.uploaded == 0 else opts.prekey_batch
            )
            return await self._upload(wanted)

    async def _upload(self, wanted: int) -> int:
        ctx = self._ctx
        store = ctx.account.prekeys
        keys = await store.unuploaded(wanted)
        if len(keys) < wanted:
            ids = await store.reserve_ids(wanted - len(keys))
            new = [
                PreKey(k.key_id, StoredKeyPair(k.key_pair.public, k.key_pair.private))
                for i in ids
                for k in generate_prekeys(i, 1)
            ]
            await store.put_many(new)
            keys += new
        creds = ctx.credentials()
        signed = creds.signed_prekey
        request = prekey_upload_request(
            registration_id=creds.registration_id,
            identity=creds.identity_key.public,
            prekeys=[(k.key_id, k.key_pair.public) for k in keys],
            signed_prekey=(signed.key_id, signed.key_pair.public, signed.signature),
        )
        await ctx.link.request(request)
        await store.mark_uploaded(k.key_id for k in keys)
        self.uploaded += len(keys)
        log.info("uploaded %d prekeys", len(keys))
        return len(keys)
