"""The simulated phone reads the media messages addressed to it, to know the media it holds.

A real primary phone is a device of its account like the others: senders encrypt every message
for it too (device 0 is in the device list, its signed prekey in the bundle) and it keeps the
media of what it received or sent. That is why a companion whose download finds the blob gone
asks *its own phone* to upload it again (the media-retry request, :mod:`wamd.media.retry`).

The sandbox's phones do the same, as far as media go. For each ``<message>`` a client sends,
the copies addressed to device 0 of a sandbox account are decrypted with that phone's keys
(its identity and signed prekey, which the sandbox generated) — only those that carry media
(an ``<enc mediatype>``) and, in groups, the pairwise copies (which carry the sender key) and
the ``skmsg`` with a ``mediatype``. When the message holds media, the phone remembers it
(message id -> media key and direct path) in :func:`wamd.sandbox.media.phone_media_of`, so
a media-retry request for a message really sent through the sandbox — by wamd or by Baileys,
for the recipient's phone or the sender's own — gets a real answer: the blob uploaded again.

The phone reads before the message is routed, so it knows the media before any recipient
sees it. Nothing it reads is written anywhere else; its Signal sessions and sender keys live
in memory (after a sandbox restart it learns again: senders keep sending ``pkmsg`` to a phone
that never answers). Anything it cannot read is skipped quietly; routing never depends on it.

Installed by default, last (it wraps the message handler of every area before it).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from google.protobuf.message import DecodeError as ProtobufDecodeError

from wamd.binary import Node
from wamd.crypto import KeyPair
from wamd.errors import WamdError
from wamd.media.ref import MEDIA_FIELDS
from wamd.messaging.builders import content_field
from wamd.proto import e2e_pb2
from wamd.sandbox.media import PhoneMedia, phone_media_of
from wamd.sandbox.messaging import MAX_PARTICIPANTS
from wamd.sandbox.prekeys import PHONE_SIGNED_PREKEY_ID
from wamd.sandbox.session import Session
from wamd.sandbox.state import Account
from wamd.signal import (
    ENC_MSG,
    ENC_PKMSG,
    ENC_SKMSG,
    Limits,
    PreKeyBundle,
    SignalCipher,
    SignedPreKey,
)
from wamd.signal.cipher import EncryptResult
from wamd.signal.memory import MemorySignalStore
from wamd.types import GROUP_SERVER, JID, LID_SERVER, USER_SERVER

if TYPE_CHECKING:
    from wamd.sandbox.server import Sandbox

__all__ = ["PhoneReader", "install", "phone_reader_of"]

log = logging.getLogger("wamd.sandbox.phone")

PeerRequestHandler = Callable[[str, int, str, e2e_pb2.Message], Awaitable[None]]
_PEER_REQUESTS = frozenset(
    {
        e2e_pb2.ProtocolMessage.PEER_DATA_OPERATION_REQUEST_MESSAGE,
        e2e_pb2.ProtocolMessage.APP_STATE_SYNC_KEY_REQUEST,
    }
)

# The phone reads only the media messages of a chat, so its chains jump ahead over the rest
# (up to 20,000 messages: a media message after more text than that is not learned; the bound
# also caps the work a hostile counter can cause). It reads in order (one sender device's
# stanzas are handled one at a time), so it keeps few skipped keys.
PHONE_LIMITS = Limits(max_skip=20_000, max_skipped_per_chain=32, max_skipped_total=64)


@dataclass
class _Phone:
    cipher: SignalCipher
    store: MemorySignalStore


class PhoneReader:
    """Decrypts the media messages sent to the sandbox's phones (see the module docstring).

    ``learned`` counts the media messages the phones learned (for tests).
    """

    def __init__(self, sandbox: Sandbox, media: PhoneMedia) -> None:
        self.sandbox = sandbox
        self.media = media
        self.learned = 0
        self._phones: dict[str, _Phone] = {}
        self._lock = asyncio.Lock()
        self.on_peer_request: PeerRequestHandler | None = None
        """Called with ``(phone, companion device, message id, message)`` for each peer
        request (``PEER_DATA_OPERATION_REQUEST_MESSAGE``, ``APP_STATE_SYNC_KEY_REQUEST``) a
        phone reads from its own companions (:mod:`wamd.sandbox.phone_peer` answers them)."""

    def __repr__(self) -> str:
        return f"PhoneReader(phones={len(self._phones)}, learned={self.learned})"

    async def _account(self, jid: JID) -> Account | None:
        if jid.server == USER_SERVER:
            return await self.sandbox.state.account(jid.user)
        if jid.server == LID_SERVER:
            return await self.sandbox.state.account_by_lid(jid.user)
        return None

    def _phone(self, account: Account) -> _Phone:
        phone = self._phones.get(account.phone)
        if phone is None:
            store = MemorySignalStore()
            store.add_signed_prekey(
                SignedPreKey(
                    PHONE_SIGNED_PREKEY_ID,
                    KeyPair.from_private(account.signed_prekey_private),
                    account.signed_prekey_signature,
                )
            )
            cipher = SignalCipher(
                KeyPair.from_private(account.identity_private),
                account.registration_id,
                limits=PHONE_LIMITS,
            )
            phone = self._phones[account.phone] = _Phone(cipher, store)
        return phone

    async def encrypt(
        self,
        account: Account,
        address: str,
        plaintext: bytes,
        bundle: Callable[[], Awaitable[PreKeyBundle | None]],
    ) -> EncryptResult:
        """Encrypt ``plaintext`` (padded here) from ``account``'s phone for the device at
        ``address`` (``phone.device``), starting a session from ``bundle()`` when there is
        none. The phone reads and writes with the same sessions, so a companion's answers on
        a session the phone started are readable too. Raises :class:`WamdError` when no
        bundle is available."""
        async with self._lock:
            phone = self._phone(account)
            batch = phone.cipher.batch(phone.store)
            if not await batch.has_session(address):
                found = await bundle()
                if found is None:
                    raise WamdError(f"no prekey bundle for {address}")
                await batch.process_bundle(address, found)
            result = await batch.encrypt(address, plaintext)
            await batch.commit(phone.store)
            return result

    async def read(self, session: Session, node: Node) -> None:
        """Learn the media of a ``<message>`` from ``session`` (never raises for bad input)."""
        sender = session.device
        message_id = node.attrs.get("id")
        if sender is None or not isinstance(message_id, str) or not message_id:
            return
        participants = node.child("participants")
        entries = participants.children_by_tag("to") if participants else []
        if len(entries) > MAX_PARTICIPANTS:
            return  # the router refuses it too
        try:
            to = node.attr_jid("to")
        except WamdError:
            return
        group = str(to.to_non_ad()) if to.server == GROUP_SERVER else None
        # Peer messages (between one account's own devices) carry requests for the phone.
        peer = group is None and node.attrs.get("category") == "peer"
        # Cheap checks first: most messages are text, which the phone does not read.
        pairwise = [
            (entry, enc)
            for entry in entries
            if (enc := _readable(entry.child("enc"), media_only=group is None and not peer))
        ]
        group_encs = (
            [
                enc
                for enc in node.children_by_tag("enc")
                if enc.attrs.get("type") == ENC_SKMSG
                and enc.attrs.get("mediatype")
                and isinstance(enc.content, bytes)
            ]
            if group is not None
            else []
        )
        if not pairwise and not group_encs:
            return
        address = f"{sender.phone}.{sender.device}"
        requests: list[tuple[str, e2e_pb2.Message]] = []
        async with self._lock:
            for entry, enc in pairwise:
                read = await self._read_pairwise(entry, enc, address, message_id, group)
                if peer and read is not None and read[0] == sender.phone:
                    requests.append(read)
            for enc in group_encs:
                await self._read_group(enc, address, message_id, group or "")
        handler = self.on_peer_request
        for phone, message in requests:
            if handler is not None and message.protocol_message.type in _PEER_REQUESTS:
                await handler(phone, sender.device, message_id, message)

    async def _read_pairwise(
        self, entry: Node, enc: Node, sender: str, message_id: str, group: str | None
    ) -> tuple[str, e2e_pb2.Message] | None:
        """Decrypt one copy for a phone; returns ``(phone, message)`` when it was one."""
        try:
            jid = entry.attr_jid("jid")
        except WamdError:
            return None
        if jid.device != 0 or jid.server not in (USER_SERVER, LID_SERVER):
            return None
        account = await self._account(jid)
        if account is None:
            return None
        phone = self._phone(account)
        batch = phone.cipher.batch(phone.store)
        try:
            assert isinstance(enc.content, bytes)
            result = await batch.decrypt(sender, str(enc.attrs["type"]), enc.content)
            message = e2e_pb2.Message.FromString(result.plaintext)
            if group is not None and message.HasField("sender_key_distribution_message"):
                skdm = message.sender_key_distribution_message
                await batch.process_distribution(
                    group, sender, skdm.axolotl_sender_key_distribution_message
                )
            await batch.commit(phone.store)
        except (WamdError, ValueError, ProtobufDecodeError) as exc:
            log.debug("phone %s cannot read %s from %s: %s", account.phone, message_id, sender, exc)
            return None
        self._learn(account.phone, message_id, message)
        return account.phone, message

    async def _read_group(self, enc: Node, sender: str, message_id: str, group: str) -> None:
        assert isinstance(enc.content, bytes)
        for number, phone in list(self._phones.items()):
            if (group, sender) not in phone.store.sender_keys.data:
                continue
            batch = phone.cipher.batch(phone.store)
            try:
                plaintext = await batch.group_decrypt(group, sender, enc.content)
                message = e2e_pb2.Message.FromString(plaintext)
                await batch.commit(phone.store)
            except (WamdError, ValueError, ProtobufDecodeError) as exc:
                log.debug("phone %s cannot read %s in %s: %s", number, message_id, group, exc)
                continue
            self._learn(number, message_id, message)

    def _learn(self, phone: str, message_id: str, message: e2e_pb2.Message) -> None:
        found = content_field(message)  # looks through DeviceSentMessage and other wrappers
        if found is None or found[0] not in MEDIA_FIELDS:
            return
        part = found[1]
        if len(part.media_key) != 32 or not part.direct_path:
            return
        try:
            self.media.remember(phone, message_id, part.media_key, part.direct_path)
        except ValueError:  # not a path of this sandbox's media host
            return
        self.learned += 1


def _readable(enc: Node | None, *, media_only: bool) -> Node | None:
    """``enc`` when it is a pairwise ciphertext the phone reads (media only outside groups)."""
    if enc is None or not isinstance(enc.content, bytes):
        return None
    if enc.attrs.get("type") not in (ENC_PKMSG, ENC_MSG):
        return None
    if media_only and not enc.attrs.get("mediatype"):
        return None
    return enc


_readers: weakref.WeakKeyDictionary[Sandbox, PhoneReader] = weakref.WeakKeyDictionary()


def phone_reader_of(sandbox: Sandbox) -> PhoneReader:
    """The phone reader installed in ``sandbox`` (KeyError when not installed)."""
    return _readers[sandbox]


def install(sandbox: Sandbox) -> None:
    """Read each ``<message>`` for the phones, then hand it to the handler installed before."""
    reader = _readers[sandbox] = PhoneReader(sandbox, phone_media_of(sandbox))
    routed = sandbox.router.stanza_handler("message", None)

    async def on_message(session: Session, node: Node) -> None:
        try:
            await reader.read(session, node)
        except Exception:  # the phone's reading must never stop the routing
            log.exception("the phone could not read a message from %s", session)
        if routed is not None:
            await routed(session, node)

    sandbox.router.add_stanza("message", "*", on_message)
