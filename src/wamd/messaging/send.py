"""Sending a message to a user: fan-out to every device of the recipient and of ourselves.

1. resolve the devices of the recipient and of our own account (usync, cached);
2. for devices without a session, fetch their prekey bundles in one request;
3. under the locks of every device, encrypt: the message for the recipient's devices, a
   ``DeviceSentMessage`` (the message plus its destination) for our other devices;
4. one store transaction: the new session states and the plaintext in the outgoing buffer
   (to answer retry receipts);
5. send ``<message id to type><participants><to jid><enc v=2 type>..</participants>
   [<device-identity>]`` (the identity only when some device gets a ``pkmsg``) and await
   the server's ``<ack>``, which gives the timestamp.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from wamd.binary import AttrValue, Node
from wamd.errors import IQError, SendError
from wamd.messaging.builders import stanza_extras
from wamd.messaging.context import Context
from wamd.messaging.ids import generate_message_id
from wamd.messaging.sessions import apply_bundles, fetch_bundles
from wamd.messaging.stanzas import media_type, message_type, participant_hash
from wamd.proto import e2e_pb2
from wamd.signal import ENC_PKMSG
from wamd.types import JID

__all__ = ["Encrypted", "SendResult", "device_sent", "encrypt_for_devices", "send_message"]

log = logging.getLogger("wamd.messaging")


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of :func:`send_message`.

    Attributes:
        id: the message id.
        timestamp: the server's time for the message (from its ack).
        recipients: the devices the message was encrypted for.
        phash: the hash of that device list the server was told.
        server_phash: the server's own hash when it differs (some device was missed; the
            device list cache of the chat was dropped).
    """

    id: str
    timestamp: datetime
    recipients: tuple[JID, ...]
    phash: str
    server_phash: str | None = None


def device_sent(to: JID, message: e2e_pb2.Message) -> e2e_pb2.Message:
    """The ``DeviceSentMessage`` wrapper our own other devices receive."""
    wrapper = e2e_pb2.Message()
    wrapper.device_sent_message.destination_jid = str(to)
    wrapper.device_sent_message.message.CopyFrom(message)
    if message.HasField("message_context_info"):
        wrapper.message_context_info.CopyFrom(message.message_context_info)
    return wrapper


@dataclass(frozen=True, slots=True)
class Encrypted:
    """What :func:`encrypt_for_devices` produced (and, with a stanza, the ack's future)."""

    nodes: list[Node]
    recipients: tuple[JID, ...]
    prekey: bool
    answer: asyncio.Future[Node] | None = None


async def encrypt_for_devices(
    ctx: Context,
    devices: list[JID],
    plaintext: bytes,
    own_plaintext: bytes | None,
    *,
    enc_attrs: dict[str, AttrValue] | None = None,
    bundles_reason: str | None = None,
    outgoing: tuple[str, str, bytes] | None = None,
    stanza: Node | None = None,
) -> Encrypted:
    """Encrypt for ``devices`` (wire JIDs) and commit the sessions (plus, when given, the
    ``(chat, id, plaintext)`` outgoing-buffer entry) in one transaction.

    ``own_plaintext`` is used for devices of our own account. When ``stanza`` is given it is
    completed with the ``<participants>`` (and ``<device-identity>`` when a ``pkmsg`` is
    among them) and sent while the locks are still held, so that concurrent sends reach the
    server in encryption order; the result then carries the future of its ack.
    """
    own = ctx.own
    own_users = {(j.user, j.server) for j in own}
    targets = [d for d in dict.fromkeys(devices) if d not in own]
    canon = {d: await ctx.book.to_lid(d) for d in targets}
    probe = ctx.cipher.batch(ctx.account)
    await probe.prefetch(addresses=[c.signal_address for c in canon.values()])
    missing = [canon[d] for d in targets if not await probe.has_session(canon[d].signal_address)]
    bundles = await fetch_bundles(ctx, missing, reason=bundles_reason) if missing else {}
    nodes: list[Node] = []
    recipients: list[JID] = []
    prekey = False
    async with ctx.book.lock(targets):
        for device in targets:
            canon[device] = await ctx.book.canonical(device)
        batch = ctx.cipher.batch(ctx.account)
        await batch.prefetch(addresses=[c.signal_address for c in canon.values()])
        fresh = {j: b for j, b in bundles.items() if not await batch.has_session(j.signal_address)}
        await apply_bundles(batch, fresh)
        for device in targets:
            address = canon[device].signal_address
            if not await batch.has_session(address):
                log.warning("no session with %s: not sending to it", device)
                continue
            is_own = (device.user, device.server) in own_users
            data = own_plaintext if (is_own and own_plaintext is not None) else plaintext
            result = await batch.encrypt(address, data)
            attrs: dict[str, AttrValue] = {"v": "2", "type": result.enc_type}
            attrs.update(enc_attrs or {})
            nodes.append(Node("to", {"jid": device}, [Node("enc", attrs, result.ciphertext)]))
            recipients.append(device)
            prekey = prekey or result.enc_type == ENC_PKMSG
        with batch.committing():
            async with ctx.account.transaction() as tx:
                await batch.commit(tx)
                if outgoing is not None:
                    await tx.outgoing.put(*outgoing)
        answer = None
        if stanza is not None and recipients:
            content = stanza.content if isinstance(stanza.content, list) else []
            content.insert(0, Node("participants", {}, nodes))
            if prekey:
                content.append(device_identity_node(ctx))
            stanza.content = content
            answer = await ctx.link.send_expecting(stanza)
    return Encrypted(nodes, tuple(recipients), prekey, answer)


