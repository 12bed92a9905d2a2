"""Asking the primary device for more history (sans-I/O message builders).

An on-demand request names a chat and the oldest message this device has of it; the phone
answers with a ``HistorySyncNotification`` of type ``ON_DEMAND`` holding up to ``count``
older messages. The request is a ``protocolMessage`` sent, encrypted, to one's own primary
device (the messaging layer sends it).
"""

from __future__ import annotations

from wamd.proto import e2e_pb2
from wamd.types import JID

DEFAULT_COUNT = 50


def on_demand_request(
    chat: JID | str,
    oldest_message_id: str,
    oldest_from_me: bool,
    oldest_timestamp_ms: int,
    *,
    count: int = DEFAULT_COUNT,
) -> e2e_pb2.Message:
    """A ``Message`` asking for up to ``count`` messages of ``chat`` older than the given one."""
    if count <= 0:
        raise ValueError("count must be positive")
    message = e2e_pb2.Message()
    protocol = message.protocol_message
    protocol.type = e2e_pb2.ProtocolMessage.PEER_DATA_OPERATION_REQUEST_MESSAGE
    request = protocol.peer_data_operation_request_message
    request.peer_data_operation_request_type = e2e_pb2.HISTORY_SYNC_ON_DEMAND
    demand = request.history_sync_on_demand_request
    demand.chat_jid = str(chat)
    demand.oldest_msg_id = oldest_message_id
    demand.oldest_msg_from_me = oldest_from_me
    demand.oldest_msg_timestamp_ms = oldest_timestamp_ms
    demand.on_demand_msg_count = count
    return message
