"""Presence ("online", "last seen"), chat presence ("typing...", "recording audio...") and
read receipts: the stanzas and the incoming events (sans-I/O).

Outgoing, as WhatsApp's clients send them (whatsmeow ``presence.go``/``receipt.go``, Baileys
``Socket/chats.js``):

- ``<presence type="available|unavailable" name="push name"/>``
- ``<presence type="subscribe" to="user"[><tctoken>..</tctoken>]</presence>``
- ``<chatstate to="chat"><composing [media="audio"]/></chatstate>`` or ``<paused/>``
- ``<receipt id="first" type="read|read-self" to="chat" [participant] t><list><item id/>..``

Incoming ``<presence from [type=unavailable] [last]>`` and ``<chatstate from [participant]>
<composing|paused [media]>`` become :class:`Presence` and :class:`ChatPresence` events. The
server does not expect an ``<ack>`` for either.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from wamd.binary import AttrValue, Node
from wamd.errors import AttributeInvalid, AttributeMissing, InvalidJID, MalformedNode
from wamd.events import Event
from wamd.types import JID

__all__ = [
    "ChatPresence",
    "ChatState",
    "Presence",
    "chat_presence_node",
    "parse_chatstate",
    "parse_presence",
    "presence_node",
    "read_receipt_node",
    "subscribe_node",
]


class ChatState(enum.StrEnum):
    """What a user is doing in a chat."""

    COMPOSING = "composing"
    """Typing (or, with ``media="audio"``, recording a voice note)."""
    RECORDING = "recording"
    """Recording a voice note (sent as ``<composing media="audio"/>``)."""
    PAUSED = "paused"
    """Stopped typing or recording."""


# --- outgoing ----------------------------------------------------------------------------------


def presence_node(available: bool, name: str) -> Node:
    """``<presence>`` announcing us online (``available``) or offline, with our push name
    (WhatsApp shows it to contacts who do not have us saved; it must not be empty)."""
    if not name:
        raise ValueError("a push name is needed to send presence")
    return Node(
        "presence",
        {"type": "available" if available else "unavailable", "name": name.replace("@", "")},
    )


def subscribe_node(to: JID, token: bytes | None = None) -> Node:
    """``<presence type="subscribe">``: ask the server for ``to``'s presence updates.

    ``token`` is the privacy (trusted contact) token the user gave us, when known.
    """
    content = [Node("tctoken", {}, token)] if token else None
    return Node("presence", {"type": "subscribe", "to": to.to_non_ad()}, content)


def chat_presence_node(to: JID, state: ChatState | str) -> Node:
    """``<chatstate>`` telling ``to`` (a user or a group) that we type, record or stopped."""
    state = ChatState(state)
    if state is ChatState.RECORDING:
        child = Node("composing", {"media": "audio"})
    else:
        child = Node(str(state), {})
    return Node("chatstate", {"to": to.to_non_ad()}, [child])


def read_receipt_node(
    chat: JID,
    ids: Sequence[str],
    *,
    sender: JID | None = None,
    timestamp: int,
    self_only: bool = False,
    played: bool = False,
) -> Node:
    """The receipt marking messages as read (blue ticks) — or only on our own devices
    (``self_only``: ``read-self``, for accounts with read receipts off) — or voice notes as
    played (``played``).

    ``sender`` is who sent the messages, needed in groups (``participant``).
    """
    if not ids:
        raise ValueError("no message ids to mark")
    kind = "played" if played else "read"
    if self_only:
        kind += "-self"
    attrs: dict[str, AttrValue] = {
        "id": ids[0],
        "type": kind,
        "to": chat.to_non_ad(),
        "t": str(timestamp),
    }
    if sender is not None and not chat.is_user:
        attrs["participant"] = sender.to_non_ad()
    content = None
    if len(ids) > 1:
        content = [Node("list", {}, [Node("item", {"id": i}) for i in ids[1:]])]
    return Node("receipt", attrs, content)


# --- incoming ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Presence(Event):
    """A user's presence changed (after :meth:`wamd.Client.subscribe_presence`).

    ``last_seen`` is when they were last online, when they share it (offline updates only).
    """

    jid: JID
    available: bool
    last_seen: datetime | None = None
    raw: Node | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ChatPresence(Event):
    """Someone started or stopped typing (or recording) in a chat.

    ``chat`` is the user (1:1) or the group; ``sender`` who types. ``state`` is
    :attr:`ChatState.COMPOSING`, :attr:`ChatState.RECORDING` or :attr:`ChatState.PAUSED`
    (an unknown state is kept as its raw tag).
    """

    chat: JID
    sender: JID
    state: ChatState | str
    raw: Node | None = field(default=None, repr=False, compare=False)

    @property
    def is_group(self) -> bool:
        """The chat is a group."""
        return self.chat.is_group


def _from(node: Node) -> JID:
    try:
        return node.attr_jid("from")
    except (AttributeMissing, AttributeInvalid, InvalidJID) as exc:
        raise MalformedNode(f"<{node.tag}> without a valid sender: {exc}") from exc


def parse_presence(node: Node) -> Presence:
    """Read an incoming ``<presence>``. Raises :class:`~wamd.errors.MalformedNode`."""
    if node.tag != "presence":
        raise MalformedNode(f"<{node.tag}> is not a presence")
    jid = _from(node)
    available = node.attrs.get("type") != "unavailable"
    last_seen = None
    last = node.attrs.get("last")
    if isinstance(last, str) and last.isdigit() and len(last) <= 11:  # up to year 5138
        last_seen = datetime.fromtimestamp(int(last), UTC)
    return Presence(jid, available, last_seen, raw=node)


def parse_chatstate(node: Node) -> ChatPresence:
    """Read an incoming ``<chatstate>``. Raises :class:`~wamd.errors.MalformedNode`."""
    if node.tag != "chatstate":
        raise MalformedNode(f"<{node.tag}> is not a chat state")
    chat = _from(node)
    sender = chat
    if "participant" in node.attrs:
        try:
            sender = node.attr_jid("participant")
        except (AttributeInvalid, InvalidJID) as exc:
            raise MalformedNode(f"<chatstate> with a bad participant: {exc}") from exc
    children = node.content if isinstance(node.content, list) else []
    if len(children) != 1:
        raise MalformedNode(f"<chatstate> with {len(children)} children, not 1")
    child = children[0]
    state: ChatState | str
    if child.tag == "composing" and child.attrs.get("media") == "audio":
        state = ChatState.RECORDING
    elif child.tag in ("composing", "paused"):
        state = ChatState(child.tag)
    else:
        state = child.tag
    return ChatPresence(chat, sender, state, raw=node)
