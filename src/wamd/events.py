"""Typed events and the dispatcher that runs user handlers.

Every event is a frozen dataclass deriving from :class:`Event`. Handlers are registered with
``@client.on(EventType)`` (optionally with a synchronous filter) and are called with the event::

    @client.on(events.QR)
    async def show(evt: events.QR) -> None:
        print(evt.text)

Handlers never block the receive loop: a coroutine handler (``async def``) runs in its own
task, at most ``max_concurrency`` at once. When that many handlers are running,
:meth:`Dispatcher.dispatch` waits for a free slot, so the reader stops reading (the server
holds what it has not been able to deliver) instead of queueing without bound. Because a
coroutine handler runs in its own task it may ``await`` a request on the client (an IQ, a
send) without deadlocking the reader. A plain function cannot wait: the dispatcher calls it
at once, in a copy of the context as a task would (no task to create and schedule per call);
an awaitable it returns is awaited in a task of its own, like a coroutine handler. Handlers
of one event start in registration order: a plain handler registered after a coroutine
handler that matched the event runs in a task too, after that one.

Filters are plain synchronous callables ``(event) -> bool``. Wrap them in :class:`Filter` to
combine them with ``&``, ``|`` and ``~``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from wamd import _lazy_names
from wamd.slots import SlotPool

if TYPE_CHECKING:
    from wamd.appstate.events import AppStateChange as AppStateChange
    from wamd.appstate.events import AppStateEvent as AppStateEvent
    from wamd.appstate.events import AppStateSyncComplete as AppStateSyncComplete
    from wamd.appstate.events import Archive as Archive
    from wamd.appstate.events import ClearChat as ClearChat
    from wamd.appstate.events import Contact as Contact
    from wamd.appstate.events import DeleteChat as DeleteChat
    from wamd.appstate.events import DeleteForMe as DeleteForMe
    from wamd.appstate.events import LabelAssociation as LabelAssociation
    from wamd.appstate.events import LabelEdit as LabelEdit
    from wamd.appstate.events import MarkChatAsRead as MarkChatAsRead
    from wamd.appstate.events import MutationEvent as MutationEvent
    from wamd.appstate.events import Mute as Mute
    from wamd.appstate.events import Pin as Pin
    from wamd.appstate.events import PushName as PushName
    from wamd.appstate.events import Star as Star
    from wamd.appstate.events import UnarchiveChatsSetting as UnarchiveChatsSetting
    from wamd.appstate.peer import OwnProtocolMessage as OwnProtocolMessage
    from wamd.binary import Node
    from wamd.groups.events import GroupInfoChanged as GroupInfoChanged
    from wamd.groups.events import JoinedGroup as JoinedGroup
    from wamd.history.events import HistorySync as HistorySync
    from wamd.media.events import MediaRetry as MediaRetry
    from wamd.messaging.events import IdentityChanged as IdentityChanged
    from wamd.messaging.events import Message as Message
    from wamd.messaging.events import Receipt as Receipt
    from wamd.messaging.events import ReceiptType as ReceiptType
    from wamd.messaging.events import UndecryptableMessage as UndecryptableMessage
    from wamd.messaging.inbox import HandlerFailed as HandlerFailed
    from wamd.messaging.polls import PollVote as PollVote
    from wamd.messaging.presence import ChatPresence as ChatPresence
    from wamd.messaging.presence import Presence as Presence
    from wamd.types import JID

__all__ = [
    "QR",
    "AppStateChange",
    "AppStateEvent",
    "AppStateSyncComplete",
    "Archive",
    "ChatPresence",
    "ClearChat",
    "ClientOutdated",
    "ConnectFailure",
    "Connected",
    "Contact",
    "DeleteChat",
    "DeleteForMe",
    "Disconnected",
    "Dispatcher",
    "Event",
    "Filter",
    "GroupInfoChanged",
    "HandlerFailed",
    "HandlerRegistration",
    "HistorySync",
    "IdentityChanged",
    "JoinedGroup",
    "KeepAliveRestored",
    "KeepAliveTimeout",
    "LabelAssociation",
    "LabelEdit",
    "LoggedOut",
    "LogoutReason",
    "MarkChatAsRead",
    "MediaRetry",
    "Message",
    "MutationEvent",
    "Mute",
    "OwnProtocolMessage",
    "PairError",
    "PairSuccess",
    "Pin",
    "PollVote",
    "Presence",
    "PushName",
    "QRTimeout",
    "Receipt",
    "ReceiptType",
    "Reconnecting",
    "Star",
    "Started",
    "StreamError",
    "StreamReplaced",
    "TemporaryBan",
    "UnarchiveChatsSetting",
    "UndecryptableMessage",
    "lend_slot",
]

log = logging.getLogger("wamd.events")


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of every event; ``client.on(Event)`` receives all of them."""