def device_identity_node(ctx: Context) -> Node:
    """``<device-identity>``: our signed ADV identity (sent with ``pkmsg`` ciphertexts)."""
    account = ctx.credentials().account
    if account is None:
        raise SendError("this device has no signed device identity (not paired)")
    return Node("device-identity", {}, account)


async def send_message(
    ctx: Context, to: JID, message: e2e_pb2.Message, *, message_id: str | None = None
) -> SendResult:
    """Send ``message`` to the user ``to`` (phone-number or LID JID); see the module doc.

    Raises :class:`~wamd.errors.SendError` (no device could be encrypted for, or the server
    refused the message), :class:`~wamd.errors.IQTimeout` when no ack came,
    :class:`~wamd.errors.NotConnected`.
    """
    if not to.is_user:
        raise SendError(f"{to} is not a user: use the group API for groups")
    if to.is_ad:
        raise SendError(f"{to} names a device: send to the user {to.to_non_ad()}")
    own_pn = ctx.own_pn
    own_lid = ctx.own_lid
    own_user = own_lid.to_non_ad() if (to.is_lid and own_lid is not None) else own_pn.to_non_ad()
    msg_id = message_id or generate_message_id(own_pn.user)
    lists = await ctx.devices.get([to, own_user])
    devices = list(lists[to].devices) + list(lists[own_user].devices)
    plaintext = message.SerializeToString()
    own_plaintext = device_sent(to, message).SerializeToString()
    extras = stanza_extras(message)
    attrs: dict[str, AttrValue] = {"id": msg_id, "to": to, "type": message_type(message)}
    attrs.update(extras.attrs)
    enc_attrs: dict[str, AttrValue] = dict(extras.enc_attrs)
    kind = media_type(message)
    if kind:
        enc_attrs["mediatype"] = kind
    stanza = Node("message", attrs, list(extras.nodes))
    encrypted = await encrypt_for_devices(
        ctx,
        devices,
        plaintext,
        own_plaintext,
        enc_attrs=enc_attrs,
        outgoing=(str(to), msg_id, plaintext),
        stanza=stanza,
    )
    if encrypted.answer is None:
        raise SendError(f"could not encrypt {msg_id} for any device of {to}")
    answer = await ctx.wait_answer(encrypted.answer, msg_id, ctx.options.send_timeout)
    return _result(ctx, to, msg_id, encrypted.recipients, answer)


def _result(
    ctx: Context, to: JID, msg_id: str, recipients: tuple[JID, ...], answer: Node
) -> SendResult:
    error = answer.attrs.get("error")
    if error is not None:
        code = int(error) if isinstance(error, str) and error.isdigit() else 0
        raise SendError(f"the server refused message {msg_id}: error {error}") from IQError(
            code, "message refused", answer
        )
    timestamp = answer.attr_int("t", 0)
    sent_hash = participant_hash(recipients)
    server_hash = answer.attr_str("phash", "")
    mismatch = None
    if server_hash and server_hash != sent_hash:
        log.warning(
            "server device list hash for %s differs (%s != %s): refreshing devices",
            to,
            server_hash,
            sent_hash,
        )
        ctx.devices.forget(to)
        mismatch = server_hash
    when = datetime.fromtimestamp(timestamp, UTC) if timestamp else datetime.now(UTC)
    return SendResult(msg_id, when, recipients, sent_hash, mismatch)
