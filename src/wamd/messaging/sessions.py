"""Signal sessions for devices that have none: one batched prekey-bundle fetch.

``<iq xmlns="encrypt" type="get"><key><user jid [reason="identity"]/>..</key></iq>`` asks the
bundles of many devices at once; the server hands out (and consumes) one one-time prekey per
device. Devices are asked in their canonical form (LID when known: the form WhatsApp indexes
prekeys by).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from wamd.errors import CryptoError, MalformedNode, UntrustedIdentity
from wamd.messaging.context import Context
from wamd.messaging.stanzas import parse_prekey_bundles, prekey_fetch_request
from wamd.signal import IdentityChange, PreKeyBundle, SignalBatch
from wamd.types import JID

__all__ = ["apply_bundles", "fetch_bundles"]

log = logging.getLogger("wamd.messaging")


async def fetch_bundles(
    ctx: Context, jids: Iterable[JID], *, reason: str | None = None
) -> dict[JID, PreKeyBundle]:
    """The prekey bundles of ``jids`` (canonical device JIDs); devices the server has no
    bundle for, or whose bundle is malformed or badly signed, are left out (logged).

    Raises :class:`~wamd.errors.IQError`, :class:`~wamd.errors.IQTimeout` or
    :class:`~wamd.errors.NotConnected` when the request itself fails.
    """
    wanted = list(dict.fromkeys(jids))
    if not wanted:
        return {}
    answer = await ctx.link.request(prekey_fetch_request(wanted, reason=reason))
    found = parse_prekey_bundles(answer)
    bundles: dict[JID, PreKeyBundle] = {}
    for jid in wanted:
        bundle = found.get(jid)
        if bundle is None:
            log.warning("no prekey bundle for %s in the answer", jid)
            continue
        if isinstance(bundle, MalformedNode):
            log.warning("%s", bundle)
            continue
        try:
            bundle.verify()
        except CryptoError as exc:
            log.warning("refusing the prekey bundle of %s: %s", jid, exc)
            continue
        bundles[jid] = bundle
    return bundles


async def apply_bundles(
    batch: SignalBatch, bundles: dict[JID, PreKeyBundle]
) -> tuple[set[JID], list[IdentityChange]]:
    """Start sessions from ``bundles`` in ``batch``; returns the devices done and the
    identity changes seen (devices whose bundle fails are left out, logged)."""
    done: set[JID] = set()
    changes: list[IdentityChange] = []
    for jid, bundle in bundles.items():
        try:
            change = await batch.process_bundle(jid.signal_address, bundle)
        except (CryptoError, UntrustedIdentity) as exc:
            log.warning("cannot start a session with %s: %s", jid, exc)
            continue
        done.add(jid)
        if change is not None:
            changes.append(change)
    return done, changes