# --- pairing -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QR(Event):
    """A QR code to show to the user; scanning it on the phone links this device.

    ``text`` is the content to encode (``https://wa.me/settings/linked_devices#...``). It is
    valid for ``timeout`` seconds (60 for the first code, 20 for the following ones), then the
    next code arrives in a new event. ``index`` counts from 0; ``remaining`` is how many more
    codes the server gave before pairing times out. :meth:`render` draws it for a terminal.
    The text holds this device's adv secret: show it to the user, do not log it (it is left
    out of the event's ``repr``).
    """

    text: str = field(repr=False)  # it carries the adv secret: keep it out of logs
    timeout: float = 60.0
    index: int = 0
    remaining: int = 0

    def render(self, *, compact: bool = True) -> str:
        """The QR code drawn with text characters, ready to print in a terminal."""
        from wamd.pairing.qr import render_terminal

        return render_terminal(self.text, compact=compact)


@dataclass(frozen=True, slots=True)
class QRTimeout(Event):
    """Every QR code expired without being scanned; the client disconnected."""


@dataclass(frozen=True, slots=True)
class PairSuccess(Event):
    """This device was linked to the account ``jid`` (phone-number form) and ``lid``.

    The client restarts the connection right after (the server asks for it) and logs in
    with the new identity: wait for :class:`Connected` before sending anything.
    """

    jid: JID
    lid: JID | None
    business_name: str
    platform: str


@dataclass(frozen=True, slots=True)
class PairError(Event):
    """The server announced a successful pairing but it failed to verify or to be stored.

    ``error`` is a :class:`wamd.errors.PairingError` (bad HMAC, bad signature...) or a store
    error; the client answered the server with an error and disconnected.
    """

    jid: JID | None
    lid: JID | None
    business_name: str
    platform: str
    error: BaseException


# --- connection --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connected(Event):
    """The client is logged in and ready: requests and sends may be made."""


@dataclass(frozen=True, slots=True)
class Disconnected(Event):
    """The connection was lost unexpectedly (network error, server closed, keepalive dead).

    ``will_reconnect`` says whether the client is going to reconnect by itself; ``error`` is
    the cause when one is known. Not emitted after :meth:`Client.disconnect` nor for causes
    that have their own event (:class:`LoggedOut`, :class:`StreamReplaced`...).
    """

    will_reconnect: bool
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class Reconnecting(Event):
    """An automatic reconnect attempt starts after ``delay`` seconds (attempt counts from 1)."""

    attempt: int
    delay: float


class LogoutReason(enum.IntEnum):
    """Why the server logged this device out (the ``<failure reason>`` / stream-error code)."""

    LOGGED_OUT = 401
    """The device was removed from the account (on the phone or by the server)."""
    MAIN_DEVICE_GONE = 403
    """The account's primary device is gone or the account was banned."""
    UNKNOWN_LOGOUT = 406
    """Logged out for an unspecified reason."""


@dataclass(frozen=True, slots=True)
class LoggedOut(Event):
    """The device is no longer linked; its stored credentials have been wiped.

    ``on_connect`` is true when the server refused the login (``<failure>``), false when an
    established stream was closed (``<stream:error code="401">``). The client does not
    reconnect: pair again to continue.
    """

    reason: LogoutReason
    on_connect: bool


@dataclass(frozen=True, slots=True)
class StreamReplaced(Event):
    """Another connection logged in with the same device; this one was closed.

    The client does not reconnect by itself (two clients would keep kicking each other).
    """


@dataclass(frozen=True, slots=True)
class TemporaryBan(Event):
    """The account is temporarily banned (``<failure reason="402">``).

    ``code`` is the server's ban reason code; ``expire`` the number of seconds until the ban
    lifts (0 when unknown). The client does not reconnect.
    """

    code: int
    expire: int


@dataclass(frozen=True, slots=True)
class ClientOutdated(Event):
    """The server refused this client version (``<failure reason="405">``).

    Set a newer ``app_version`` on the client (or upgrade wamd) and connect again.
    """


