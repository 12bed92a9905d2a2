"""The app-state engine: fetching, applying and pushing patches for one account.

A thin asyncio driver over the sans-I/O core (:mod:`~wamd.appstate.decode`,
:mod:`~wamd.appstate.encode`, :mod:`~wamd.appstate.protocol`). Its dependencies are injected:

- ``account``: the store account (versions, MACs, sync keys, contacts, chat settings);
- ``send_iq``: sends an IQ node (the connection assigns its id) and returns the answer;
- ``download``: fetches and decrypts an external blob ("WhatsApp App State Keys" media);
- ``request_keys`` (optional): asks one's own devices for missing sync keys;
- ``request_recovery`` (optional): asks the primary device to rebuild a collection;
- ``durable``: put each event into the account's durable inbox (kind
  :data:`~wamd.appstate.events.APPSTATE_KIND`) in the transaction that advances the collection
  (a crash between that commit and the handlers cannot lose it; the caller dispatches the
  returned events through the inbox, which redelivers what was pending after a restart).

Per collection it is a small state machine: *synced* -> fetch patches after the stored
version (a snapshot when the version is 0) -> verify -> commit version, LTHash and MAC
changes, contacts and chat settings in one store transaction -> events. A MAC mismatch or a
broken sequence never leaves a stuck account: the collection is resynchronised from scratch
(a snapshot); if that fails too, the primary device is asked for a recovery and the error is
raised. Missing sync keys park the collection (``blocked``) until :meth:`keys_arrived`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace

from wamd.appstate import events as ev
from wamd.appstate.crypto import index_mac
from wamd.appstate.decode import (
    apply_patches,
    apply_snapshot,
    index_macs_needed,
    key_ids_needed,
    parse_snapshot,
    resolve_external_mutations,
)
from wamd.appstate.encode import PatchInfo, encode_patch, index_bytes
from wamd.appstate.keys import Keyring
from wamd.appstate.protocol import (
    CONFLICT,
    CollectionRequest,
    CollectionResponse,
    fetch_request,
    parse_response,
    push_request,
)
from wamd.appstate.recovery import apply_recovery, recovery_key_ids
from wamd.appstate.state import (
    ALL_COLLECTIONS,
    CollectionState,
    MACChanges,
    SyncResult,
)
from wamd.binary import Node
from wamd.errors import (
    AppStateError,
    AppStateKeyMissing,
    AppStateMACMismatch,
    AppStateMalformed,
    AppStateVersionError,
    WamdError,
)
from wamd.proto import appstate_pb2 as pb
from wamd.store import Account, Transaction
from wamd.store.types import AppStateVersion, Contact

log = logging.getLogger("wamd.appstate")

SendIQ = Callable[[Node], Awaitable[Node]]
DownloadBlob = Callable[[pb.ExternalBlobReference], Awaitable[bytes]]
RequestKeys = Callable[[list[bytes]], Awaitable[None]]
RequestRecovery = Callable[[str], Awaitable[None]]

RECOVERY_RETRY = 60.0
"""Seconds before a collection's recovery is asked of the primary device again."""

MAX_ROUNDS = 100
"""Upper bound on ``has_more_patches`` round trips in one sync of one collection."""

_RESYNCABLE = (AppStateMACMismatch, AppStateVersionError, AppStateMalformed)


class AppStateServerError(AppStateError):
    """The server answered a collection with an error (``code``, e.g. 409 or 400)."""

    def __init__(self, collection: str, code: int, text: str = "") -> None:
        super().__init__(f"server error {code} for app state {collection!r} {text}".rstrip())
        self.collection = collection
        self.code = code


