"""Answering retry receipts: a device could not decrypt a message we sent; send it again.

The plaintext comes from the outgoing buffer (looked up under the chat's phone-number and LID
forms). When the receipt carries keys (``<keys>``: identity, one-time prekey, signed prekey,
device identity) a new session is built from them; without keys, a missing session (or a
second attempt) fetches a fresh bundle. The message goes to that one device only:
``<message id to=device type [recipient] device_fanout="false"><enc v=2 type count=N>``,
with ``<device-identity>`` for a ``pkmsg``. Our own devices get the ``DeviceSentMessage``
form. Each (device, message) is answered at most ``max_retries`` times.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from wamd.binary import AttrValue, Node
from wamd.errors import CryptoError, UntrustedIdentity
from wamd.messaging.builders import stanza_extras
from wamd.messaging.context import Context
from wamd.messaging.send import device_identity_node, device_sent
from wamd.messaging.sessions import fetch_bundles
from wamd.messaging.stanzas import (
    IncomingReceipt,
    RetryRequest,
    media_type,
    message_type,
)
from wamd.proto import e2e_pb2
from wamd.signal import ENC_PKMSG
from wamd.store import OutgoingMessage
from wamd.types import JID

__all__ = ["RetryResponder"]

log = logging.getLogger("wamd.messaging")

_MEMORY = 4096


class RetryResponder:
    """Answers retry receipts for messages we sent (see the module docstring)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._answered: OrderedDict[tuple[JID, str], int] = OrderedDict()
        self.resent = 0

    def __repr__(self) -> str:
        return f"RetryResponder(resent={self.resent})"

    async def _find(self, chat: JID, message_id: str) -> OutgoingMessage | None:
        outgoing = self._ctx.account.outgoing
        found = await outgoing.get(str(chat), message_id)
        if found is not None:
            return found
        for form in await self._ctx.book.forms(chat):
            if form != chat:
                found = await outgoing.get(str(form), message_id)
                if found is not None:
                    return found
        return None

    async def handle(self, node: Node, receipt: IncomingReceipt, request: RetryRequest) -> bool:
        """Send the message again to the device that asked; whether it was sent."""
        ctx = self._ctx
        device = receipt.sender
        key = (device, request.message_id)
        count = self._answered.get(key, 0) + 1
        if count > ctx.options.max_retries:
            log.warning("not answering retry #%d of %s for %s", count, device, request.message_id)
            return False
        self._answered[key] = count
        self._answered.move_to_end(key)
        while len(self._answered) > _MEMORY:
            self._answered.popitem(last=False)
        found = await self._find(receipt.chat, request.message_id)
        if found is None:
            log.warning("retry receipt from %s for unknown message %s", device, request.message_id)
            return False
        message = e2e_pb2.Message()
        message.ParseFromString(found.plaintext)
        plaintext = found.plaintext
        if receipt.from_me:
            plaintext = device_sent(receipt.chat, message).SerializeToString()
        stanza = await self._encrypt(device, plaintext, request)
        if stanza is None:
            return False
        attrs: dict[str, AttrValue] = {
            "id": request.message_id,
            "to": node.attrs.get("from", device),
            "type": message_type(message),
            "device_fanout": "false",
        }
        if request.timestamp:
            attrs["t"] = str(request.timestamp)
        for name in ("participant", "recipient"):
            value = node.attrs.get(name)
            if value is not None:
                attrs[name] = value
        enc = stanza[0]
        extras = stanza_extras(message)
        attrs.update(extras.attrs)
        enc.attrs.update(extras.enc_attrs)
        kind = media_type(message)
        if kind:
            enc.attrs["mediatype"] = kind
        content = [enc]
        if stanza[1]:
            content.append(device_identity_node(ctx))
        content += extras.nodes
        await ctx.link.send_node(Node("message", attrs, content))
        self.resent += 1
        log.info("sent %s again to %s (retry #%d)", request.message_id, device, request.count)
        return True

    async def _encrypt(
        self, device: JID, plaintext: bytes, request: RetryRequest
    ) -> tuple[Node, bool] | None:
        ctx = self._ctx
        target = await ctx.book.to_lid(device)
        bundle = request.bundle
        probe = ctx.cipher.batch(ctx.account)
        if bundle is None and (
            request.count >= 2 or not await probe.has_session(target.signal_address)
        ):
            bundle = (await fetch_bundles(ctx, [target], reason="identity")).get(target)
        async with ctx.book.lock([device]):
            target = await ctx.book.canonical(device)
            batch = ctx.cipher.batch(ctx.account)
            address = target.signal_address
            if bundle is not None:
                try:
                    await batch.process_bundle(address, bundle)
                except (CryptoError, UntrustedIdentity) as exc:
                    log.warning("bad keys in the retry receipt of %s: %s", device, exc)
                    return None
            if not await batch.has_session(address):
                log.warning("no session with %s to answer its retry receipt", device)
                return None
            result = await batch.encrypt(address, plaintext)
            with batch.committing():
                async with ctx.account.transaction() as tx:
                    await batch.commit(tx)
        attrs: dict[str, AttrValue] = {
            "v": "2",
            "type": result.enc_type,
            "count": str(request.count),
        }
        return Node("enc", attrs, result.ciphertext), result.enc_type == ENC_PKMSG
