"""Sending to a group: one sender-key ciphertext for everyone, the key itself pairwise.

1. the group's members (cached :class:`~wamd.groups.types.GroupInfo`, else asked) and their
   devices (usync, cached by :mod:`wamd.messaging.devices`), minus this device;
2. under the group's lock, encrypt the message once with this device's sender key for the
   group (created on first use; the key name is the group and our address in the group's
   addressing form, LID or phone number): ``<enc type="skmsg">``;
3. the devices that do not hold our current sender key yet (the store's
   ``sender_key_distribution`` concern) get a ``SenderKeyDistributionMessage`` pairwise
   (``pkmsg``/``msg`` in ``<participants><to jid>``), through the same fan-out as 1:1 messages
   (:func:`wamd.messaging.send.encrypt_for_devices`); the stanza
   ``<message id to=gid type addressing_mode phash><participants/><enc skmsg/>
   [<device-identity/>]`` goes out while the locks are held;
4. after the server's ack, those devices are recorded as holding the key, so each gets it once
   -- under the group's lock again and only if that key is still our current one (its
   generation, :func:`key_generation`, is unchanged): a rotation that landed between the
   encryption and the ack (a removal notice, :meth:`~wamd.groups.client.Groups.remove`,
   another send that started the next key) must not record devices that only got the old
   key as holders of the new one.

When a member leaves or is removed, :class:`~wamd.groups.client.Groups` drops our sender key
of the group and the record of who holds it: the next message starts a new key and sends it
to every remaining device (the removed member's devices never get it).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

from wamd.binary import AttrValue, Node
from wamd.errors import IQError, SendError
from wamd.groups.types import GroupInfo
from wamd.messaging.builders import stanza_extras
from wamd.messaging.context import Context
from wamd.messaging.ids import generate_message_id
from wamd.messaging.send import SendResult, encrypt_for_devices
from wamd.messaging.stanzas import media_type, message_type, participant_hash
from wamd.proto import e2e_pb2
from wamd.signal import ENC_SKMSG
from wamd.signal.group import SenderKeyRecord
from wamd.signal.wire import parse_sender_key_distribution
from wamd.types import JID

__all__ = [
    "GroupLocks",
    "distribution_plaintext",
    "group_devices",
    "key_generation",
    "record_holders",
    "send_group_message",
]

log = logging.getLogger("wamd.groups")


class GroupLocks:
    """One lock per group: sender-key encryption and its distribution record are serialized
    per group (two concurrent sends must never use the same chain step)."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[JID, asyncio.Lock] = weakref.WeakValueDictionary()

    def get(self, group: JID) -> asyncio.Lock:
        """The lock of ``group``."""
        lock = self._locks.get(group)
        if lock is None:
            lock = self._locks[group] = asyncio.Lock()
        return lock


def distribution_plaintext(group: JID, distribution: bytes) -> bytes:
    """The pairwise message carrying our sender key for ``group``."""
    message = e2e_pb2.Message()
    message.sender_key_distribution_message.group_id = str(group)
    message.sender_key_distribution_message.axolotl_sender_key_distribution_message = distribution
    return message.SerializeToString()


def key_generation(record: bytes | None) -> bytes | None:
    """The generation of our stored sender key ``record`` (``None``: no key): its signing
    public key, 32 random bytes new with every key, so every rotation changes it."""
    if record is None:
        return None
    latest = SenderKeyRecord.deserialize(record).latest
    return None if latest is None or latest.signing_key is None else latest.signing_public


async def record_holders(
    ctx: Context,
    group: JID,
    sender: JID,
    generation: bytes,
    devices: Iterable[JID],
    lock: asyncio.Lock,
) -> bool:
    """Record ``devices`` as holding our sender key of ``group`` if it is still the key of
    ``generation`` (what they received); ``False`` when it was rotated meanwhile (they are
    not recorded: the next message sends them the current key). Takes ``lock``; reads the
    key and writes the record in one transaction (a removal notice's transaction deletes
    the key and marks the record in one step too)."""
    async with lock, ctx.account.transaction() as tx:
        stored = await tx.sender_keys.get(str(group), sender.signal_address)
        if key_generation(stored) != generation:
            return False
        await tx.sender_key_distribution.mark_sent(str(group), [d.signal_address for d in devices])
        return True


def own_sender(ctx: Context, info: GroupInfo) -> JID:
    """Our device JID in the group's addressing form (the sender-key name's address)."""
    lid = ctx.own_lid
    return lid if info.is_lid_addressed and lid is not None else ctx.own_pn


