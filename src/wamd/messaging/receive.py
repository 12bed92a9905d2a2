"""The receive path (DESIGN.md, load-bearing): decrypt, store durably, only then confirm.

For each incoming ``<message>``:

1. the reader parses the envelope and queues it on its chat's worker (stanzas of one chat in
   arrival order, chats concurrently); at most ``max_inflight`` stanzas wait or run at once,
   after that the reader stops reading (backpressure);
2. the worker takes what its chat has queued (up to ``batch_size``), skips redeliveries (the
   dedupe buffer), and under the locks of every sender device (all JID forms) decrypts purely.
   When to take it is :mod:`wamd.messaging.batching`'s call: at once, unless the chat is
   busy (its stanzas arrive less than ``receive_linger`` apart: then up to that long for more
   of them, a group commit that trades that much latency for a share of one batch's fixed
   cost) or the head is an offline backlog's (``offline_batch_delay``);
3. one store transaction: new sessions and identities, consumed prekeys, received sender
   keys, a dedupe row and an inbox entry per message;
4. only after the commit: the delivery receipt (the server's ack) per message;
5. the inbox entries go to the handlers (:mod:`wamd.messaging.inbox`).

A ciphertext that fails to decrypt gets a retry receipt (with our keys from the second
attempt), then an ack; after ``max_retries`` attempts an
:class:`~wamd.messaging.events.UndecryptableMessage` is emitted instead. Nothing of a failed
decryption is written.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass

from google.protobuf.message import DecodeError as ProtobufDecodeError

from wamd.binary import Node
from wamd.crypto import KeyPair
from wamd.errors import (
    AttributeInvalid,
    AttributeMissing,
    CryptoError,
    DecryptionError,
    DuplicateMessage,
    InvalidJID,
    MalformedNode,
    NotConnected,
    StoreError,
)
from wamd.messaging.batching import Batcher, ChatQueue
from wamd.messaging.context import Context
from wamd.messaging.events import (
    IdentityChanged,
    Message,
    UndecryptableMessage,
    encode_payload,
)
from wamd.messaging.inbox import MESSAGE_KIND, Inbox
from wamd.messaging.secrets import secret_records
from wamd.messaging.stanzas import (
    Envelope,
    RetryKeys,
    ack,
    delivery_receipt_payload,
    parse_envelope,
    retry_receipt,
)
from wamd.proto import e2e_pb2
from wamd.signal import (
    ENC_MSG,
    ENC_PKMSG,
    ENC_SKMSG,
    ChangeSet,
    IdentityChange,
    SignalBatch,
    generate_prekeys,
)
from wamd.slots import SlotPool
from wamd.store import MessageSecret, PreKey, SeenMessage, StoredKeyPair
from wamd.types import JID

__all__ = ["Receiver"]

log = logging.getLogger("wamd.messaging")

NACK_PARSING_ERROR = 487
NACK_UNRECOGNIZED = 488
NACK_INVALID_PROTOBUF = 491

_RETRY_MEMORY = 4096


@dataclass(slots=True)
class _Item:
    node: Node
    envelope: Envelope
    seen: SeenMessage | None = None
    """The dedupe record (chat, sender user, id), built once."""
    message: e2e_pb2.Message | None = None
    plain: bytes = b""
    """``message`` serialized (the decrypted bytes as they came, when not unwrapped)."""
    error: BaseException | None = None
    duplicate: bool = False
    repeat: bool = False
    """Another copy of a stanza earlier in the same batch (that copy's outcome answers)."""
    bad_protobuf: bool = False
    event: Message | None = None


class Receiver:
    """Processes incoming ``<message>`` stanzas (see the module docstring)."""

    def __init__(self, ctx: Context, inbox: Inbox) -> None:
        self._ctx = ctx
        self._inbox = inbox
        self._slots = SlotPool(ctx.options.max_inflight)
        opts = ctx.options
        self._batcher: Batcher[JID, _Item] = Batcher(
            opts.batch_size, opts.max_inflight, opts.receive_linger, opts.offline_batch_delay
        )
        self._retries: OrderedDict[str, int] = OrderedDict()
        self._retry_prekey: int | None = None
        self.active = False
        """Whether delivery receipts say we are active (else ``type="inactive"``)."""
        self.received = 0
        self.batches = 0

    def __repr__(self) -> str:
        return f"Receiver(chats={len(self._batcher.chats)})"

    # --- the reader side ---------------------------------------------------------------------

    async def on_message(self, node: Node) -> None:
        """Node handler for ``<message>`` (runs in the reader: only queues work)."""
        try:
            envelope = parse_envelope(node, self._ctx.own)
        except (MalformedNode, AttributeMissing, AttributeInvalid, InvalidJID) as exc:
            log.warning("unreadable message stanza: %s", exc)
            await self._send(ack(node, error=NACK_PARSING_ERROR, own=self._ctx.own_pn))
            return
        await self._slots.acquire()
        chat = self._batcher.arrive(envelope.chat, _Item(node, envelope))
        if chat.worker is None:
            chat.worker = asyncio.ensure_future(self._work(envelope.chat, chat))

    @property
    def queued(self) -> int:
        """Stanzas queued on the chat workers, not yet taken into a batch."""
        return sum(len(c.items) for c in self._batcher.chats.values())

    @property
    def lingered(self) -> int:
        """Batches that waited for more live stanzas of their chat (the linger)."""
        return self._batcher.lingered

    async def idle(self) -> None:
        """Wait until every queued stanza has been processed."""
        while workers := self._batcher.workers():
            await asyncio.gather(*workers, return_exceptions=True)

    async def close(self) -> None:
        """Cancel the chat workers (their stanzas stay unacknowledged: the server resends)."""
        workers = self._batcher.workers()
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._batcher.clear()

    async def _work(self, key: JID, chat: ChatQueue[_Item]) -> None:
        batcher = self._batcher
        try:
            while chat.items:
                items = await batcher.cut(chat, offline=chat.items[0].envelope.offline)
                try:
                    await self._process(items)
                except (NotConnected, asyncio.CancelledError):
                    raise
                except Exception:
                    log.exception(
                        "processing %d message(s) of %s failed; the server will deliver them again",
                        len(items),
                        key,
                    )
                finally:
                    for _ in items:
                        self._slots.release()
        finally:
            for _ in batcher.retire(key, chat):
                self._slots.release()

    # --- one batch ---------------------------------------------------------------------------

    async def _process(self, items: list[_Item]) -> None:
        ctx = self._ctx
        self.batches += 1
        fresh = await self._skip_seen(items)
        senders = [i.envelope.sender for i in fresh]
        pairs = [
            (env.sender_alt, env.sender) if env.sender.is_pn else (env.sender, env.sender_alt)
            for env in (i.envelope for i in fresh)
            if env.sender_alt is not None
        ]
        if pairs:
            await ctx.book.remember(pairs)
        changes: list[IdentityChange] = []
        if fresh:
            async with ctx.book.lock(senders):
                canon = {s: await ctx.book.canonical(s) for s in dict.fromkeys(senders)}
                batch = ctx.cipher.batch(ctx.account)
                await batch.prefetch(addresses=[c.signal_address for c in canon.values()])
                for item in fresh:
                    await self._decrypt(batch, item, canon[item.envelope.sender])
                changes = await self._commit(batch, fresh)
        if changes:
            await self._forget_holders(changes)
        for item in items:
            await self._confirm(item)
        for change in changes:
            await ctx.link.dispatch(
                IdentityChanged(change.address, JID.from_signal_address(change.address))
            )
        for item in items:
            if item.event is not None:
                await self._inbox.dispatch(item.event)

    async def _forget_holders(self, changes: list[IdentityChange]) -> None:
        """A device with a new identity lost our group sender keys with its old sessions:
        forget that it holds them (in every addressing form), so that the next message to
        each of its groups carries our key again instead of waiting for its retry receipt."""
        book = self._ctx.book
        addresses: list[str] = []
        for change in changes:
            addresses += await book.addresses(JID.from_signal_address(change.address))
        await self._ctx.account.sender_key_distribution.forget_devices(addresses)

    async def _skip_seen(self, items: list[_Item]) -> list[_Item]:
        fresh: list[_Item] = []
        keys: set[SeenMessage] = set()
        seen = self._ctx.account.seen
        for item in items:
            env = item.envelope
            key = item.seen = SeenMessage(str(env.chat), str(env.sender.to_non_ad()), env.id)
            # Only offline deliveries can repeat what an earlier connection committed; a live
            # repeat would still be caught: its ratchet keys are used up (DuplicateMessage)
            # and the dedupe row is written in the commit.
            if key in keys:
                item.repeat = True
                continue
            if env.offline and await seen.contains(key):
                item.duplicate = True
                continue
            keys.add(key)
            fresh.append(item)
        return fresh

    async def _decrypt(self, batch: SignalBatch, item: _Item, sender: JID) -> None:
        env = item.envelope
        address = sender.signal_address
        plaintext: bytes | None = None
        try:
            direct = [e for e in env.encs if e.type in (ENC_PKMSG, ENC_MSG)]
            group = [e for e in env.encs if e.type == ENC_SKMSG]
            if not direct and not group:
                raise MalformedNode("no ciphertext this client can decrypt")
            for enc in direct:
                if enc.version != 2:
                    raise MalformedNode(f"unsupported enc version {enc.version}")
                result = await batch.decrypt(address, enc.type, enc.data)
                plaintext = result.plaintext
                if group:  # a group message's pairwise part carries the sender key it needs
                    await self._distribution_first(batch, plaintext, address, env)
            for enc in group:
                result = await batch.decrypt(address, ENC_SKMSG, enc.data, group=str(env.chat))
                plaintext = result.plaintext
        except DuplicateMessage as exc:
            item.duplicate = True
            item.error = exc
            return
        except (DecryptionError, CryptoError, MalformedNode, ValueError) as exc:
            item.error = exc
            return
        assert plaintext is not None
        message = e2e_pb2.Message()
        try:
            message.ParseFromString(plaintext)
        except ProtobufDecodeError:
            item.bad_protobuf = True
            return
        if message.HasField("device_sent_message"):
            if not env.from_me:
                # Only our own devices copy what they sent to us; from anyone else it is a
                # forgery (of a message "we" sent): refused like a bad payload.
                log.warning("device-sent message from another account (%s) refused", env.sender)
                item.bad_protobuf = True
                return
            message = message.device_sent_message.message
            plaintext = message.SerializeToString()
        item.message = message
        item.plain = plaintext

    async def _commit(self, batch: SignalBatch, items: list[_Item]) -> list[IdentityChange]:
        ctx = self._ctx
        for item in items:
            message = item.message
            if message is not None and (
                message.HasField("sender_key_distribution_message")
                or message.HasField("fast_ratchet_key_sender_key_distribution_message")
            ):
                await self._process_skdm(batch, item)
        own = ctx.own
        recorded = [
            i for i in items if (i.message is not None or i.bad_protobuf) and i.seen is not None
        ]
        # the done marks of entries whose handlers finished ride on this transaction (they
        # need none of their own while messages flow)
        done = self._inbox.take_done()
        try:
            with batch.committing():  # the cipher remembers the ratchet state once committed
                changes = await self._write(ctx, batch, recorded, own, done)
        except BaseException:
            self._inbox.done_failed(done)
            raise
        self._inbox.done_written(done)
        self.received += sum(1 for i in items if i.event is not None)
        return list(changes.identity_changes)

    async def _write(
        self,
        ctx: Context,
        batch: SignalBatch,
        recorded: list[_Item],
        own: list[JID],
        done: list[int],
    ) -> ChangeSet:
        """The receive transaction of a batch (see :meth:`_commit`)."""
        async with ctx.account.transaction() as tx:
            changes = await batch.commit(tx)
            if done:
                await tx.inbox.mark_done(done)
            # one statement for the dedupe rows, one for the inbox entries, one for the
            # secrets: the store round trips of a batch do not grow with its size
            added = (
                await tx.seen.add_many(
                    [(i.seen, i.envelope.timestamp or None) for i in recorded if i.seen is not None]
                )
                if recorded
                else []
            )
            kept: list[tuple[_Item, e2e_pb2.Message, int]] = []
            entries: list[tuple[str, bytes, int | None]] = []
            secrets: list[MessageSecret] = []
            for item, new in zip(recorded, added, strict=True):
                message = item.message
                if not new or message is None:
                    item.duplicate = not new
                    continue
                env = item.envelope
                retry_count = max((e.retry_count for e in env.encs), default=0)
                payload = encode_payload(
                    env.id,
                    env.chat,
                    env.sender,
                    env.from_me,
                    env.timestamp,
                    item.plain,
                    env.sender_alt,
                    env.push_name,
                    env.is_group,
                    env.type,
                    env.edit,
                    env.category,
                    retry_count,
                )
                entries.append((MESSAGE_KIND, payload, env.timestamp or None))
                kept.append((item, message, retry_count))
                # the secret of a poll (or any message that carries one) commits with the
                # message: a vote arriving right after it always finds it
                secrets += secret_records(
                    message,
                    chat=env.chat,
                    message_id=env.id,
                    senders=[*own, env.sender] if env.from_me else [env.sender, env.sender_alt],
                )
            seqs = await tx.inbox.put_many(entries) if entries else []
            if secrets:
                await tx.message_secrets.put_many(secrets)
        for (item, message, retry_count), seq in zip(kept, seqs, strict=True):
            item.event = self._event(item, message, retry_count, seq)
        return changes

    async def _distribution_first(
        self, batch: SignalBatch, plaintext: bytes, address: str, env: Envelope
    ) -> None:
        """Store the sender key distributed in ``plaintext`` before the ``skmsg`` of the same
        stanza is decrypted with it."""
        message = e2e_pb2.Message()
        try:
            message.ParseFromString(plaintext)
        except ProtobufDecodeError:
            return
        await self._store_distributions(batch, message, address, env)

    async def _process_skdm(self, batch: SignalBatch, item: _Item) -> None:
        assert item.message is not None
        sender = await self._ctx.book.to_lid(item.envelope.sender)
        await self._store_distributions(batch, item.message, sender.signal_address, item.envelope)

    @staticmethod
    async def _store_distributions(
        batch: SignalBatch, message: e2e_pb2.Message, address: str, env: Envelope
    ) -> None:
        """Store the sender keys ``message`` distributes, for the group it came in only.

        The server vouches for the chat a stanza comes from, not for the group id a peer
        writes into the payload: a distribution in a 1:1 chat, or naming another group, is
        ignored (else any contact could plant sender keys for groups we are not in, or grow
        the store with keys for made-up ones).
        """
        for skdm in (
            message.sender_key_distribution_message,
            message.fast_ratchet_key_sender_key_distribution_message,
        ):
            if not skdm.group_id or not skdm.axolotl_sender_key_distribution_message:
                continue
            if not env.is_group or skdm.group_id != str(env.chat):
                log.warning(
                    "sender key distribution for %r from %s in chat %s ignored",
                    skdm.group_id[:64],
                    address,
                    env.chat,
                )
                continue
            try:
                await batch.process_distribution(
                    skdm.group_id, address, skdm.axolotl_sender_key_distribution_message
                )
            except (DecryptionError, CryptoError, ValueError) as exc:
                log.warning("bad sender key distribution from %s: %s", address, exc)

    @staticmethod
    def _event(item: _Item, message: e2e_pb2.Message, retry_count: int, seq: int) -> Message:
        env = item.envelope
        return Message(
            id=env.id,
            chat=env.chat,
            sender=env.sender,
            from_me=env.from_me,
            timestamp=env.time,
            message=message,
            sender_alt=env.sender_alt,
            push_name=env.push_name,
            is_group=env.is_group,
            type=env.type,
            edit=env.edit,
            category=env.category,
            retry_count=retry_count,
            seq=seq,
            raw=item.node,
        )

    # --- confirming --------------------------------------------------------------------------

    async def _send(self, node: Node) -> None:
        try:
            await self._ctx.link.send_node(node)
        except NotConnected:
            log.debug("not connected: %s not sent (the server will deliver again)", node.tag)

    async def _confirm(self, item: _Item) -> None:
        env = item.envelope
        own = self._ctx.own_pn
        if item.repeat:
            # Not decrypted: whether the message arrived is what the first copy's receipt
            # (or retry receipt) says. This copy is only acknowledged.
            await self._send(ack(item.node, own=own))
            return
        if item.duplicate or item.message is not None:
            self._retries.pop(env.id, None)
            payload = delivery_receipt_payload(item.node, env, active=self.active)
            try:
                await self._ctx.link.send_payload(payload)
            except NotConnected:
                log.debug(
                    "not connected: receipt %s not sent (the server will deliver again)", env.id
                )
            return
        if item.bad_protobuf:
            await self._send(ack(item.node, error=NACK_INVALID_PROTOBUF, own=own))
            return
        if isinstance(item.error, MalformedNode) and not env.encs:
            await self._send(ack(item.node, error=NACK_UNRECOGNIZED, own=own))
            return
        await self._retry(item)

    async def _retry(self, item: _Item) -> None:
        env = item.envelope
        ctx = self._ctx
        count = self._retries.get(env.id, 0) + 1
        in_message = max((e.retry_count for e in env.encs), default=0)
        if count == 1 and in_message > 0:
            count = in_message + 1
        self._retries[env.id] = count
        self._retries.move_to_end(env.id)
        while len(self._retries) > _RETRY_MEMORY:
            self._retries.popitem(last=False)
        reason = f"{type(item.error).__name__}: {item.error}"
        if count > ctx.options.max_retries:
            log.warning(
                "giving up on %s from %s after %d retries: %s",
                env.id,
                env.sender,
                count - 1,
                reason,
            )
            self._retries.pop(env.id, None)
            await self._send(ack(item.node, own=ctx.own_pn))
            await ctx.link.dispatch(
                UndecryptableMessage(
                    id=env.id,
                    chat=env.chat,
                    sender=env.sender,
                    from_me=env.from_me,
                    timestamp=env.time,
                    reason=reason,
                    retry_count=count - 1,
                    is_group=env.is_group,
                    raw=item.node,
                )
            )
            return
        log.info(
            "cannot decrypt %s from %s (%s): retry receipt #%d", env.id, env.sender, reason, count
        )
        keys = None
        if count > 1:
            try:
                keys = await self._retry_keys()
            except StoreError as exc:
                log.warning("no keys for the retry receipt: %s", exc)
        creds = ctx.credentials()
        await self._send(
            retry_receipt(
                item.node, env, count=count, registration_id=creds.registration_id, keys=keys
            )
        )
        await self._send(ack(item.node, own=ctx.own_pn))

    async def _retry_keys(self) -> RetryKeys:
        """Our identity, a one-time prekey, the signed prekey and our device identity.

        The prekey is a fresh one (stored first) unless the one made for an earlier retry
        receipt is still unused: then that one goes again, so that a flood of undecryptable
        messages cannot grow the prekey store by one key each. (Two senders answering at
        once race for it; the loser's message fails and gets a retry with a new key.)
        """
        ctx = self._ctx
        creds = ctx.credentials()
        prekeys = ctx.account.prekeys
        unused = await prekeys.get(self._retry_prekey) if self._retry_prekey is not None else None
        if unused is not None:
            prekey_id, public = unused.key_id, unused.key_pair.public
        else:
            (key_id,) = await prekeys.reserve_ids(1)
            (prekey,) = generate_prekeys(key_id, 1)
            await prekeys.put_many([_stored(prekey.key_id, prekey.key_pair)])
            prekey_id, public = prekey.key_id, prekey.key_pair.public
            self._retry_prekey = prekey_id
        signed = creds.signed_prekey
        if creds.account is None:
            raise StoreError("no device identity stored")
        return RetryKeys(
            identity=creds.identity_key.public,
            prekey_id=prekey_id,
            prekey=public,
            signed_prekey_id=signed.key_id,
            signed_prekey=signed.key_pair.public,
            signed_prekey_signature=signed.signature,
            device_identity=creds.account,
        )


def _stored(key_id: int, pair: KeyPair) -> PreKey:
    return PreKey(key_id, StoredKeyPair(public=pair.public, private=pair.private))
