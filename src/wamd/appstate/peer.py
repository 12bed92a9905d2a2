"""Sending protocol messages to one's own other devices (``category="peer"``).

App-state key requests and answers, fatal-recovery requests and on-demand history requests go
only to the account's own devices, unwrapped (no ``DeviceSentMessage``), as peer messages. This
is a thin composition of the messaging layer's device lookup and per-device encryption.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from wamd.binary import AttrValue, Node
from wamd.errors import SendError
from wamd.events import Event
from wamd.messaging.events import Message
from wamd.messaging.ids import generate_message_id
from wamd.messaging.send import encrypt_for_devices
from wamd.proto import e2e_pb2

if TYPE_CHECKING:
    from wamd.client import Client


@dataclass(frozen=True, slots=True)
class OwnProtocolMessage(Event):
    """A protocol message between this account's own devices that wamd handles itself (an
    app-state key share or request, a history notification, a recovery answer...).

    The client dispatches these instead of a :class:`~wamd.messaging.events.Message`: their
    outcome reaches applications as typed events (:mod:`wamd.appstate.events`,
    :class:`~wamd.history.events.HistorySync`). Subscribe to this type to see the raw ones.
    """

    message: Message


INTERNAL_TYPES = frozenset(
    {
        e2e_pb2.ProtocolMessage.APP_STATE_SYNC_KEY_SHARE,
        e2e_pb2.ProtocolMessage.APP_STATE_SYNC_KEY_REQUEST,
        e2e_pb2.ProtocolMessage.HISTORY_SYNC_NOTIFICATION,
        e2e_pb2.ProtocolMessage.PEER_DATA_OPERATION_REQUEST_MESSAGE,
        e2e_pb2.ProtocolMessage.PEER_DATA_OPERATION_REQUEST_RESPONSE_MESSAGE,
    }
)
"""Protocol message types from own devices that become :class:`OwnProtocolMessage`."""


def is_internal(event: Event) -> bool:
    """Whether ``event`` is a :class:`Message` from one of our devices that wamd handles
    itself (see :class:`OwnProtocolMessage`)."""
    return (
        isinstance(event, Message)
        and event.from_me
        and event.message.HasField("protocol_message")
        and event.message.protocol_message.type in INTERNAL_TYPES
    )


async def send_to_own_devices(client: Client, message: e2e_pb2.Message) -> str:
    """Encrypt ``message`` for every other device of this account and send it; returns its id.

    Raises :class:`~wamd.errors.SendError` when no other device could be encrypted for, and
    the errors of :meth:`wamd.client.Client.send_message` otherwise.
    """
    ctx = client.messaging.context()
    own_user = ctx.own_pn.to_non_ad()
    lists = await ctx.devices.get([own_user])
    devices = [d for d in lists[own_user].devices if d not in ctx.own]
    message_id = generate_message_id(own_user.user)
    attrs: dict[str, AttrValue] = {
        "id": message_id,
        "to": own_user,
        "type": "text",
        "category": "peer",
        "push_priority": "high_force",
    }
    plaintext = message.SerializeToString()
    encrypted = await encrypt_for_devices(
        ctx, devices, plaintext, plaintext, stanza=Node("message", attrs, [])
    )
    if encrypted.answer is None:
        raise SendError(f"no other device of {own_user} to send {message_id} to")
    answer = await ctx.wait_answer(encrypted.answer, message_id, ctx.options.send_timeout)
    if answer.attrs.get("error") is not None:
        raise SendError(f"the server refused peer message {message_id}")
    return message_id
