"""The :class:`Client`: the one object applications use.

Its methods are thin and documented; the work happens in topic modules (``wamd.conn`` for the
connection, ``wamd.pairing`` for linking the device, ...). There are no mixins: each area
contributes functions or helper objects that the client calls.

.. code-block:: python

    from wamd import Client, events

    client = Client("bot.sqlite")        # or any wamd.store.Store

    @client.on(events.QR)
    async def show(evt: events.QR) -> None:
        print(evt.render())

    @client.on(events.Connected)
    async def ready(evt: events.Connected) -> None:
        print("logged in as", client.jid)

    async with client:
        await client.run_until_disconnected()
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import IO, Any, Self, TypeVar, overload

from wamd.appstate.actions import JIDLike, MessageRef
from wamd.appstate.client import AppStateClient
from wamd.appstate.events import APPSTATE_KIND
from wamd.appstate.events import from_payload as appstate_from_payload
from wamd.appstate.peer import OwnProtocolMessage, is_internal, send_to_own_devices
from wamd.binary import Node
from wamd.conn.device import Device
from wamd.conn.keepalive import KeepAliveConfig
from wamd.conn.manager import ConnectionManager, NodeHandler
from wamd.conn.options import ConnectOptions, ServerInfo
from wamd.conn.payload import AppVersion, DeviceInfo
from wamd.conn.reconnect import ReconnectPolicy
from wamd.conn.state import ConnState
from wamd.errors import NotConnected, StoreError
from wamd.events import Dispatcher, Event, Handler, HandlerRegistration, Predicate, Started
from wamd.groups import (
    GroupInfo,
    GroupParticipant,
    Groups,
    JoinRequest,
    JoinResult,
    MemberAddMode,
    ParticipantAction,
    RequestAction,
    SubGroup,
)
from wamd.history.client import HistoryClient
from wamd.history.events import HISTORY_KIND, HistorySync
from wamd.history.requests import DEFAULT_COUNT as DEFAULT_HISTORY_COUNT
from wamd.history.requests import on_demand_request
from wamd.media.keys import MediaType
from wamd.media.retry import RetryTarget
from wamd.media.send import SentMedia
from wamd.media.service import ClientMedia, Downloadable
from wamd.media.transfer import MediaClient, UploadResult, UploadSource
from wamd.messaging import Message, Messaging, MessagingOptions, SendResult
from wamd.messaging.builders import LinkPreview, Quotable
from wamd.messaging.inbox import InboxEvent
from wamd.messaging.kinds import MessageKinds
from wamd.messaging.presence import ChatState
from wamd.pairing.flow import PairingFlow
from wamd.proto import e2e_pb2
from wamd.store import Account, DeviceCredentials, Store, Transaction
from wamd.types import GROUP_SERVER, JID, SERVER_JID
from wamd.users.client import UsersClient
from wamd.users.queries import (
    Blocklist,
    BusinessProfile,
    OnWhatsApp,
    PrivacyCategory,
    PrivacyValue,
    ProfilePicture,
    UserInfo,
)

__all__ = ["Client"]

log = logging.getLogger("wamd.client")

E = TypeVar("E", bound=Event)

_OPTION_FIELDS = frozenset(
    {
        "proxy",
        "connect_timeout",
        "handshake_timeout",
        "iq_timeout",
        "lease_wait",
        "qr_timeouts",
        "transport_factory",
    }
)


class Client:
    """A WhatsApp Web multidevice client for one device (account).

    Args:
        store: where the device's keys, sessions and state live: a :class:`~wamd.store.Store`
            (memory, SQLite, PostgreSQL), or the path of an SQLite file that the client opens
            and closes itself. The default is ``wamd.db`` in the user's data directory.
        account: which account of ``store`` to drive (its id or device JID); by default the
            store's only account, created on first use.
        server: the server to connect to (:class:`~wamd.conn.options.ServerInfo`); WhatsApp's
            production server by default. A sandbox provides its own.
        proxy: ``http://host:port`` or ``socks5://[user:pass@]host:port``.
        app_version: the WhatsApp Web version announced (raise it on ``ClientOutdated``).
        device: the name and platform shown on the phone's "Linked devices" screen.
        reconnect: automatic reconnect policy (backoff, cap, veto hook).
        keepalive: keepalive ping timing.
        max_handlers: how many event handlers may run at once; when they are all busy the
            client stops reading from the server until one finishes (backpressure).
        options: a complete :class:`~wamd.conn.options.ConnectOptions` (the keyword options
            above override its fields).
        messaging: message-path tunables (:class:`~wamd.messaging.MessagingOptions`).
        **extra: other :class:`ConnectOptions` fields (``iq_timeout``, ``lease_wait``...).
    """

    def __init__(
        self,
        store: Store | str | os.PathLike[str] | None = None,
        *,
        account: int | str | None = None,
        server: ServerInfo | None = None,
        proxy: str | None = None,
        app_version: AppVersion | str | None = None,
        device: DeviceInfo | None = None,
        reconnect: ReconnectPolicy | None = None,
        keepalive: KeepAliveConfig | None = None,
        max_handlers: int = 64,
        options: ConnectOptions | None = None,
        messaging: MessagingOptions | None = None,
        **extra: Any,
    ) -> None:
        unknown = set(extra) - _OPTION_FIELDS
        if unknown:
            raise TypeError(f"unknown Client options: {', '.join(sorted(unknown))}")
        opts = options or ConnectOptions()
        changes: dict[str, Any] = dict(extra)
        if server is not None:
            changes["server"] = server
        if proxy is not None:
            changes["proxy"] = proxy
        if app_version is not None:
            changes["app_version"] = (
                AppVersion.parse(app_version) if isinstance(app_version, str) else app_version
            )
        if device is not None:
            changes["device"] = device
        if reconnect is not None:
            changes["reconnect"] = reconnect
        if keepalive is not None:
            changes["keepalive"] = keepalive
        if changes:
            opts = dataclasses.replace(opts, **changes)
        self._store: Store | None = None
        self._store_path: str | None = None
        self._owns_store = False
        if store is None or isinstance(store, (str, os.PathLike)):
            self._store_path = None if store is None else os.fspath(store)
        else:
            self._store = store
        self.options: ConnectOptions = opts
        """The connection options in effect."""
        self.dispatcher = Dispatcher(max_concurrency=max_handlers)
        """The event dispatcher (handlers registered with :meth:`on`)."""
        self._device = Device(self._store, account)
        self._conn = ConnectionManager(self._device, self.dispatcher, opts)
        self._pairing = PairingFlow(self._conn)
        self._messaging = Messaging(self, messaging)
        self._kinds = MessageKinds(
            self, lambda: self._device.account, lambda: self._device.credentials
        )
        self._conn.route("presence", self._kinds.on_presence)
        self._conn.route("chatstate", self._kinds.on_chatstate)
        self.dispatcher.add(Message, self._kinds.on_message, MessageKinds.wants)
        self._groups = Groups(self)
        self._media = ClientMedia(self)
        # App state, history and users (docs/appstate.md): blobs come from the media hosts,
        # key requests and recovery requests go to our own devices as peer messages.
        self._appstate = AppStateClient(
            self,
            self._account_of,
            download=self._download_blob,
            send_to_own=self.send_to_own_devices,
            inbox=lambda: self._messaging.inbox,
        )
        self._messaging.register_decoder(APPSTATE_KIND, appstate_from_payload)
        self._history = HistoryClient(
            self,
            self._account_of,
            download=self._download_blob,
            inbox=lambda: self._messaging.inbox,
        )
        self._messaging.register_decoder(HISTORY_KIND, HistorySync.from_payload)
        self.dispatcher.add(OwnProtocolMessage, self._on_own_protocol_message)
        self._users = UsersClient(self, self._account_of)

    def __repr__(self) -> str:
        return f"Client(state={self.state.value}, jid={self.jid!s})"

    # --- events -----------------------------------------------------------------------------

    def on(
        self, event_type: type[E], filter: Predicate | None = None
    ) -> Callable[[Handler[E]], Handler[E]]:
        """Decorator: call the function for every event of ``event_type`` passing ``filter``.

        An ``async def`` handler runs in its own task and may await requests on this client;
        a plain one is called by the dispatcher at once (it must not block). ``filter`` is a
        synchronous predicate (see :class:`wamd.events.Filter`).
        """
        return self.dispatcher.on(event_type, filter)

    def add_event_handler(
        self, event_type: type[E], handler: Handler[E], filter: Predicate | None = None
    ) -> HandlerRegistration[E]:
        """Register ``handler`` like :meth:`on`; returns the registration for removal."""
        return self.dispatcher.add(event_type, handler, filter)

    def remove_event_handler(self, handler: HandlerRegistration[Any] | Callable[..., Any]) -> int:
        """Unregister a registration or every registration of a function; returns how many."""
        return self.dispatcher.remove(handler)

    async def wait_for(
        self,
        event_type: type[E],
        filter: Predicate | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> E:
        """Wait for the next event of ``event_type`` (passing ``filter``) and return it.

        Raises :class:`TimeoutError` after ``timeout`` seconds.
        """
        return await self.dispatcher.wait_for(event_type, filter, timeout=timeout)

    # --- store ------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The store holding this device's data.

        When the client was given a path (or nothing), the SQLite store is opened by
        :meth:`connect` (or :meth:`open_store`); before that this raises
        :class:`~wamd.errors.StoreError`.
        """
        if self._store is None:
            raise StoreError("the store is not open yet: call connect() or open_store()")
        return self._store

    async def open_store(self) -> Store:
        """Open the SQLite store given by path (or the default one) if not open yet."""
        if self._store is None:
            from wamd.store.sqlite import SQLiteStore

            self._store = await SQLiteStore.open(self._store_path)
            self._owns_store = True
            self._device.store = self._store
        return self._store

    # --- connection -------------------------------------------------------------------------

    @property
    def state(self) -> ConnState:
        """The connection state (:class:`~wamd.conn.state.ConnState`)."""
        return self._conn.state

    @property
    def is_connected(self) -> bool:
        """Whether the client is logged in and ready."""
        return self._conn.state is ConnState.CONNECTED

    @property
    def credentials(self) -> DeviceCredentials | None:
        """This device's stored credentials (None before the first :meth:`connect`)."""
        return self._device.credentials if self._device.loaded else None

    @property
    def jid(self) -> JID | None:
        """This device's JID (phone-number form), once paired."""
        creds = self.credentials
        return JID.parse(creds.jid) if creds is not None and creds.jid else None

    @property
    def lid(self) -> JID | None:
        """This device's LID, once known."""
        creds = self.credentials
        return JID.parse(creds.lid) if creds is not None and creds.lid else None

    @property
    def is_paired(self) -> bool:
        """Whether this device is linked to an account."""
        creds = self.credentials
        return creds is not None and creds.paired

    async def connect(self) -> None:
        """Connect to the server; returns once the encrypted connection is up.

        A paired device then logs in (:class:`~wamd.events.Connected` follows); an unpaired
        one waits to be linked (:class:`~wamd.events.QR` events follow, or call
        :meth:`request_pairing_code`). Raises :class:`~wamd.errors.CertificateError` when
        the server's certificate does not chain to the configured root key,
        :class:`~wamd.errors.HandshakeError`, :class:`~wamd.errors.LeaseHeld` when another
        process drives this account, ``OSError`` / ``aiohttp.ClientError`` for network errors.
        """
        await self.open_store()
        await self._conn.connect()

    async def disconnect(self) -> None:
        """Close the connection and stop reconnecting (no ``Disconnected`` event)."""
        await self._conn.disconnect()

    async def close(self) -> None:
        """Disconnect, stop every running event handler, and close the store if the client
        opened it (a store passed in stays open)."""
        await self._conn.disconnect()
        await self._messaging.aclose()  # receive stopped, handlers cancelled, done marks written
        await self._media.aclose()
        if self._owns_store and self._store is not None:
            store, self._store = self._store, None
            self._owns_store = False
            self._device.store = None
            await store.close()

    async def wait_until_connected(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until the client is logged in (:attr:`is_connected`).

        Raises :class:`~wamd.errors.NotConnected` when the client stops first (logged out,
        banned, disconnected, gave up reconnecting) and :class:`TimeoutError` after
        ``timeout`` seconds.
        """
        await self._conn.wait_for_state(
            {ConnState.CONNECTED}, timeout=timeout, fail_on={ConnState.DISCONNECTED}
        )

    async def run_until_disconnected(self) -> None:
        """Wait until the client is disconnected for good (not merely reconnecting)."""
        await self._conn.wait_for_state({ConnState.DISCONNECTED})

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- pairing ----------------------------------------------------------------------------

    async def request_pairing_code(self, phone: str, *, show_push_notification: bool = True) -> str:
        """Link this device by phone number instead of QR; returns the code to type in.

        Call it after :meth:`connect` on an unpaired device. The user opens WhatsApp on the
        phone (Linked devices -> Link with phone number) and types the returned
        ``XXXX-XXXX`` code; :class:`~wamd.events.PairSuccess` follows. Raises
        :class:`~wamd.errors.PairingError` (bad number, already paired, bad answer),
        :class:`~wamd.errors.IQError` when the server refuses.
        """
        return await self._pairing.request_code(
            phone, show_push_notification=show_push_notification
        )

    async def logout(self) -> None:
        """Unlink this device from the account and delete its stored data.

        Raises :class:`~wamd.errors.NotConnected` when not logged in,
        :class:`~wamd.errors.IQError` when the server refuses.
        """
        jid = self.jid
        if jid is None or not self.is_connected:
            raise NotConnected("logout needs a logged-in connection")
        await self.request(
            Node(
                "iq",
                {"xmlns": "md", "type": "set", "to": SERVER_JID},
                [Node("remove-companion-device", {"jid": jid, "reason": "user_initiated"})],
            )
        )
        await self._conn.disconnect()
        await self._messaging.stop_receiving()  # nothing may decrypt into the wiped store
        await self._device.wipe()

    # --- messaging --------------------------------------------------------------------------

    async def send_message(
        self, to: JID, message: e2e_pb2.Message, *, id: str | None = None
    ) -> SendResult:
        """Send ``message`` (an ``e2e_pb2.Message``) to the user ``to`` (phone-number or LID
        JID), end-to-end encrypted for each of their devices and our own other devices; or to
        the group ``to`` (``id@g.us``) with this device's sender key
        (:meth:`wamd.groups.Groups.send_message`).

        ``id`` defaults to a fresh id in WhatsApp's format. Returns once the server
        acknowledged it. Raises :class:`~wamd.errors.SendError` (refused, or no device
        reachable), :class:`~wamd.errors.IQTimeout` (no ack), :class:`~wamd.errors.NotConnected`.
        """
        if to.server == GROUP_SERVER:
            return await self._groups.send_message(to, message, id=id)
        return await self._messaging.send_message(to, message, id=id)

    def inbox_transaction(self, event: InboxEvent) -> AbstractAsyncContextManager[Transaction]:
        """A store transaction that also marks ``event`` (a :class:`Message`, or another
        event from the durable inbox: a receipt, a group change...) as handled, for
        exactly-once effects::

            async with client.inbox_transaction(evt) as tx:
                ...  # writes through tx commit together with the "handled" mark

        Without it, a message whose handler was running during a crash is dispatched again
        after the restart (``evt.redelivered`` is then true).
        """
        return self._messaging.transaction(event)

    @property
    def messaging(self) -> Messaging:
        """The message path (advanced use: receipts mode, prekeys, idle waits)."""
        return self._messaging

    # --- message kinds (docs/messages.md) ---------------------------------------------------

    async def send_text(
        self,
        to: JID,
        text: str,
        *,
        quote: Quotable | None = None,
        mentions: Iterable[JID | str] = (),
        preview: LinkPreview | None = None,
        expiration: int | None = None,
    ) -> SendResult:
        """Send a text to the chat ``to``.

        ``quote``: the message replied to (a received :class:`~wamd.messaging.Message`);
        ``mentions``: users mentioned (write them as ``@<number>`` in the text); ``preview``:
        a link preview; ``expiration``: the chat's disappearing timer in seconds. Raises
        what :meth:`send_message` raises.
        """
        return await self._kinds.send_text(
            to, text, quote=quote, mentions=mentions, preview=preview, expiration=expiration
        )

    async def react(self, target: Quotable, emoji: str) -> SendResult:
        """React to ``target`` (a received message, or a copy of ours) with ``emoji``;
        ``""`` removes our reaction."""
        return await self._kinds.react(target, emoji)

    async def edit_message(
        self, chat: JID, message_id: str, new: str | e2e_pb2.Message
    ) -> SendResult:
        """Replace the text (or the content) of our message ``message_id`` in ``chat``."""
        return await self._kinds.edit(chat, message_id, new)

    async def revoke_message(
        self, chat: JID, message_id: str, *, sender: JID | None = None
    ) -> SendResult:
        """Delete a message for everyone: ours, or (as a group admin) the one ``sender`` sent."""
        return await self._kinds.revoke(chat, message_id, sender=sender)

    async def send_poll(
        self, to: JID, name: str, options: Sequence[str], *, selectable: int = 1
    ) -> SendResult:
        """Send a poll (``selectable``: how many options a voter may choose, 0 for any).

        Votes arrive as :class:`~wamd.messaging.polls.PollVote` events; count them with
        :class:`~wamd.messaging.polls.PollTally`. Raises :class:`ValueError` for bad options.
        """
        return await self._kinds.send_poll(to, name, options, selectable=selectable)

    async def vote(self, poll: Message, selected: Sequence[str]) -> SendResult:
        """Vote in a received poll for the option names ``selected`` (empty: withdraw).

        Raises :class:`~wamd.errors.MessageSecretMissing` when the poll's secret is unknown.
        """
        return await self._kinds.vote(poll, selected)

    async def set_disappearing_timer(self, chat: JID, seconds: int) -> SendResult:
        """Set the disappearing-message timer of a chat (seconds; 0 switches it off)."""
        return await self._kinds.set_disappearing_timer(chat, seconds)

    async def mark_read(
        self,
        chat: JID,
        ids: Sequence[str],
        *,
        sender: JID | None = None,
        self_only: bool = False,
    ) -> None:
        """Mark messages as read (blue ticks); ``sender`` is their sender (needed in groups).

        ``self_only`` sends ``read-self``: our other devices learn it, the sender does not.
        """
        await self._kinds.mark_read(chat, ids, sender=sender, self_only=self_only)

    async def mark_played(
        self,
        chat: JID,
        ids: Sequence[str],
        *,
        sender: JID | None = None,
        self_only: bool = False,
    ) -> None:
        """Mark voice notes (or view-once media) as played; the sender sees a ``played``
        :class:`~wamd.messaging.events.Receipt` (``self_only``: only our other devices do)."""
        await self._kinds.mark_read(chat, ids, sender=sender, self_only=self_only, played=True)

    async def send_chat_presence(self, chat: JID, state: ChatState | str) -> None:
        """Show ``chat`` that we are typing (``"composing"``), recording audio
        (``"recording"``) or stopped (``"paused"``)."""
        await self._kinds.send_chat_presence(chat, state)

    async def send_presence(self, available: bool = True, *, name: str | None = None) -> None:
        """Announce us online or offline (``name``: our push name, default the stored one;
        raises :class:`ValueError` when there is none). While online, our delivery receipts
        say so (no ``type="inactive"``), as the official clients' do."""
        await self._kinds.send_presence(available, name=name)
        self._messaging.set_active(available)

    async def subscribe_presence(self, jid: JID) -> None:
        """Ask for ``jid``'s presence updates (:class:`~wamd.messaging.presence.Presence`)."""
        await self._kinds.subscribe_presence(jid)

    @property
    def kinds(self) -> MessageKinds:
        """The message-kinds helper (advanced use)."""
        return self._kinds

    # --- groups -----------------------------------------------------------------------------
    # Thin delegations to :class:`wamd.groups.Groups` (``client.groups``), which documents the
    # errors: GroupNotFound (404), NotInGroup (403), NotGroupAdmin (401), InviteLinkInvalid
    # (406), InviteLinkRevoked (410), GroupError otherwise; NotConnected, IQTimeout.

    @property
    def groups(self) -> Groups:
        """Group and community operations (every method of :class:`wamd.groups.Groups`)."""
        return self._groups

    async def create_group(
        self, subject: str, participants: Iterable[JID], **options: Any
    ) -> GroupInfo:
        """Create a group (options: ``announce``, ``locked``, ``join_approval``,
        ``member_add_mode``, ``ephemeral_timer``, ``linked_parent``)."""
        return await self._groups.create(subject, participants, **options)

    async def create_community(self, subject: str, participants: Iterable[JID] = ()) -> GroupInfo:
        """Create a community (its announcement group is created with it)."""
        return await self._groups.create_community(subject, participants)

    async def get_group_info(self, group: JID) -> GroupInfo:
        """A group's participants (with admin flags), subject, description and settings."""
        return await self._groups.info(group)

    async def get_joined_groups(self) -> list[GroupInfo]:
        """Every group this account is in."""
        return await self._groups.joined()

    async def update_group_participants(
        self, group: JID, participants: Iterable[JID], action: ParticipantAction | str
    ) -> list[GroupParticipant]:
        """Add, remove, promote or demote members; one result (with ``error``) per member."""
        return await self._groups.update_participants(group, participants, action)

    async def leave_group(self, group: JID) -> None:
        """Leave a group."""
        await self._groups.leave(group)

    async def set_group_subject(self, group: JID, subject: str) -> None:
        """Rename a group."""
        await self._groups.set_subject(group, subject)

    async def set_group_description(self, group: JID, description: str) -> str:
        """Set (or with ``""`` delete) the description; returns its id."""
        return await self._groups.set_description(group, description)

    async def set_group_photo(self, group: JID, jpeg: bytes | None) -> str:
        """Set (JPEG bytes) or remove (``None``) the group photo; returns the picture id."""
        return await self._groups.set_photo(group, jpeg)

    async def set_group_announce(self, group: JID, announce: bool) -> None:
        """Only admins send (``True``) or everyone (``False``)."""
        await self._groups.set_announce(group, announce)

    async def set_group_locked(self, group: JID, locked: bool) -> None:
        """Only admins edit the info (``True``) or everyone (``False``)."""
        await self._groups.set_locked(group, locked)

    async def set_group_join_approval(self, group: JID, enabled: bool) -> None:
        """Require admin approval for joins by link."""
        await self._groups.set_join_approval(group, enabled)

    async def set_group_member_add_mode(self, group: JID, mode: MemberAddMode | str) -> None:
        """Who may add members."""
        await self._groups.set_member_add_mode(group, mode)

    async def set_group_ephemeral(self, group: JID, seconds: int) -> None:
        """The group's disappearing-messages timer (0: off)."""
        await self._groups.set_ephemeral(group, seconds)

    async def get_group_invite_link(self, group: JID, *, reset: bool = False) -> str:
        """The invite link (``reset=True`` revokes the old one first)."""
        return await self._groups.invite_link(group, reset=reset)

    async def get_group_info_from_link(self, link: str) -> GroupInfo:
        """What group an invite link leads to, without joining."""
        return await self._groups.info_from_link(link)

    async def join_group_with_link(self, link: str) -> JoinResult:
        """Join by invite link (``pending_approval`` when an admin must approve)."""
        return await self._groups.join_with_link(link)

    async def get_group_join_requests(self, group: JID) -> list[JoinRequest]:
        """Pending join requests (admins)."""
        return await self._groups.join_requests(group)

    async def update_group_join_requests(
        self, group: JID, participants: Iterable[JID], action: RequestAction | str
    ) -> list[GroupParticipant]:
        """Approve or reject join requests; one result per participant."""
        return await self._groups.update_join_requests(group, participants, action)

    async def link_group(self, community: JID, group: JID) -> None:
        """Link ``group`` into ``community``."""
        await self._groups.link(community, group)

    async def unlink_group(self, community: JID, group: JID) -> None:
        """Unlink ``group`` from ``community``."""
        await self._groups.unlink(community, group)

    async def get_subgroups(self, community: JID) -> list[SubGroup]:
        """The groups linked to ``community``."""
        return await self._groups.subgroups(community)

    # --- media (docs/media.md) ---------------------------------------------------------------
    # Thin delegations to :class:`wamd.media.service.ClientMedia`. Errors: MediaError (every
    # host failed, nothing downloadable), IntegrityError (MAC or hash mismatch), MediaExpired
    # (gone and not re-uploadable), MediaRetryError (the phone could not re-upload), plus what
    # send_message raises for the send helpers.

    @property
    def media(self) -> MediaClient:
        """The media transfer client, made on first use: media hosts from this connection,
        the server's extra CA (``ServerInfo.media_ca``) and the client's proxy."""
        return self._media.transfer

    @property
    def media_service(self) -> ClientMedia:
        """The media helper behind the methods below (advanced use: ``use()`` another
        :class:`~wamd.media.MediaClient`, the re-uploader, the retry timeout)."""
        return self._media

    async def upload(
        self, source: UploadSource, kind: MediaType | str, *, mimetype: str | None = None
    ) -> UploadResult:
        """Encrypt and upload ``source`` (bytes, a file path, a binary file object or an
        async iterator of bytes) as ``kind`` (``"image"``, ``"video"``, ``"ptt"``...).

        Build the message with :func:`wamd.media.media_message`; the ``send_*`` helpers below
        do both.
        """
        return await self._media.upload(source, kind, mimetype=mimetype)

    @overload
    async def download(
        self,
        item: Downloadable,
        *,
        to: None = None,
        reupload: bool = True,
        retry_target: RetryTarget | None = None,
    ) -> bytes: ...
    @overload
    async def download(
        self,
        item: Downloadable,
        *,
        to: str | os.PathLike[str] | IO[bytes],
        reupload: bool = True,
        retry_target: RetryTarget | None = None,
    ) -> int: ...
    async def download(
        self,
        item: Downloadable,
        *,
        to: str | os.PathLike[str] | IO[bytes] | None = None,
        reupload: bool = True,
        retry_target: RetryTarget | None = None,
    ) -> bytes | int:
        """Download, decrypt and verify the media of ``item``: a received
        :class:`~wamd.messaging.Message`, a :class:`~wamd.media.send.SentMedia`, an
        ``e2e_pb2.Message`` (or its media part), an upload or a :class:`~wamd.media.MediaRef`.

        Returns the bytes, or with ``to`` (a path, replaced only once verified; or a binary
        file object) the number of bytes written. When the media is gone from the server,
        a message event or sent media is asked from our phone again and downloaded from its
        new copy (``reupload=False``: raise :class:`~wamd.errors.MediaExpired` instead;
        ``retry_target`` names the message for other kinds of ``item``).
        """
        if to is None:
            return await self._media.download(item, reupload=reupload, retry_target=retry_target)
        return await self._media.download_to(item, to, reupload=reupload, retry_target=retry_target)

    def iter_download(
        self,
        item: Downloadable,
        *,
        reupload: bool = True,
        retry_target: RetryTarget | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """Like :meth:`download`, as an async iterator of plaintext chunks. The data is
        verified only when the iteration ends (the last step raises
        :class:`~wamd.errors.IntegrityError` on tampering)."""
        return self._media.iter_download(item, reupload=reupload, retry_target=retry_target)

    async def send_image(
        self,
        to: JID,
        source: UploadSource,
        *,
        caption: str | None = None,
        quote: Quotable | None = None,
        mentions: Iterable[JID | str] = (),
        view_once: bool = False,
        **options: Any,
    ) -> SentMedia:
        """Send an image (JPEG/PNG/WebP...) to a user or a group; dimensions and a thumbnail
        are computed with the ``media`` extra. ``options``: ``thumbnail`` (JPEG bytes),
        ``mimetype``, ``expiration``, ``id``."""
        return await self._media.send(
            to,
            source,
            MediaType.IMAGE,
            caption=caption,
            quote=quote,
            mentions=mentions,
            view_once=view_once,
            **options,
        )

    async def send_video(
        self,
        to: JID,
        source: UploadSource,
        *,
        caption: str | None = None,
        gif: bool = False,
        quote: Quotable | None = None,
        mentions: Iterable[JID | str] = (),
        view_once: bool = False,
        **options: Any,
    ) -> SentMedia:
        """Send a video (``gif=True``: played as a looping GIF); duration and size are read
        from MP4/MOV headers. ``options``: ``thumbnail`` (a JPEG: wamd does not decode
        video), ``seconds``, ``mimetype``, ``expiration``, ``id``."""
        kind = MediaType.GIF if gif else MediaType.VIDEO
        return await self._media.send(
            to,
            source,
            kind,
            caption=caption,
            quote=quote,
            mentions=mentions,
            view_once=view_once,
            **options,
        )

    async def send_audio(
        self,
        to: JID,
        source: UploadSource,
        *,
        ptt: bool = False,
        quote: Quotable | None = None,
        **options: Any,
    ) -> SentMedia:
        """Send audio; ``ptt=True`` sends a voice note (Ogg Opus). The duration is read from
        Ogg/M4A/WAV headers. ``options``: ``seconds``, ``mimetype``, ``view_once``,
        ``mentions``, ``expiration``, ``id``."""
        kind = MediaType.PTT if ptt else MediaType.AUDIO
        return await self._media.send(to, source, kind, quote=quote, **options)

    async def send_document(
        self,
        to: JID,
        source: UploadSource,
        *,
        file_name: str | None = None,
        caption: str | None = None,
        quote: Quotable | None = None,
        **options: Any,
    ) -> SentMedia:
        """Send a file as a document; ``file_name`` defaults to a path source's name.
        ``options``: ``title``, ``page_count``, ``thumbnail`` (JPEG), ``mimetype``,
        ``mentions``, ``expiration``, ``id``."""
        return await self._media.send(
            to,
            source,
            MediaType.DOCUMENT,
            file_name=file_name,
            caption=caption,
            quote=quote,
            **options,
        )

    async def send_sticker(
        self,
        to: JID,
        source: UploadSource,
        *,
        quote: Quotable | None = None,
        **options: Any,
    ) -> SentMedia:
        """Send a sticker (a WebP image, 512x512 by convention). ``options``: ``mimetype``,
        ``mentions``, ``expiration``, ``id``."""
        return await self._media.send(to, source, MediaType.STICKER, quote=quote, **options)

    # --- app state (docs/appstate.md) ---------------------------------------------------------
    # Thin delegations to :class:`wamd.appstate.client.AppStateClient` (``client.appstate``).
    # Every change is pushed as a patch, confirmed by the server's answer and dispatched as
    # its typed event (wamd.appstate.events) here and on the account's other devices. Errors:
    # AppStateKeyMissing (no sync key shared yet), AppStateServerError, NotConnected, IQTimeout.

    @property
    def appstate(self) -> AppStateClient:
        """App-state sync (every method of :class:`~wamd.appstate.client.AppStateClient`).

        It syncs every collection after each login and on the server's ``server_sync``
        notifications, stores the sync keys the phone shares, and answers our other devices'
        key requests: handlers of :mod:`wamd.appstate.events` see every change."""
        return self._appstate

    async def sync_app_state(self, *, full: bool = False) -> None:
        """Sync every app-state collection now (``full``: from scratch) and dispatch the
        events."""
        await self._appstate.sync(full=full)

    async def mute_chat(
        self, chat: JIDLike, muted: bool = True, *, until_ms: int | None = None
    ) -> None:
        """Mute ``chat`` (until ``until_ms``, ms since the epoch; ``None``: forever) or unmute."""
        await self._appstate.mute(chat, muted, until_ms=until_ms)

    async def pin_chat(self, chat: JIDLike, pinned: bool = True) -> None:
        """Pin or unpin ``chat``."""
        await self._appstate.pin(chat, pinned)

    async def archive_chat(self, chat: JIDLike, archived: bool = True) -> None:
        """Archive (and unpin) or unarchive ``chat``."""
        await self._appstate.archive(chat, archived)

    async def mark_chat_read(self, chat: JIDLike, read: bool = True) -> None:
        """Mark ``chat`` as read (or, ``read=False``, unread) on every device of the account.

        (Read receipts for messages are :meth:`mark_read`.)"""
        await self._appstate.mark_read(chat, read)

    async def mark_chat_unread(self, chat: JIDLike) -> None:
        """Mark ``chat`` as unread on every device of the account."""
        await self._appstate.mark_read(chat, False)

    async def star_message(self, message: MessageRef, starred: bool = True) -> None:
        """Star or unstar a message (:class:`~wamd.appstate.actions.MessageRef`)."""
        await self._appstate.star(message, starred)

    async def delete_for_me(self, message: MessageRef, *, delete_media: bool = False) -> None:
        """Delete a message on this account's devices only (others keep it)."""
        await self._appstate.delete_for_me(message, delete_media=delete_media)

    async def clear_chat(
        self, chat: JIDLike, *, last_messages: Sequence[MessageRef] = (), keep_starred: bool = False
    ) -> None:
        """Clear ``chat``'s messages on this account's devices."""
        await self._appstate.clear_chat(
            chat, last_messages=last_messages, keep_starred=keep_starred
        )

    async def delete_chat(self, chat: JIDLike, *, last_messages: Sequence[MessageRef] = ()) -> None:
        """Delete ``chat`` from the chat list of this account's devices."""
        await self._appstate.delete_chat(chat, last_messages=last_messages)

    async def edit_label(
        self, label_id: str, name: str, *, color: int = 0, deleted: bool = False
    ) -> None:
        """Create, rename, recolour or (``deleted=True``) delete a label."""
        await self._appstate.edit_label(label_id, name, color=color, deleted=deleted)

    async def label_chat(self, chat: JIDLike, label_id: str, labeled: bool = True) -> None:
        """Put label ``label_id`` on ``chat`` (or take it off)."""
        await self._appstate.label_chat(chat, label_id, labeled)

    async def label_message(
        self, chat: JIDLike, label_id: str, message_id: str, labeled: bool = True
    ) -> None:
        """Put label ``label_id`` on a message of ``chat`` (or take it off)."""
        await self._appstate.label_message(chat, label_id, message_id, labeled)

    async def save_contact(
        self, jid: JIDLike, *, full_name: str | None = None, first_name: str | None = None
    ) -> None:
        """Add or rename ``jid`` in the account's address book."""
        await self._appstate.save_contact(jid, full_name=full_name, first_name=first_name)

    async def remove_contact(self, jid: JIDLike) -> None:
        """Remove ``jid`` from the account's address book."""
        await self._appstate.remove_contact(jid)

    async def set_push_name(self, name: str) -> None:
        """Set the account's push name (the name others see) on every device."""
        await self._appstate.set_push_name(name)

    # --- history (docs/appstate.md) ----------------------------------------------------------

    @property
    def history(self) -> HistoryClient:
        """History sync: the phone's history notifications become
        :class:`~wamd.history.events.HistorySync` events (push names and LID pairs stored)."""
        return self._history

    async def request_history(
        self, chat: JIDLike, oldest: MessageRef, *, count: int = DEFAULT_HISTORY_COUNT
    ) -> str:
        """Ask our phone for up to ``count`` messages of ``chat`` older than ``oldest``; they
        arrive as a :class:`~wamd.history.events.HistorySync` event. Returns the request's
        message id. Raises :class:`~wamd.errors.SendError` when no other device exists."""
        request = on_demand_request(
            chat, oldest.id, oldest.from_me, oldest.timestamp * 1000, count=count
        )
        return await self.send_to_own_devices(request)

    # --- users (docs/appstate.md) ------------------------------------------------------------
    # Thin delegations to :class:`wamd.users.client.UsersClient` (``client.users``), which
    # keeps the LID map current. Errors: IQError (401 not allowed, 404...), IQTimeout.

    @property
    def users(self) -> UsersClient:
        """User queries (every method of :class:`~wamd.users.client.UsersClient`)."""
        return self._users

    async def is_on_whatsapp(self, phones: Iterable[str]) -> list[OnWhatsApp]:
        """Which of these phone numbers have WhatsApp accounts (and their LIDs)."""
        return await self._users.is_on_whatsapp(phones)

    async def get_user_info(self, jids: Iterable[JID]) -> dict[JID, UserInfo]:
        """Status text, picture id, devices and LID of users."""
        return await self._users.user_info(jids)

    async def get_profile_picture(
        self, jid: JID, *, preview: bool = False, existing_id: str | None = None
    ) -> ProfilePicture | None:
        """Where ``jid``'s profile picture is (``None``: unchanged or not set)."""
        return await self._users.profile_picture(jid, preview=preview, existing_id=existing_id)

    async def set_status(self, text: str) -> None:
        """Set our status ("about") text."""
        await self._users.set_status(text)

    async def get_business_profile(self, jid: JID) -> BusinessProfile | None:
        """``jid``'s business profile (``None`` when it is not a business)."""
        return await self._users.business_profile(jid)

    async def get_blocklist(self) -> Blocklist:
        """The users we blocked."""
        return await self._users.blocklist()

    async def block(self, jid: JID) -> Blocklist:
        """Block ``jid`` (phone-number or LID user); returns the new blocklist."""
        return await self._users.set_blocked(jid, True)

    async def unblock(self, jid: JID) -> Blocklist:
        """Unblock ``jid``; returns the new blocklist."""
        return await self._users.set_blocked(jid, False)

    async def get_privacy(self) -> dict[str, str]:
        """Our privacy settings, by category name."""
        return await self._users.privacy()

    async def set_privacy(self, category: PrivacyCategory, value: PrivacyValue) -> None:
        """Change one privacy setting."""
        await self._users.set_privacy(category, value)

    # --- low level (for wamd's topic modules and advanced use) -------------------------------

    async def send_to_own_devices(self, message: e2e_pb2.Message) -> str:
        """Send a protocol message to this account's other devices only (a peer message);
        returns its id. Raises :class:`~wamd.errors.SendError` when there is no other device."""
        return await send_to_own_devices(self, message)

    def dispatch_received(self, event: Event) -> Coroutine[Any, Any, Started]:
        """Deliver a received message event to its handlers: awaited, it returns what they
        became (the message path's inbox waits for their tasks). A protocol message between
        our own devices that wamd handles itself is dispatched as an
        :class:`~wamd.appstate.peer.OwnProtocolMessage` instead of a
        :class:`~wamd.messaging.Message`."""
        if is_internal(event):
            assert isinstance(event, Message)
            event = OwnProtocolMessage(event)
        return self.dispatcher.dispatch(event)  # (its coroutine: no frame of ours per message)

    async def _on_own_protocol_message(self, event: OwnProtocolMessage) -> None:
        await self._appstate.on_message(event.message)
        await self._history.on_message(event.message)

    def _account_of(self) -> Account:
        return self._device.account

    async def _download_blob(self, ref: Any) -> bytes:
        # app-state snapshots and history chunks live on the media hosts
        return await self._media.transfer.download(ref)

    async def send_node(self, node: Node) -> None:
        """Send a raw stanza. Raises :class:`~wamd.errors.NotConnected`."""
        await self._conn.send_node(node)

    async def request(self, node: Node, *, timeout: float | None = None) -> Node:  # noqa: ASYNC109
        """Send a raw stanza (an id is added when missing) and return its answer.

        The answer is the ``<iq type="result">`` (or the ``<ack>``, for stanzas the server
        acknowledges, such as ``<message>``) carrying the same id. Raises
        :class:`~wamd.errors.IQError` for an ``<iq type="error">`` answer,
        :class:`~wamd.errors.IQTimeout` when none comes within ``timeout`` seconds (default
        ``iq_timeout``), :class:`~wamd.errors.NotConnected` when the connection drops first.
        """
        return await self._conn.request(node, timeout=timeout)

    def add_node_handler(
        self, tag: str, handler: NodeHandler, match: Callable[[Node], bool] | None = None
    ) -> None:
        """Handle incoming stanzas with ``tag`` (those ``match`` accepts) with ``handler``.

        Node handlers run in the reader task, in arrival order: they may send but must not
        await answers from the server; use :meth:`spawn` for work that does.
        """
        self._conn.route(tag, handler, match)

    def add_login_hook(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run ``hook()`` after every login, before :class:`~wamd.events.Connected`."""
        self._conn.add_login_hook(hook)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` in a task tied to the current connection (cancelled when it ends)."""
        return self._conn.spawn(coro)

    async def dispatch(self, event: Event) -> None:
        """Deliver ``event`` to the registered handlers (waits while the pool is full)."""
        await self.dispatcher.dispatch(event)

    @property
    def connection(self) -> ConnectionManager:
        """The connection manager (advanced use)."""
        return self._conn

    @property
    def device(self) -> Device:
        """The store account and credentials holder (advanced use)."""
        return self._device