@dataclass(frozen=True, slots=True)
class ConnectFailure(Event):
    """The server refused the login for a reason without its own event; no reconnect."""

    reason: int
    message: str
    raw: Node | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class StreamError(Event):
    """The server closed the stream with an error code that has no dedicated event.

    The client reconnects automatically (when enabled) after this event.
    """

    code: str
    raw: Node | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class KeepAliveTimeout(Event):
    """A keepalive ping went unanswered; ``error_count`` consecutive failures so far."""

    error_count: int
    last_success: datetime


@dataclass(frozen=True, slots=True)
class KeepAliveRestored(Event):
    """A keepalive ping was answered again after one or more :class:`KeepAliveTimeout`."""


# --- filters and dispatch ------------------------------------------------------------------------

E = TypeVar("E", bound=Event)

Handler = Callable[[E], Any]
"""A handler: an ``async def`` (or plain) function taking the event."""

Predicate = Callable[[Any], bool]


class Filter:
    """A synchronous predicate on events that composes with ``&``, ``|`` and ``~``.

    Any plain callable ``(event) -> bool`` can be used as a filter; wrap it in ``Filter`` to
    combine it::

        is_sandbox = Filter(lambda evt: evt.platform == "sandbox")
        client.on(events.PairSuccess, is_sandbox & ~Filter(lambda evt: evt.business_name))

    Filters must not do I/O: they run in the dispatcher, before a handler task is created.
    """

    __slots__ = ("_predicate",)

    def __init__(self, predicate: Predicate) -> None:
        self._predicate = predicate

    def __call__(self, event: Any) -> bool:
        return bool(self._predicate(event))

    def __and__(self, other: Predicate) -> Filter:
        return Filter(lambda event: self(event) and bool(other(event)))

    def __or__(self, other: Predicate) -> Filter:
        return Filter(lambda event: self(event) or bool(other(event)))

    def __invert__(self) -> Filter:
        return Filter(lambda event: not self(event))

    def __repr__(self) -> str:
        return f"Filter({self._predicate!r})"


@dataclass(eq=False, slots=True)
class HandlerRegistration(Generic[E]):
    """One registered handler; pass it to :meth:`Dispatcher.remove` to unregister it."""

    event_type: type[E]
    handler: Handler[E]
    filter: Predicate | None = None
    plain: bool = field(init=False, repr=False)
    """Not a coroutine function: the dispatcher may call it at once (see
    :meth:`Dispatcher.dispatch`)."""

    def __post_init__(self) -> None:
        self.plain = not inspect.iscoroutinefunction(self.handler)

    def matches(self, event: Event) -> bool:
        """Whether ``event`` is of the registered type and passes the filter."""
        if not isinstance(event, self.event_type):
            return False
        return self.filter is None or bool(self.filter(event))


@dataclass(eq=False, slots=True)
class _Slot:
    """The pool slot held by one handler task (lent back while it waits on the server)."""

    semaphore: SlotPool
    owner: asyncio.Task[Any] | None = None
    held: bool = True


_current_slot: contextvars.ContextVar[_Slot | None] = contextvars.ContextVar(
    "wamd_handler_slot", default=None
)


@contextlib.asynccontextmanager
async def lend_slot() -> AsyncIterator[None]:
    """Give the caller's handler slot back to the pool for the duration of the block.

    Requests that wait on the server (IQs, message acks) wrap their wait in this: a handler
    waiting for a reply then does not count against the pool, so a full pool of handlers that
    all await replies cannot stop the reader from reading those replies. Outside a handler
    task (or in a task a handler spawned) it does nothing.
    """
    slot = _current_slot.get()
    if slot is None or not slot.held or slot.owner is not asyncio.current_task():
        yield
        return
    slot.held = False
    slot.semaphore.release()
    try:
        yield
    finally:
        await slot.semaphore.acquire()
        slot.held = True


@dataclass(eq=False, slots=True)
class _Waiter:
    event_type: type[Event]
    filter: Predicate | None
    future: asyncio.Future[Event]


ErrorHook = Callable[[BaseException, Event], None]


@dataclass(eq=False, slots=True)
class Started:
    """The handlers :meth:`Dispatcher.dispatch` started for one event."""

    tasks: list[asyncio.Task[BaseException | None]]
    """The handlers still running (coroutine handlers, or what a plain one returned to await):
    each task finishes with the exception its handler raised (already reported), or ``None``."""
    errors: list[BaseException]
    """What the handlers that already returned raised (already reported)."""


