"""The simulated phone as a Signal peer of its own companions: app-state keys and history.

A real primary phone, when it links a companion, sends it (end-to-end encrypted, as device 0
of the account) the account's app-state sync keys (``APP_STATE_SYNC_KEY_SHARE``) and the
history (``HISTORY_SYNC_NOTIFICATION``). The sandbox phone does the same: it encrypts with
the Signal sessions of :mod:`wamd.sandbox.phone_reader` (one state per phone; a new session
by X3DH from the companion's registered signed prekey, plus a one-time prekey when one was
uploaded) and hands the ``<message>`` to the message router's durable queue, so it arrives
when the companion comes online. Because the reader holds the same sessions, the phone also
reads what its companions send it, and answers their peer requests (:meth:`PhonePeer.on_request`:
key requests, fatal app-state recoveries, on-demand history).

Installed by default, after ``phone_reader``. Each account gets one app-state sync key,
created when first needed. The history is what was seeded for the account
(:meth:`PhonePeer.seed_history`, from tests or the admin API), else an ``INITIAL_BOOTSTRAP``
chunk with the push names the sandbox knows; it is sent as a blob on the media host, as a real
phone does.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import weakref
import zlib
from typing import TYPE_CHECKING, cast

from wamd.appstate.keyshare import answer_key_request, key_share_message
from wamd.appstate.recovery import recovery_from_snapshot, recovery_response_message
from wamd.binary import Node
from wamd.errors import WamdError
from wamd.media import MediaType
from wamd.proto import e2e_pb2, history_pb2
from wamd.sandbox.appstate import server_of as appstate_server_of
from wamd.sandbox.appstate_blobs import store_encrypted
from wamd.sandbox.messaging import router_of
from wamd.sandbox.phone_reader import phone_reader_of
from wamd.sandbox.prekeys import take_bundle
from wamd.sandbox.state import Device
from wamd.signal import PreKeyBundle
from wamd.store.types import AppStateSyncKey
from wamd.types import JID, LID_SERVER, USER_SERVER

if TYPE_CHECKING:
    from wamd.sandbox.server import Sandbox

COMPONENT = "phone_peer"
MAX_PUSH_NAMES = 500
"""How many push names the default history carries."""
MAX_ON_DEMAND = 500
"""How many messages one on-demand history answer carries at most."""

log = logging.getLogger("wamd.sandbox.phone")
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE phone_sessions (
        phone TEXT NOT NULL,
        device INTEGER NOT NULL,
        record BLOB NOT NULL,
        PRIMARY KEY (phone, device)
    );
    CREATE TABLE phone_app_state_keys (
        phone TEXT NOT NULL,
        key_id BLOB NOT NULL,
        key_data BLOB NOT NULL,
        timestamp INTEGER NOT NULL,
        PRIMARY KEY (phone, key_id)
    );
    CREATE TABLE phone_history (
        phone TEXT PRIMARY KEY,
        history BLOB NOT NULL
    )
    """,
    # the phone's sessions are the phone reader's now
    "DROP TABLE phone_sessions",
)

_peers: weakref.WeakKeyDictionary[Sandbox, PhonePeer] = weakref.WeakKeyDictionary()


def peer_of(sandbox: Sandbox) -> PhonePeer:
    """The phone peer of a sandbox (admin and tests)."""
    return _peers[sandbox]