class AppStateEngine:
    """Keeps one account's five collections in sync with the server (see module docs)."""

    def __init__(
        self,
        account: Account,
        send_iq: SendIQ,
        download: DownloadBlob,
        *,
        request_keys: RequestKeys | None = None,
        request_recovery: RequestRecovery | None = None,
        clock: Callable[[], float] = time.time,
        durable: bool = False,
    ) -> None:
        self._account = account
        self._durable = durable
        self._committed: list[ev.AppStateEvent] = []
        self._send_iq = send_iq
        self._download = download
        self._request_keys = request_keys
        self._request_recovery = request_recovery
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self.blocked: set[str] = set()
        """Collections waiting for sync keys (retried by :meth:`keys_arrived`)."""
        self.failures: dict[str, WamdError] = {}
        """The error of each collection whose last :meth:`sync` failed."""
        self.recovering: dict[str, float] = {}
        """Collections whose recovery was asked of the primary device (-> when, unix s)."""

    def _lock(self, name: str) -> asyncio.Lock:
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = asyncio.Lock()
        return lock

    # --- fetching ----------------------------------------------------------------------------

    async def sync(
        self, names: Iterable[str] = ALL_COLLECTIONS, *, full: bool = False
    ) -> list[ev.AppStateEvent]:
        """Bring collections up to date; returns the events of what changed, in order.

        A collection that fails (after the recovery attempts described in the module docs) does
        not stop the others: its error is kept in :attr:`failures` (a collection blocked on
        missing keys also stays in :attr:`blocked`). :meth:`sync_collection` raises instead.
        """
        events: list[ev.AppStateEvent] = []
        for name in names:
            try:
                events += await self.sync_collection(str(name), full=full)
            except WamdError as exc:
                self.failures[str(name)] = exc
                if not isinstance(exc, AppStateKeyMissing):
                    log.warning("app state %s not synced: %s", name, exc)
            else:
                self.failures.pop(str(name), None)
        return events

    async def sync_collection(self, name: str, *, full: bool = False) -> list[ev.AppStateEvent]:
        """Bring one collection up to date (``full``: discard local state, start from scratch)."""
        async with self._lock(name):
            return await self._sync_locked(name, full)

    async def keys_arrived(self) -> list[ev.AppStateEvent]:
        """Retry the collections that were blocked on missing sync keys."""
        blocked, self.blocked = sorted(self.blocked), set()
        return await self.sync(blocked)

    async def _sync_locked(
        self, name: str, full: bool, *, snapshot: bool = True
    ) -> list[ev.AppStateEvent]:
        # First as asked; after a verification failure once more from scratch (a snapshot);
        # after a second failure the primary device is asked for a recovery.
        for last_try in (full, True):
            try:
                return await self._fetch(name, full or last_try, snapshot or last_try)
            except AppStateKeyMissing as exc:
                await self._blocked(name, exc)
                raise
            except _RESYNCABLE as exc:
                if not last_try:
                    log.warning("app state %s failed (%s): resyncing from a snapshot", name, exc)
                    continue
                await self._ask_recovery(name, exc)
                raise
        raise AssertionError("unreachable")

    async def _ask_recovery(self, name: str, exc: WamdError) -> None:
        now = self._clock()
        asked = self.recovering.get(name)
        if self._request_recovery is None or (asked is not None and now - asked < RECOVERY_RETRY):
            log.error("app state %s resync failed too (%s)", name, exc)
            return
        log.error("app state %s resync failed too (%s): asking for a recovery", name, exc)
        self.recovering[name] = now
        await self._request_recovery(name)

    async def apply_recovery(self, recovery: pb.SyncdSnapshotRecovery) -> list[ev.AppStateEvent]:
        """Replace a collection with the primary device's answer to our recovery request,
        then fetch the patches after it; returns the events (``full_sync``, ending with an
        :class:`~wamd.appstate.events.AppStateSyncComplete` with ``recovery=True``).

        Raises :class:`~wamd.errors.AppStateMalformed` for a recovery nobody asked for or a
        bad one, :class:`~wamd.errors.AppStateMACMismatch` when its LTHash does not match its
        records, :class:`~wamd.errors.AppStateKeyMissing`; the stored state is then unchanged.
        """
        name = recovery.collection_name
        if name not in self.recovering:
            raise AppStateMalformed(f"a recovery of {name!r} that was not asked for")
        async with self._lock(name):
            keyring = await self._keyring(recovery_key_ids(recovery))
            result = apply_recovery(name, recovery, keyring)
            done = self._complete(name, result.state.version, recovery=True)
            events = await self._commit(result, full_sync=True, then=[done])
            self.recovering.pop(name, None)
            log.info(
                "app state %s recovered by the primary device at v%d", name, result.state.version
            )
            try:
                events += await self._fetch(name, False, False)
            except WamdError as exc:
                self.failures[name] = exc
                log.warning("app state %s: patches after the recovery failed: %s", name, exc)
            else:
                self.failures.pop(name, None)
        return events

    async def _blocked(self, name: str, exc: AppStateKeyMissing) -> None:
        self.blocked.add(name)
        log.info("app state %s waits for %d sync key(s)", name, len(exc.key_ids))
        if self._request_keys is not None and exc.key_ids:
            await self._request_keys(exc.key_ids)

    async def _stored_state(self, name: str) -> CollectionState:
        stored = await self._account.app_state.get_version(name)
        return CollectionState(name, stored.version, stored.hash)

    async def _fetch(self, name: str, full: bool, snapshot: bool) -> list[ev.AppStateEvent]:
        # From version 0 the local state is replaced (``fresh``); a snapshot is asked for then,
        # unless ``snapshot`` is false (after our own first push: the patches are few).
        state = CollectionState(name) if full else await self._stored_state(name)
        fresh = started_fresh = state.version == 0
        events: list[ev.AppStateEvent] = []
        for _ in range(MAX_ROUNDS):
            request = CollectionRequest(name, state.version, snapshot=fresh and snapshot)
            response = parse_response(await self._send_iq(fetch_request([request]))).get(name)
            if response is None:
                raise AppStateMalformed(f"the answer holds no collection {name!r}")
            if response.error_code is not None:
                raise AppStateServerError(name, response.error_code, response.error_text)
            if response.snapshot_ref is not None and not (fresh and snapshot):
                raise AppStateMalformed(f"unrequested snapshot of {name!r}")
            result = await self._apply(state, response, replace=fresh)
            last = not response.has_more
            complete: list[ev.AppStateEvent] = []
            if last and (full or (started_fresh and result.state.version > 0)):
                complete.append(self._complete(name, result.state.version))
            events += await self._commit(result, full_sync=fresh, then=complete)
            state = result.state
            fresh = False
            if last:
                return events
        raise AppStateError(f"app state {name!r} still has more patches after {MAX_ROUNDS} rounds")

    def _complete(self, name: str, version: int, *, recovery: bool = False) -> ev.AppStateEvent:
        return ev.AppStateSyncComplete(
            timestamp=int(self._clock() * 1000),
            full_sync=True,
            collection=name,
            version=version,
            recovery=recovery,
        )

    async def _keyring(self, key_ids: Iterable[bytes]) -> Keyring:
        keyring = Keyring()
        missing: list[bytes] = []
        for key_id in sorted(key_ids):
            key = await self._account.app_state_keys.get(key_id)
            if key is None:
                missing.append(key_id)
            else:
                keyring.add(key.key_id, key.key_data)
        if missing:
            raise AppStateKeyMissing(missing)
        return keyring

    async def _apply(
        self, state: CollectionState, response: CollectionResponse, *, replace: bool
    ) -> SyncResult:
        name = state.name
        snapshot = None
        if response.snapshot_ref is not None:
            snapshot = parse_snapshot(await self._download(response.snapshot_ref))
        for patch in response.patches:
            if patch.HasField("external_mutations") and not patch.mutations:
                resolve_external_mutations(patch, await self._download(patch.external_mutations))
        keyring = await self._keyring(key_ids_needed(snapshot, response.patches))
        if snapshot is not None:
            result = apply_snapshot(name, snapshot, keyring)
        else:
            result = SyncResult(state, macs=MACChanges(replace=replace))
        if response.patches:
            if result.macs.replace:
                view = result.macs.upsert
            else:
                view = await self._account.app_state.get_macs(
                    name, index_macs_needed(response.patches)
                )
            patched = apply_patches(result.state, response.patches, keyring, view)
            result.state = patched.state
            result.mutations += patched.mutations
            result.warnings += patched.warnings
            for key in patched.macs.remove:
                result.macs.delete(key)
            for key, value in patched.macs.upsert.items():
                result.macs.set(key, value)
        for warning in result.warnings:
            log.warning("app state: %s", warning)
        return result

    async def _commit(
        self, result: SyncResult, *, full_sync: bool, then: Sequence[ev.AppStateEvent] = ()
    ) -> list[ev.AppStateEvent]:
        """Write the new version, LTHash, MACs and side effects in one transaction; with
        ``durable``, the events (the mutations', then ``then``) go into the durable inbox in it
        too and come back carrying their ``seq``."""
        name = result.state.name
        events: list[ev.AppStateEvent] = [
            ev.event_for(m, full_sync=full_sync) for m in result.mutations
        ]
        events += then
        async with self._account.transaction() as tx:
            if result.macs.replace:
                await tx.app_state.delete_collection(name)
            elif result.macs.remove:
                await tx.app_state.delete_macs(name, result.macs.remove)
            if result.macs.upsert:
                await tx.app_state.put_macs(name, result.macs.upsert)
            await tx.app_state.put_version(
                name, AppStateVersion(result.state.version, result.state.hash)
            )
            await _record_side_effects(tx, events)
            if self._durable and events:
                seqs = await tx.inbox.put_many(
                    [
                        (ev.APPSTATE_KIND, ev.to_payload(e), e.timestamp // 1000 or None)
                        for e in events
                    ]
                )
                events = [replace(e, seq=seq) for e, seq in zip(events, seqs, strict=True)]
        if self._durable:
            self._committed += events
        return events

    def take_committed(self) -> list[ev.AppStateEvent]:
        """With ``durable``: the events committed to the inbox since the last call, in commit
        order, for the caller to dispatch (also those of a sync that failed after some rounds
        had committed, which its return value cannot carry)."""
        events, self._committed = self._committed, []
        return events

    # --- pushing -----------------------------------------------------------------------------

    async def push(self, info: PatchInfo) -> list[ev.AppStateEvent]:
        """Encode and send our own change, then fetch the collection to confirm it.

        Returns the events of the fetch (ours included). A 409 (someone else's patch came
        first) is resolved by fetching and re-encoding once. Raises
        :class:`~wamd.errors.AppStateKeyMissing` when no sync key is held yet.
        """
        name = info.collection
        async with self._lock(name):
            events = await self._sync_locked(name, False)
            for attempt in range(2):
                base, encoded_bytes = await self._encode(info)
                answer = await self._send_iq(push_request(name, base, encoded_bytes))
                response = parse_response(answer).get(name)
                if response is not None and response.error_code == CONFLICT and attempt == 0:
                    events += await self._sync_locked(name, False)
                    continue
                if response is not None and response.error_code is not None:
                    raise AppStateServerError(name, response.error_code, response.error_text)
                break
            events += await self._sync_locked(name, False, snapshot=False)
            return events

    async def _encode(self, info: PatchInfo) -> tuple[int, bytes]:
        name = info.collection
        key = await self._account.app_state_keys.latest()
        if key is None:
            raise AppStateKeyMissing([], "no app-state sync key yet: cannot encode a patch")
        keyring = Keyring({key.key_id: key.key_data})
        keys = keyring.get(key.key_id)
        state = await self._stored_state(name)
        touched = [index_mac(keys.index, index_bytes(m.index)) for m in info.mutations]
        macs = await self._account.app_state.get_macs(name, touched)
        encoded = encode_patch(
            state, info, keyring, key.key_id, macs, timestamp_ms=int(self._clock() * 1000)
        )
        return state.version, encoded.serialize()


async def _record_side_effects(tx: Transaction, events: Sequence[ev.AppStateEvent]) -> None:
    """Keep the contact, LID-map and chat-settings stores in step with the app state, in the
    same transaction as the version and MACs."""
    contacts: list[Contact] = []
    lid_pairs: list[tuple[str, str]] = []
    for event in events:
        if isinstance(event, ev.Contact) and not event.removed:
            contacts.append(
                Contact(str(event.jid), first_name=event.first_name, full_name=event.full_name)
            )
            if event.lid is not None and event.lid.is_lid and event.jid.is_pn:
                lid_pairs.append((event.lid.user, event.jid.user))
        elif isinstance(event, ev.Mute):
            until = 0 if not event.muted else (-1 if event.until_ms < 0 else event.until_ms // 1000)
            await tx.chat_settings.update(str(event.chat), muted_until=until)
        elif isinstance(event, ev.Pin):
            await tx.chat_settings.update(str(event.chat), pinned=event.pinned)
        elif isinstance(event, ev.Archive):
            await tx.chat_settings.update(str(event.chat), archived=event.archived)
    if contacts:
        await tx.contacts.put_many(contacts)
    if lid_pairs:
        await tx.lid_map.put_many(lid_pairs)
