"""End-to-end encrypted messaging: sending to every device, the durable receive path,
receipts, retries and prekey upkeep. See docs/messaging.md.

Applications use it through :class:`~wamd.client.Client` (``client.send_message``,
``@client.on(Message)``); the modules here are the implementation:

* :mod:`.send` fan-out, :mod:`.sessions` prekey fetches, :mod:`.devices` device lists,
  :mod:`.addresses` one identity (and lock) per device across phone-number/LID forms;
* :mod:`.receive` decrypt -> store -> receipt, :mod:`.inbox` durable dispatch;
* :mod:`.retry` answering retry receipts, :mod:`.prekeys` prekey upkeep;
* :mod:`.stanzas` every stanza built and read without I/O, :mod:`.ids` message ids.
"""

from wamd.messaging.context import MessagingOptions
from wamd.messaging.core import Messaging
from wamd.messaging.events import (
    IdentityChanged,
    Message,
    Receipt,
    ReceiptType,
    UndecryptableMessage,
)
from wamd.messaging.ids import generate_message_id
from wamd.messaging.inbox import HandlerFailed
from wamd.messaging.send import SendResult

__all__ = [
    "HandlerFailed",
    "IdentityChanged",
    "Message",
    "Messaging",
    "MessagingOptions",
    "Receipt",
    "ReceiptType",
    "SendResult",
    "UndecryptableMessage",
    "generate_message_id",
]
