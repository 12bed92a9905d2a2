"""wamd: an asyncio client for the WhatsApp Web multidevice protocol (unofficial).

The public surface is re-exported here; everything else is implementation detail that may
change between releases. A typical program needs only this module and :mod:`wamd.events`::

    from wamd import Client, events

    client = Client("bot.sqlite")

    @client.on(events.Message)
    async def echo(msg: events.Message) -> None:
        if msg.text and not msg.from_me:
            await client.send_text(msg.chat, msg.text, quote=msg)

The names are imported on first use, so ``import wamd`` stays cheap for programs that only use
one layer (the codec, the Signal protocol, the sandbox).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from wamd import errors
from wamd.errors import WamdError

if TYPE_CHECKING:
    from wamd import events as events
    from wamd.appstate.actions import MessageRef as MessageRef
    from wamd.client import Client as Client
    from wamd.conn.keepalive import KeepAliveConfig as KeepAliveConfig
    from wamd.conn.options import ConnectOptions as ConnectOptions
    from wamd.conn.options import ServerInfo as ServerInfo
    from wamd.conn.payload import AppVersion as AppVersion
    from wamd.conn.payload import DeviceInfo as DeviceInfo
    from wamd.conn.reconnect import ReconnectPolicy as ReconnectPolicy
    from wamd.conn.state import ConnState as ConnState
    from wamd.groups import GroupInfo as GroupInfo
    from wamd.groups import GroupParticipant as GroupParticipant
    from wamd.groups import ParticipantAction as ParticipantAction
    from wamd.media.keys import MediaType as MediaType
    from wamd.messaging import Message as Message
    from wamd.messaging import MessagingOptions as MessagingOptions
    from wamd.messaging import SendResult as SendResult
    from wamd.messaging.builders import LinkPreview as LinkPreview
    from wamd.messaging.polls import PollTally as PollTally
    from wamd.messaging.presence import ChatState as ChatState
    from wamd.sandbox import Sandbox as Sandbox
    from wamd.store import MemoryStore as MemoryStore
    from wamd.store import Store as Store
    from wamd.store import key_from_env as key_from_env
    from wamd.store.postgres import PostgresStore as PostgresStore
    from wamd.store.sqlite import SQLiteStore as SQLiteStore
    from wamd.types import JID as JID

__all__ = [
    "JID",
    "AppVersion",
    "ChatState",
    "Client",
    "ConnState",
    "ConnectOptions",
    "DeviceInfo",
    "GroupInfo",
    "GroupParticipant",
    "KeepAliveConfig",
    "LinkPreview",
    "MediaType",
    "MemoryStore",
    "Message",
    "MessageRef",
    "MessagingOptions",
    "ParticipantAction",
    "PollTally",
    "PostgresStore",
    "ReconnectPolicy",
    "SQLiteStore",
    "Sandbox",
    "SendResult",
    "ServerInfo",
    "Store",
    "WamdError",
    "__version__",
    "errors",
    "events",
    "key_from_env",
]

__version__ = "0.1.0.dev0"

_LAZY: dict[str, str] = {
    "events": "wamd.events",
    "MessageRef": "wamd.appstate.actions",
    "Client": "wamd.client",
    "KeepAliveConfig": "wamd.conn.keepalive",
    "ConnectOptions": "wamd.conn.options",
    "ServerInfo": "wamd.conn.options",
    "AppVersion": "wamd.conn.payload",
    "DeviceInfo": "wamd.conn.payload",
    "ReconnectPolicy": "wamd.conn.reconnect",
    "ConnState": "wamd.conn.state",
    "GroupInfo": "wamd.groups",
    "GroupParticipant": "wamd.groups",
    "ParticipantAction": "wamd.groups",
    "MediaType": "wamd.media.keys",
    "Message": "wamd.messaging",
    "MessagingOptions": "wamd.messaging",
    "SendResult": "wamd.messaging",
    "LinkPreview": "wamd.messaging.builders",
    "ChatState": "wamd.messaging.presence",
    "PollTally": "wamd.messaging.polls",
    "key_from_env": "wamd.store",
    "Sandbox": "wamd.sandbox",
    "MemoryStore": "wamd.store",
    "Store": "wamd.store",
    "PostgresStore": "wamd.store.postgres",
    "SQLiteStore": "wamd.store.sqlite",
    "JID": "wamd.types",
}


# Also used by wamd.events (for the events of the topic modules): one mechanism for both.
def _lazy_names(
    module_name: str, sources: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for the module ``module_name``: a name of ``sources``
    is imported from the module it maps to when first read, then kept in the module (a name
    that maps to the submodule ``module_name.name`` is that submodule)."""
    namespace = sys.modules[module_name].__dict__

    def getattr_(name: str) -> Any:
        source = sources.get(name)
        if source is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        module = importlib.import_module(source)
        value = module if source == f"{module_name}.{name}" else getattr(module, name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted(set(namespace) | set(sources))

    return getattr_, dir_


__getattr__, __dir__ = _lazy_names(__name__, _LAZY)