class Dispatcher:
    """Runs event handlers, at most ``max_concurrency`` at once (coroutines in their own tasks).

    ``dispatch`` returns as soon as every matching handler has been started (a plain one
    called); it waits only when the pool is full (backpressure). A handler that raises is
    logged (and passed to ``on_error`` when given); it never stops the dispatcher or the other
    handlers.
    """

    def __init__(self, *, max_concurrency: int = 64, on_error: ErrorHook | None = None) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.max_concurrency = max_concurrency
        self.on_error = on_error
        self._registrations: list[HandlerRegistration[Any]] = []
        self._by_type: dict[type, tuple[tuple[HandlerRegistration[Any], ...], str]] = {}
        """The registrations whose type an event type matches, and its handler task name
        (found once per event type; cleared when a registration is added or removed)."""
        self._waiters: list[_Waiter] = []
        self._slots = SlotPool(max_concurrency)
        self._tasks: set[asyncio.Task[BaseException | None]] = set()
        self._closed = False

    # registration

    def add(
        self, event_type: type[E], handler: Handler[E], filter: Predicate | None = None
    ) -> HandlerRegistration[E]:
        """Register ``handler`` for events of ``event_type`` (and its subclasses)."""
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            raise TypeError(f"{event_type!r} is not an event type")
        if not callable(handler):
            raise TypeError("handler must be callable")
        registration = HandlerRegistration(event_type, handler, filter)
        self._registrations.append(registration)
        self._by_type.clear()
        return registration

    def on(
        self, event_type: type[E], filter: Predicate | None = None
    ) -> Callable[[Handler[E]], Handler[E]]:
        """Decorator form of :meth:`add`; returns the function unchanged."""

        def decorator(handler: Handler[E]) -> Handler[E]:
            self.add(event_type, handler, filter)
            return handler

        return decorator

    def remove(self, handler: HandlerRegistration[Any] | Callable[..., Any]) -> int:
        """Unregister a registration, or every registration of a handler function.

        Returns how many registrations were removed.
        """
        before = len(self._registrations)
        if isinstance(handler, HandlerRegistration):
            self._registrations = [r for r in self._registrations if r is not handler]
        else:
            self._registrations = [r for r in self._registrations if r.handler is not handler]
        self._by_type.clear()
        return before - len(self._registrations)

    @property
    def handlers(self) -> tuple[HandlerRegistration[Any], ...]:
        """The current registrations, in registration order."""
        return tuple(self._registrations)

    @property
    def running(self) -> int:
        """How many handler tasks are running now."""
        return len(self._tasks)

    # dispatch

    async def dispatch(self, event: Event) -> Started:
        """Start every matching handler for ``event``, in registration order.

        A plain handler is called now, unless a coroutine handler of the event was started
        before it: then it runs in a task of its own too, after that one, as coroutine
        handlers (and awaitables a plain one returns) always do. Every handler holds a slot
        of the pool while it runs: this waits while the pool is full. Waiters registered with
        :meth:`wait_for` are resolved first, synchronously. A handler that raises is reported
        (never raised here).
        """
        if self._waiters:
            self._resolve_waiters(event)
        started = Started([], [])
        if self._closed:
            return started
        kind = type(event)
        found = self._by_type.get(kind)
        if found is None:
            found = self._by_type[kind] = (
                tuple(r for r in self._registrations if issubclass(kind, r.event_type)),
                f"wamd-handler-{kind.__name__}",
            )
        registrations, name = found
        slots = self._slots
        for registration in registrations:
            predicate = registration.filter
            if predicate is not None:
                try:
                    if not predicate(event):
                        continue
                except Exception as exc:
                    self._report(exc, event)
                    continue
            if not slots.try_acquire():
                await slots.acquire()
            if registration.plain and not started.tasks:
                self._call(registration.handler, event, name, started)
            else:
                self._spawn(registration.handler, None, event, name, started)
        return started

    def _call(self, handler: Handler[Any], event: Event, name: str, started: Started) -> None:
        """Call ``handler`` holding a slot taken for it, in a copy of the context (as a task
        would); an awaitable it returns is awaited in a task that keeps the slot."""
        context = contextvars.copy_context()
        try:
            result = context.run(handler, event)
        except (Exception, asyncio.CancelledError) as exc:
            self._slots.release()
            self._report(exc, event)
            started.errors.append(exc)
            return
        if result is None or not inspect.isawaitable(result):
            self._slots.release()
            return
        self._spawn(None, result, event, name, started, context)

    def _spawn(
        self,
        handler: Handler[Any] | None,
        result: Any,
        event: Event,
        name: str,
        started: Started,
        context: contextvars.Context | None = None,
    ) -> None:
        """Start the task of a handler holding a slot taken for it (see :meth:`_run`)."""
        slot = _Slot(self._slots)
        try:
            task = asyncio.create_task(
                self._run(handler, result, event, slot), name=name, context=context
            )
        except BaseException:
            self._slots.release()
            raise
        slot.owner = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        started.tasks.append(task)

    async def _run(
        self, handler: Handler[Any] | None, result: Any, event: Event, slot: _Slot
    ) -> BaseException | None:
        """A handler's task: calls ``handler`` (``None``: it was called already and returned
        ``result``), awaits what it returned, reports what it raised, then gives the slot
        back."""
        _current_slot.set(slot)
        try:
            if handler is not None:
                result = handler(event)
            if result is not None and inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._report(exc, event)
            return exc
        finally:
            if slot.held:
                slot.held = False
                self._slots.release()
        return None

    def _report(self, exc: BaseException, event: Event) -> None:
        log.error("event handler failed on %s", type(event).__name__, exc_info=exc)
        if self.on_error is not None:
            try:
                self.on_error(exc, event)
            except Exception:
                log.exception("on_error hook failed")

    def _resolve_waiters(self, event: Event) -> None:
        if not self._waiters:
            return
        keep: list[_Waiter] = []
        for waiter in self._waiters:
            if waiter.future.done():
                continue
            try:
                matched = isinstance(event, waiter.event_type) and (
                    waiter.filter is None or bool(waiter.filter(event))
                )
            except Exception as exc:
                waiter.future.set_exception(exc)
                continue
            if matched:
                waiter.future.set_result(event)
            else:
                keep.append(waiter)
        self._waiters = keep

    async def wait_for(
        self,
        event_type: type[E],
        filter: Predicate | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> E:
        """Wait for the next event of ``event_type`` passing ``filter`` and return it.

        Raises :class:`TimeoutError` after ``timeout`` seconds.
        """
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(event_type, filter, future)
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                event = await future
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        assert isinstance(event, event_type)
        return event

    def _others(self) -> list[asyncio.Task[BaseException | None]]:
        current = asyncio.current_task()
        return [task for task in self._tasks if task is not current]

    async def drain(self) -> None:
        """Wait until every running handler task (except the caller's own) has finished."""
        while others := self._others():
            await asyncio.gather(*others, return_exceptions=True)

    async def aclose(
        self,
        *,
        cancel: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> None:
        """Stop dispatching; cancel running handlers (``cancel``) or wait for them.

        Called from a handler, that handler itself is neither cancelled nor waited for.
        """
        self._closed = True
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.cancel()
        self._waiters.clear()
        if cancel:
            for task in self._others():
                task.cancel()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.drain()
        others = self._others()
        for task in others:
            task.cancel()
        if others:
            await asyncio.gather(*others, return_exceptions=True)

    def reopen(self) -> None:
        """Allow dispatching again after :meth:`aclose`."""
        self._closed = False


# The events of the topic modules (messages, receipts, groups, media, app state, history), so that
# ``wamd.events`` names every event a client emits. They are imported on first use: the topic
# modules import this one for :class:`Event`, and most programs touch only a few of them.
_TOPIC_MODULES: dict[str, tuple[str, ...]] = {
    "wamd.appstate.events": (
        "AppStateChange",
        "AppStateEvent",
        "AppStateSyncComplete",
        "Archive",
        "ClearChat",
        "Contact",
        "DeleteChat",
        "DeleteForMe",
        "LabelAssociation",
        "LabelEdit",
        "MarkChatAsRead",
        "Mute",
        "MutationEvent",
        "Pin",
        "PushName",
        "Star",
        "UnarchiveChatsSetting",
    ),
    "wamd.appstate.peer": ("OwnProtocolMessage",),
    "wamd.groups.events": (
        "GroupInfoChanged",
        "JoinedGroup",
    ),
    "wamd.history.events": ("HistorySync",),
    "wamd.media.events": ("MediaRetry",),
    "wamd.messaging.events": (
        "IdentityChanged",
        "Message",
        "Receipt",
        "ReceiptType",
        "UndecryptableMessage",
    ),
    "wamd.messaging.inbox": ("HandlerFailed",),
    "wamd.messaging.polls": ("PollVote",),
    "wamd.messaging.presence": (
        "ChatPresence",
        "Presence",
    ),
}
_TOPIC_EVENTS = {name: module for module, names in _TOPIC_MODULES.items() for name in names}


__getattr__, __dir__ = _lazy_names(__name__, _TOPIC_EVENTS)