class PhonePeer:
    """Sends protocol messages from accounts' phones to their companions (see module docs)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._ids = 0

    def _message_id(self) -> str:
        self._ids += 1
        return f"3EB0{os.urandom(6).hex().upper()}{self._ids:04X}"

    async def send(self, phone: str, device: int, message: e2e_pb2.Message) -> str:
        """Encrypt ``message`` as the phone of ``phone`` for one companion and queue it.

        The phone's Signal sessions are those of :mod:`wamd.sandbox.phone_reader` (one state
        per phone, so what a companion answers on them is readable). Returns the message id.
        Raises :class:`~wamd.errors.WamdError` when the account or device is unknown.
        """
        account = await self._sandbox.state.account(phone)
        if account is None:
            raise WamdError(f"no sandbox account {phone}")

        async def bundle() -> PreKeyBundle | None:
            found = await self._sandbox.state.run(lambda db: take_bundle(db, phone, device))
            if found is None:
                return None
            return PreKeyBundle(
                registration_id=found.registration_id,
                identity_key=found.identity,
                signed_prekey_id=found.signed_prekey_id,
                signed_prekey=found.signed_prekey,
                signed_prekey_signature=found.signed_prekey_signature,
                prekey_id=found.prekey[0] if found.prekey else None,
                prekey=found.prekey[1] if found.prekey else None,
            )

        encrypted = await phone_reader_of(self._sandbox).encrypt(
            account, f"{phone}.{device}", message.SerializeToString(), bundle
        )
        message_id = self._message_id()
        stanza = Node(
            "message",
            {
                "id": message_id,
                "from": JID(phone, USER_SERVER),
                "t": str(int(self._sandbox.clock())),
                "type": "text",
                "category": "peer",
                "notify": account.push_name,
                "sender_lid": JID(account.lid, LID_SERVER),
            },
            [Node("enc", {"v": "2", "type": encrypted.enc_type}, encrypted.ciphertext)],
        )
        await router_of(self._sandbox).deliver_to(phone, device, message_id, stanza)
        return message_id

    async def on_request(
        self, phone: str, device: int, message_id: str, message: e2e_pb2.Message
    ) -> None:
        """Answer a companion's peer request (read by the phone): a key request gets the keys
        the phone holds of those asked for (an empty share when none), a fatal app-state
        recovery gets the collection's live state in plaintext, an on-demand history request
        the older messages of the seeded history. Anything else, or a request it cannot
        answer, is logged and dropped (as a phone would)."""
        protocol = message.protocol_message
        request = protocol.peer_data_operation_request_message
        kind = request.peer_data_operation_request_type
        answer: e2e_pb2.Message | None
        try:
            if protocol.type == e2e_pb2.ProtocolMessage.APP_STATE_SYNC_KEY_REQUEST:
                answer = answer_key_request(
                    protocol.app_state_sync_key_request, await self.app_state_keys(phone)
                )
            elif kind == e2e_pb2.COMPANION_SYNCD_SNAPSHOT_FATAL_RECOVERY:
                name = request.syncd_collection_fatal_recovery_request.collection_name
                answer = await self.recovery_answer(phone, name, message_id)
            elif kind == e2e_pb2.HISTORY_SYNC_ON_DEMAND:
                answer = await self.on_demand_answer(
                    phone, request.history_sync_on_demand_request, message_id
                )
            else:
                log.info("phone %s ignores peer request type %d", phone, kind)
                return
            if answer is not None:
                await self.send(phone, device, answer)
        except WamdError as exc:
            log.warning(
                "phone %s cannot answer %s from device %d: %s", phone, message_id, device, exc
            )

    async def recovery_answer(
        self, phone: str, name: str, request_id: str
    ) -> e2e_pb2.Message | None:
        """The phone's answer to a fatal-recovery request of collection ``name``: its live
        state on the server, decrypted with the keys the phone holds."""
        snapshot = await appstate_server_of(self._sandbox).snapshot(phone, name)
        if snapshot is None:
            log.info("phone %s has no collection %r to recover", phone, name)
            return None
        keys = {key.key_id: key.key_data for key in await self.app_state_keys(phone)}
        recovery = recovery_from_snapshot(snapshot, name, keys)
        return recovery_response_message(recovery, request_id)

    async def on_demand_answer(
        self,
        phone: str,
        request: e2e_pb2.PeerDataOperationRequestMessage.HistorySyncOnDemandRequest,
        request_id: str,
    ) -> e2e_pb2.Message:
        """An ``ON_DEMAND`` history chunk: up to ``on_demand_msg_count`` messages of the
        requested chat older than the oldest one named, from the seeded history."""
        seeded = await self._seeded(phone)
        sync = history_pb2.HistorySync(
            sync_type=history_pb2.HistorySync.ON_DEMAND, chunk_order=1, progress=100
        )
        before = request.oldest_msg_timestamp_ms // 1000
        count = max(0, min(request.on_demand_msg_count, MAX_ON_DEMAND))
        for conv in seeded.conversations if seeded is not None else ():
            if conv.id != request.chat_jid:
                continue
            older = [m for m in conv.messages if m.message.message_timestamp < before]
            older.sort(key=lambda m: m.message.message_timestamp)
            out = sync.conversations.add(id=conv.id, name=conv.name)
            out.messages.extend(older[-count:] if count else [])
        return await self._notification(phone, sync, session_id=request_id)

    async def app_state_key(self, phone: str) -> AppStateSyncKey:
        """The account's app-state sync key (created on first use)."""
        now_ms = int(self._sandbox.clock() * 1000)
        fresh = AppStateSyncKey(os.urandom(6), os.urandom(32), timestamp=now_ms)

        def work(db: sqlite3.Connection) -> AppStateSyncKey:
            row = db.execute(
                "SELECT key_id, key_data, timestamp FROM phone_app_state_keys WHERE phone = ?"
                " ORDER BY timestamp DESC LIMIT 1",
                (phone,),
            ).fetchone()
            if row is not None:
                return AppStateSyncKey(bytes(row[0]), bytes(row[1]), timestamp=int(row[2]))
            db.execute(
                "INSERT INTO phone_app_state_keys (phone, key_id, key_data, timestamp)"
                " VALUES (?, ?, ?, ?)",
                (phone, fresh.key_id, fresh.key_data, fresh.timestamp),
            )
            return fresh

        return await self._sandbox.state.run(work)

    async def add_app_state_key(self, phone: str, key: AppStateSyncKey) -> None:
        """Give the phone of ``phone`` another sync key (as after a key rotation; tests)."""
        await self._sandbox.state.run(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO phone_app_state_keys (phone, key_id, key_data, timestamp)"
                " VALUES (?, ?, ?, ?)",
                (phone, key.key_id, key.key_data, key.timestamp),
            )
        )

    async def app_state_keys(self, phone: str) -> list[AppStateSyncKey]:
        """Every app-state sync key the phone of ``phone`` holds."""
        rows = await self._sandbox.state.run(
            lambda db: db.execute(
                "SELECT key_id, key_data, timestamp FROM phone_app_state_keys WHERE phone = ?",
                (phone,),
            ).fetchall()
        )
        return [AppStateSyncKey(bytes(k), bytes(d), timestamp=int(t)) for k, d, t in rows]

    async def share_app_state_key(self, phone: str, device: int) -> str:
        """Send the account's app-state sync key to one companion."""
        key = await self.app_state_key(phone)
        return await self.send(phone, device, key_share_message([key]))

    async def seed_history(self, phone: str, history: history_pb2.HistorySync) -> None:
        """Set the history the phone sends to companions linked from now on."""
        raw = history.SerializeToString()

        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO phone_history (phone, history) VALUES (?, ?)"
                " ON CONFLICT (phone) DO UPDATE SET history = excluded.history",
                (phone, raw),
            )

        await self._sandbox.state.run(work)

    async def _seeded(self, phone: str) -> history_pb2.HistorySync | None:
        row = await self._sandbox.state.run(
            lambda db: db.execute(
                "SELECT history FROM phone_history WHERE phone = ?", (phone,)
            ).fetchone()
        )
        return history_pb2.HistorySync.FromString(bytes(row[0])) if row is not None else None

    async def history_for(self, phone: str) -> history_pb2.HistorySync:
        """The history the phone sends a new companion: what was seeded for the account, else
        an ``INITIAL_BOOTSTRAP`` chunk of its own; either way with the push names the sandbox
        knows (an account's own name, else its newest device's; the account's own first, then
        others, newest accounts first, at most :data:`MAX_PUSH_NAMES`) and their LIDs."""
        names = await self._sandbox.state.run(
            lambda db: db.execute(
                "SELECT phone, lid, name FROM (SELECT a.phone, a.lid, a.created,"
                " COALESCE(NULLIF(a.push_name, ''), (SELECT d.push_name FROM devices d"
                " WHERE d.phone = a.phone AND d.push_name != '' ORDER BY d.device DESC"
                " LIMIT 1), '') AS name FROM accounts a) WHERE name != ''"
                " ORDER BY phone = ? DESC, created DESC, phone LIMIT ?",
                (phone, MAX_PUSH_NAMES),
            ).fetchall()
        )
        sync = await self._seeded(phone) or history_pb2.HistorySync(
            sync_type=history_pb2.HistorySync.INITIAL_BOOTSTRAP, chunk_order=1, progress=100
        )
        named = {p.id for p in sync.pushnames}
        mapped = {m.pn_jid for m in sync.phone_number_to_lid_mappings}
        for number, lid, name in names:
            jid = str(JID(str(number), USER_SERVER))
            if jid not in named:
                sync.pushnames.add(id=jid, pushname=str(name))
            if lid and jid not in mapped:
                sync.phone_number_to_lid_mappings.add(
                    pn_jid=jid, lid_jid=str(JID(str(lid), LID_SERVER))
                )
        return sync

    async def send_history(self, phone: str, device: int) -> str:
        """Send the history (:meth:`history_for`) to one companion, as a real phone does at
        linking."""
        sync = await self.history_for(phone)
        return await self.send(phone, device, await self._notification(phone, sync))

    async def _notification(
        self, phone: str, sync: history_pb2.HistorySync, *, session_id: str = ""
    ) -> e2e_pb2.Message:
        """A ``HISTORY_SYNC_NOTIFICATION`` for ``sync``: the zlib-compressed chunk encrypted on
        the media host ("WhatsApp History Keys"); inline when the sandbox has no media host."""
        blob = zlib.compress(sync.SerializeToString())
        message = e2e_pb2.Message()
        protocol = message.protocol_message
        protocol.type = e2e_pb2.ProtocolMessage.HISTORY_SYNC_NOTIFICATION
        note = protocol.history_sync_notification
        # the two HistorySyncType enums share their numbers
        note.sync_type = cast(e2e_pb2.HistorySyncType, int(sync.sync_type))
        note.chunk_order = sync.chunk_order
        note.progress = sync.progress if sync.HasField("progress") else 100
        if session_id:
            note.peer_data_request_session_id = session_id
        media = self._sandbox.media
        if media is None:
            note.initial_hist_bootstrap_inline_payload = blob
        else:
            key, path, sha256, enc_sha256 = await store_encrypted(media, blob, MediaType.HISTORY)
            note.media_key = key
            note.direct_path = path
            note.file_sha256 = sha256
            note.file_enc_sha256 = enc_sha256
            note.file_length = len(blob)
        return message


def install(sandbox: Sandbox) -> None:
    """At every pairing, the phone shares the sync key and the seeded history."""
    sandbox.state.register_schema(COMPONENT, MIGRATIONS)
    peer = PhonePeer(sandbox)
    _peers[sandbox] = peer

    async def wire() -> None:
        # the phone reader is installed before (it reads what companions send the phone)
        phone_reader_of(sandbox).on_peer_request = peer.on_request

    sandbox.startup_hooks.append(wire)

    @sandbox.router.on_paired
    async def linked(device: Device) -> None:
        await peer.share_app_state_key(device.phone, device.device)
        await peer.send_history(device.phone, device.device)
