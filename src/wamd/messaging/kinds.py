"""The client side of the message kinds: sending them, keeping message secrets, turning
incoming poll votes into :class:`~wamd.messaging.polls.PollVote` events, presence.

:class:`MessageKinds` is what the :class:`~wamd.client.Client` shortcuts (``send_text``,
``react``, ``edit_message``, ``revoke_message``, ``send_poll``, ``vote``, ``mark_read``,
``send_chat_presence``...) delegate to. It needs little of the client (:class:`KindsHost`): a
way to send a message and a stanza, to dispatch events, our JIDs and the store account.

Message secrets: the secret of every poll we send is stored (under both forms of our JID)
before the poll leaves; the secrets of received messages are stored when they are seen (the
receive path may store them first, in its own transaction — the first write wins). A vote is
decrypted with the secret found under any form of the poll's chat and sender.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from wamd.binary import Node
from wamd.errors import (
    InvalidJID,
    InvalidMessage,
    MalformedNode,
    MessageSecretMissing,
    NotConnected,
    StoreError,
)
from wamd.events import Event
from wamd.messaging import builders
from wamd.messaging.ids import generate_message_id
from wamd.messaging.polls import PollVote, decrypt_vote, option_hash, poll_options, vote
from wamd.messaging.presence import (
    ChatState,
    chat_presence_node,
    parse_chatstate,
    parse_presence,
    presence_node,
    read_receipt_node,
    subscribe_node,
)
from wamd.messaging.secrets import message_secret, secret_records
from wamd.messaging.send import SendResult
from wamd.proto import common_pb2, e2e_pb2
from wamd.store import Account, DeviceCredentials, MessageSecret
from wamd.types import JID

__all__ = ["KindsHost", "MessageKinds", "ReceivedMessage"]

log = logging.getLogger("wamd.messaging.kinds")


class KindsHost(Protocol):
    """What :class:`MessageKinds` needs from the client (a :class:`~wamd.client.Client`)."""

    @property
    def jid(self) -> JID | None: ...
    @property
    def lid(self) -> JID | None: ...
    async def send_message(
        self, to: JID, message: e2e_pb2.Message, *, id: str | None = None
    ) -> SendResult: ...
    async def send_node(self, node: Node) -> None: ...
    async def dispatch(self, event: Event) -> Any: ...


class ReceivedMessage(builders.Quotable, Protocol):
    """What :meth:`MessageKinds.on_message` reads of a received message event."""

    @property
    def sender_alt(self) -> JID | None: ...
    @property
    def timestamp(self) -> datetime: ...


def _user(jid: JID | None) -> JID | None:
    return None if jid is None else jid.to_non_ad()


def _jid_or_none(text: str) -> JID | None:
    try:
        return JID.parse(text) if text else None
    except InvalidJID:
        return None


class MessageKinds:
    """Sending the message kinds and reading poll votes for one client (module doc)."""

    def __init__(
        self,
        host: KindsHost,
        account: Callable[[], Account],
        credentials: Callable[[], DeviceCredentials],
        *,
        polls_kept: int = 1024,
    ) -> None:
        self._host = host
        self._account = account
        self._credentials = credentials
        self._polls: OrderedDict[str, list[str]] = OrderedDict()
        self._polls_kept = polls_kept

    # --- our identity ------------------------------------------------------------------------

    def _own(self) -> list[JID]:
        return [j.to_non_ad() for j in (self._host.jid, self._host.lid) if j is not None]

    def _is_own(self, jid: JID | None) -> bool:
        return jid is not None and any(
            jid.user == o.user and jid.server == o.server for o in self._own()
        )

    def _own_like(self, other: JID) -> JID:
        """Our JID in the same addressing as ``other`` (LID for a LID, else phone number)."""
        lid, pn = self._host.lid, self._host.jid
        if other.is_lid and lid is not None:
            return lid
        if pn is None:
            raise NotConnected("this device is not paired")
        return pn

    # --- sending -------------------------------------------------------------------------------

    async def send(self, to: JID, message: e2e_pb2.Message, *, id: str | None = None) -> SendResult:
        """Send ``message`` to ``to`` (a chat: its JID without a device)."""
        return await self._host.send_message(to.to_non_ad(), message, id=id)

    async def send_text(
        self,
        to: JID,
        text: str,
        *,
        quote: builders.Quotable | None = None,
        mentions: Iterable[JID | str] = (),
        preview: builders.LinkPreview | None = None,
        expiration: int | None = None,
    ) -> SendResult:
        """Send a text (replying to ``quote``, mentioning ``mentions``...)."""
        context = None
        if quote is not None:
            context = builders.quote_context(quote, chat=to, own=_user(self._host.jid))
        message = builders.text(
            text, mentions=mentions, quote=context, preview=preview, expiration=expiration
        )
        return await self.send(to, message)

    @staticmethod
    def key_of(target: builders.Quotable) -> common_pb2.MessageKey:
        """The key of a message event (as a reaction, edit or revoke names it)."""
        return builders.message_key(
            target.chat, target.id, from_me=target.from_me, sender=target.sender
        )

    async def react(self, target: builders.Quotable, emoji: str) -> SendResult:
        """React to ``target`` with ``emoji`` (``""`` removes our reaction)."""
        return await self.send(target.chat, builders.reaction(self.key_of(target), emoji))

    async def edit(self, chat: JID, message_id: str, new: str | e2e_pb2.Message) -> SendResult:
        """Replace the text of our message ``message_id`` in ``chat``."""
        content = builders.text(new) if isinstance(new, str) else new
        return await self.send(chat, builders.edit(chat, message_id, content))

    async def revoke(self, chat: JID, message_id: str, *, sender: JID | None = None) -> SendResult:
        """Delete a message for everyone (ours, or ``sender``'s as a group admin)."""
        if sender is not None and self._is_own(sender):
            sender = None
        return await self.send(chat, builders.revoke(chat, message_id, sender=sender))

    async def set_disappearing_timer(self, chat: JID, seconds: int) -> SendResult:
        """Set the disappearing-message timer of a 1:1 chat (0: off)."""
        return await self.send(chat, builders.disappearing_timer(seconds))

    def _remember_poll(self, poll_id: str, options: list[str]) -> None:
        self._polls[poll_id] = options
        self._polls.move_to_end(poll_id)
        while len(self._polls) > self._polls_kept:
            self._polls.popitem(last=False)

    async def send_poll(
        self, to: JID, name: str, options: Sequence[str], *, selectable: int = 1
    ) -> SendResult:
        """Send a poll; its secret is stored first, so that votes on it can be read."""
        message = builders.poll(name, options, selectable=selectable)
        own = self._own()
        if not own:
            raise NotConnected("this device is not paired")
        poll_id = generate_message_id(own[0].user)
        secret = message.message_context_info.message_secret
        rows = [MessageSecret(str(to.to_non_ad()), str(me), poll_id, secret) for me in own]
        await self._account().message_secrets.put_many(rows)
        self._remember_poll(poll_id, list(options))
        return await self.send(to, message, id=poll_id)

    async def _find_secret(
        self, chats: Iterable[JID | None], senders: Iterable[JID | None], message_id: str
    ) -> bytes | None:
        store = self._account().message_secrets
        sender_list = [s for s in dict.fromkeys(_user(s) for s in senders) if s is not None]
        for chat in dict.fromkeys(_user(c) for c in chats):
            if chat is None:
                continue
            for sender in sender_list:
                secret = await store.get(str(chat), str(sender), message_id)
                if secret is not None:
                    return secret
        return None

    def _poll_senders(self, poll: ReceivedMessage) -> list[JID | None]:
        if poll.from_me:
            return [*self._own(), poll.sender]
        return [poll.sender, poll.sender_alt]

    async def vote(self, poll: ReceivedMessage, selected: Sequence[str]) -> SendResult:
        """Vote in ``poll`` (a received poll message, or a copy of ours) for ``selected``
        (option names; empty withdraws our vote). Raises
        :class:`~wamd.errors.MessageSecretMissing` when the poll's secret is not known."""
        senders = self._poll_senders(poll)
        secret = message_secret(poll.message) or await self._find_secret(
            [poll.chat], senders, poll.id
        )
        if secret is None:
            raise MessageSecretMissing(f"the secret of poll {poll.id} is not known")
        poll_sender = _user(self._own()[0] if poll.from_me else poll.sender)
        assert poll_sender is not None
        message = vote(
            chat=poll.chat,
            poll_id=poll.id,
            poll_sender=poll_sender,
            poll_from_me=poll.from_me,
            selected=selected,
            secret=secret,
            voter=self._own_like(poll_sender),
            timestamp_ms=int(time.time() * 1000),
        )
        return await self.send(poll.chat, message)

    # --- receipts and presence -----------------------------------------------------------------

    async def mark_read(
        self,
        chat: JID,
        ids: Sequence[str],
        *,
        sender: JID | None = None,
        self_only: bool = False,
        played: bool = False,
        timestamp: datetime | None = None,
    ) -> None:
        """Send a read (or ``played``) receipt for ``ids`` (messages ``sender`` sent in
        ``chat``)."""
        when = timestamp or datetime.now(UTC)
        await self._host.send_node(
            read_receipt_node(
                chat,
                ids,
                sender=sender,
                timestamp=int(when.timestamp()),
                self_only=self_only,
                played=played,
            )
        )

    async def send_chat_presence(self, chat: JID, state: ChatState | str) -> None:
        """Tell ``chat`` that we type, record audio, or stopped (``paused``)."""
        await self._host.send_node(chat_presence_node(chat, state))

    async def send_presence(self, available: bool, *, name: str | None = None) -> None:
        """Announce us online or offline; ``name`` defaults to our stored push name."""
        await self._host.send_node(presence_node(available, name or self._credentials().push_name))

    async def subscribe_presence(self, jid: JID, *, token: bytes | None = None) -> None:
        """Ask for ``jid``'s presence updates (:class:`~wamd.messaging.presence.Presence`)."""
        await self._host.send_node(subscribe_node(jid, token))

    async def on_presence(self, node: Node) -> None:
        """Node handler for ``<presence>``: dispatch a Presence event."""
        try:
            event = parse_presence(node)
        except MalformedNode as exc:
            log.warning("unreadable presence: %s", exc)
            return
        await self._host.dispatch(event)

    async def on_chatstate(self, node: Node) -> None:
        """Node handler for ``<chatstate>``: dispatch a ChatPresence event."""
        try:
            event = parse_chatstate(node)
        except MalformedNode as exc:
            log.warning("unreadable chat state: %s", exc)
            return
        await self._host.dispatch(event)

    # --- incoming messages -----------------------------------------------------------------------

    @staticmethod
    def wants(evt: ReceivedMessage) -> bool:
        """Filter for :meth:`on_message`: only messages carrying a secret or a vote need it
        (other messages then cost no handler task)."""
        message = evt.message
        if message.HasField("device_sent_message"):
            message = message.device_sent_message.message
        return message.HasField("poll_update_message") or message_secret(message) is not None

    async def on_message(self, evt: ReceivedMessage) -> None:
        """Keep the secret a received message carries; decrypt a poll vote and dispatch a
        :class:`~wamd.messaging.polls.PollVote`."""
        message = evt.message
        if message.HasField("device_sent_message"):
            message = message.device_sent_message.message
        rows = secret_records(
            message, chat=evt.chat, message_id=evt.id, senders=self._poll_senders(evt)
        )
        if rows:
            options = poll_options(message)
            if options:
                self._remember_poll(evt.id, options)
            try:
                await self._account().message_secrets.put_many(rows)
            except StoreError as exc:
                log.warning("could not keep the secret of %s: %s", evt.id, exc)
        if message.HasField("poll_update_message"):
            try:
                await self._dispatch_vote(evt, message.poll_update_message)
            except (InvalidMessage, MessageSecretMissing, StoreError) as exc:
                log.warning("cannot read vote %s from %s: %s", evt.id, evt.sender, exc)

    async def _dispatch_vote(self, evt: ReceivedMessage, update: e2e_pb2.PollUpdateMessage) -> None:
        key = update.poll_creation_message_key
        voters = [evt.sender, evt.sender_alt] if not evt.from_me else [*self._own(), evt.sender]
        creators: list[JID | None]
        if key.from_me:
            creators = list(voters)  # the voter voted in their own poll
        else:
            named = _jid_or_none(key.participant) or _jid_or_none(key.remote_jid)
            creators = [named]
            if self._is_own(named) or (named is None and not evt.from_me):
                creators += self._own()
            if evt.from_me:
                creators.append(evt.chat)
        chats = [evt.chat] if evt.chat.is_group or evt.from_me else [evt.chat, evt.sender_alt]
        secret = await self._find_secret(chats, creators, key.id)
        if secret is None:
            raise MessageSecretMissing(f"the secret of poll {key.id} is not known")
        hashes = decrypt_vote(update, secret, poll_senders=creators, voters=voters)
        by_hash = {option_hash(o): o for o in self._polls.get(key.id, [])}
        names = tuple(by_hash[h] for h in hashes if h in by_hash)
        creator = next((c for c in creators if c is not None), evt.chat)
        when = evt.timestamp
        if update.sender_timestamp_ms:
            with contextlib.suppress(OverflowError, ValueError, OSError):
                when = datetime.fromtimestamp(update.sender_timestamp_ms / 1000, UTC)
        await self._host.dispatch(
            PollVote(
                chat=evt.chat,
                voter=evt.sender,
                poll_id=key.id,
                poll_sender=creator.to_non_ad(),
                selected_hashes=tuple(hashes),
                selected=names if len(names) == len(hashes) else (),
                timestamp=when,
                message_id=evt.id,
                from_me=evt.from_me,
            )
        )