async def group_devices(ctx: Context, info: GroupInfo) -> list[JID]:
    """Every device of every member, in the group's addressing form, minus this device."""
    await ctx.book.remember(
        (p.lid, p.phone_number)
        for p in info.participants
        if p.lid is not None and p.phone_number is not None
    )
    users = list(dict.fromkeys(p.jid.to_non_ad() for p in info.participants))
    lists = await ctx.devices.get(users)
    own = set(ctx.own)
    return [d for u in users for d in lists[u].devices if d not in own]


async def send_group_message(
    ctx: Context,
    info: GroupInfo,
    message: e2e_pb2.Message,
    lock: asyncio.Lock,
    *,
    message_id: str | None = None,
    prepare: Callable[[], Awaitable[None]] | None = None,
) -> SendResult:
    """Send ``message`` to the group ``info`` describes (see the module docstring).

    ``prepare`` runs under ``lock`` before the encryption (the caller drops a stale sender key
    there).

    Raises :class:`~wamd.errors.SendError` (the server refused it: 403 when this account is
    not a member or the group is in announce mode and it is not an admin, 404 no such group),
    :class:`~wamd.errors.IQTimeout`, :class:`~wamd.errors.NotConnected`.
    """
    group = info.jid
    msg_id = message_id or generate_message_id(ctx.own_pn.user)
    devices = await group_devices(ctx, info)
    sender = own_sender(ctx, info)
    plaintext = message.SerializeToString()
    extras = stanza_extras(message)
    attrs: dict[str, AttrValue] = {
        "id": msg_id,
        "to": group,
        "type": message_type(message),
        "addressing_mode": str(info.addressing_mode),
        "phash": participant_hash(devices),
    }
    attrs.update(extras.attrs)
    enc_attrs: dict[str, AttrValue] = {"v": "2", "type": ENC_SKMSG}
    enc_attrs.update(extras.enc_attrs)
    kind = media_type(message)
    if kind:
        enc_attrs["mediatype"] = kind
    async with lock:
        if prepare is not None:
            await prepare()
        batch = ctx.cipher.batch(ctx.account)
        encrypted = await batch.group_encrypt(str(group), sender.signal_address, plaintext)
        generation = parse_sender_key_distribution(encrypted.distribution).signing_key
        async with ctx.account.transaction() as tx:
            await batch.commit(tx)
            await tx.outgoing.put(str(group), msg_id, plaintext)
        holders = await ctx.account.sender_key_distribution.sent_to(str(group))
        missing = [d for d in devices if d.signal_address not in holders]
        stanza = Node(
            "message", attrs, [*extras.nodes, Node("enc", enc_attrs, encrypted.ciphertext)]
        )
        answer = None
        recipients: tuple[JID, ...] = ()
        if missing:
            result = await encrypt_for_devices(
                ctx,
                missing,
                distribution_plaintext(group, encrypted.distribution),
                None,
                stanza=stanza,
            )
            answer, recipients = result.answer, result.recipients
            if len(recipients) < len(missing):
                log.warning(
                    "%s: no session with %d device(s): they cannot read %s",
                    group,
                    len(missing) - len(recipients),
                    msg_id,
                )
        if answer is None:
            answer = await ctx.link.send_expecting(stanza)
    ack = await ctx.wait_answer(answer, msg_id, ctx.options.send_timeout)
    error = ack.attrs.get("error")
    if error is not None:
        code = int(error) if isinstance(error, str) and error.isdigit() else 0
        raise SendError(
            f"the server refused message {msg_id} to {group}: error {error}"
        ) from IQError(code, "message refused", ack)
    if recipients and not await record_holders(ctx, group, sender, generation, recipients, lock):
        log.info(
            "%s: our sender key was rotated while %s was in flight: its %d recipient(s) "
            "get the new one with the next message",
            group,
            msg_id,
            len(recipients),
        )
    return _result(ctx, group, msg_id, devices, ack)


def _result(ctx: Context, group: JID, msg_id: str, devices: Iterable[JID], ack: Node) -> SendResult:
    devices = tuple(devices)
    sent_hash = participant_hash(devices)
    server_hash = ack.attr_str("phash", "")
    mismatch = None
    if server_hash and server_hash != sent_hash:
        log.warning(
            "server device list hash for %s differs (%s != %s): refreshing devices",
            group,
            server_hash,
            sent_hash,
        )
        for user in {d.to_non_ad() for d in devices}:
            ctx.devices.forget(user)
        mismatch = server_hash
    timestamp = ack.attr_int("t", 0)
    when = datetime.fromtimestamp(timestamp, UTC) if timestamp else datetime.now(UTC)
    return SendResult(msg_id, when, devices, sent_hash, mismatch)
