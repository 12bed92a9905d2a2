"""The simulated phone as a Signal peer of its own companions: app-state keys and history.

A real primary phone, when it links a companion, sends it (end-to-end encrypted, as device 0
of the account) the account's app-state sync keys (``APP_STATE_SYNC_KEY_SHARE``) and the
history (``HISTORY_SYNC_NOTIFICATION``). The sandbox phone does the same: it keeps one Signal
session per companion (X3DH from the companion's registered signed prekey, plus a one-time
prekey when one was uploaded), encrypts with :mod:`wamd.signal`, and hands the ``<message>`` to
the message router's durable queue, so it arrives when the companion comes online.

Not installed by default (the extra messages would change what other tests count): add
``"wamd.sandbox.phone_peer"`` to the sandbox's modules. Each account gets one app-state sync key,
created when first needed. History is whatever was
seeded for the account (:meth:`PhonePeer.seed_history`, from tests or the admin API), sent
inline at pairing. The phone decrypts nothing.
"""

from __future__ import annotations

import os
import sqlite3
import weakref
import zlib
from typing import TYPE_CHECKING, cast

from wamd.appstate.keyshare import key_share_message
from wamd.binary import Node
from wamd.crypto import KeyPair
from wamd.errors import WamdError
from wamd.proto import e2e_pb2, history_pb2
from wamd.sandbox.messaging import router_of
from wamd.sandbox.prekeys import take_bundle
from wamd.sandbox.state import Device
from wamd.signal import PreKeyBundle, SessionRecord, pad
from wamd.signal.session_cipher import LocalIdentity, encrypt, session_from_bundle
from wamd.store.types import AppStateSyncKey
from wamd.types import JID, LID_SERVER, USER_SERVER

if TYPE_CHECKING:
    from wamd.sandbox.server import Sandbox

COMPONENT = "phone_peer"
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

        Returns the message id. Raises :class:`~wamd.errors.WamdError` when the account or
        device is unknown.
        """
        plaintext = pad(message.SerializeToString())

        def work(db: sqlite3.Connection) -> tuple[str, bytes, str, str]:
            account = db.execute(
                "SELECT identity_private, registration_id, lid, push_name FROM accounts"
                " WHERE phone = ?",
                (phone,),
            ).fetchone()
            if account is None:
                raise WamdError(f"no sandbox account {phone}")
            local = LocalIdentity(KeyPair.from_private(bytes(account[0])), int(account[1]))
            row = db.execute(
                "SELECT record FROM phone_sessions WHERE phone = ? AND device = ?", (phone, device)
            ).fetchone()
            record = SessionRecord.deserialize(bytes(row[0])) if row is not None else None
            if record is None or record.current is None:
                bundle = take_bundle(db, phone, device)
                if bundle is None:
                    raise WamdError(f"no device {phone}:{device}")
                record = session_from_bundle(
                    record,
                    local,
                    PreKeyBundle(
                        registration_id=bundle.registration_id,
                        identity_key=bundle.identity,
                        signed_prekey_id=bundle.signed_prekey_id,
                        signed_prekey=bundle.signed_prekey,
                        signed_prekey_signature=bundle.signed_prekey_signature,
                        prekey_id=bundle.prekey[0] if bundle.prekey else None,
                        prekey=bundle.prekey[1] if bundle.prekey else None,
                    ),
                )
            record, enc_type, ciphertext = encrypt(record, local, plaintext)
            db.execute(
                "INSERT INTO phone_sessions (phone, device, record) VALUES (?, ?, ?)"
                " ON CONFLICT (phone, device) DO UPDATE SET record = excluded.record",
                (phone, device, record.serialize()),
            )
            return enc_type, ciphertext, str(account[2]), str(account[3])

        enc_type, ciphertext, lid, push_name = await self._sandbox.state.run(work)
        message_id = self._message_id()
        stanza = Node(
            "message",
            {
                "id": message_id,
                "from": JID(phone, USER_SERVER),
                "t": str(int(self._sandbox.clock())),
                "type": "text",
                "category": "peer",
                "notify": push_name,
                "sender_lid": JID(lid, LID_SERVER),
            },
            [Node("enc", {"v": "2", "type": enc_type}, ciphertext)],
        )
        await router_of(self._sandbox).deliver_to(phone, device, message_id, stanza)
        return message_id

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

    async def send_history(self, phone: str, device: int) -> str | None:
        """Send the seeded history (inline, compressed) to one companion, if any was seeded."""

        def work(db: sqlite3.Connection) -> bytes | None:
            row = db.execute(
                "SELECT history FROM phone_history WHERE phone = ?", (phone,)
            ).fetchone()
            return bytes(row[0]) if row is not None else None

        raw = await self._sandbox.state.run(work)
        if raw is None:
            return None
        sync = history_pb2.HistorySync.FromString(raw)
        message = e2e_pb2.Message()
        protocol = message.protocol_message
        protocol.type = e2e_pb2.ProtocolMessage.HISTORY_SYNC_NOTIFICATION
        note = protocol.history_sync_notification
        # the two HistorySyncType enums share their numbers
        note.sync_type = cast(e2e_pb2.HistorySyncType, int(sync.sync_type))
        note.chunk_order = sync.chunk_order
        note.progress = 100
        note.initial_hist_bootstrap_inline_payload = zlib.compress(raw)
        return await self.send(phone, device, message)


def install(sandbox: Sandbox) -> None:
    """At every pairing, the phone shares the sync key and the seeded history."""
    sandbox.state.register_schema(COMPONENT, MIGRATIONS)
    peer = PhonePeer(sandbox)
    _peers[sandbox] = peer

    @sandbox.router.on_paired
    async def linked(device: Device) -> None:
        await peer.share_app_state_key(device.phone, device.device)
        await peer.send_history(device.phone, device.device)
