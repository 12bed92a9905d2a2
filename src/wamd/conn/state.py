"""The connection's states and the transitions allowed between them (sans-I/O)."""

from __future__ import annotations

import enum
from collections.abc import Callable

__all__ = ["ConnState", "InvalidTransition", "StateMachine"]


class ConnState(enum.Enum):
    """Where a client's connection stands."""

    DISCONNECTED = "disconnected"
    """No socket; nothing scheduled (initial state, after ``disconnect()`` or a terminal cause)."""
    CONNECTING = "connecting"
    """Opening the WebSocket and running the Noise handshake."""
    PAIRING = "pairing"
    """Handshake done with a registration payload; waiting for QR scan or pairing code."""
    LOGGING_IN = "logging_in"
    """Handshake done with a login payload; waiting for ``<success>`` and post-login setup."""
    CONNECTED = "connected"
    """Logged in and ready."""
    WAITING_RECONNECT = "waiting_reconnect"
    """Disconnected unexpectedly; an automatic reconnect is scheduled."""


_ALLOWED: dict[ConnState, frozenset[ConnState]] = {
    ConnState.DISCONNECTED: frozenset({ConnState.CONNECTING}),
    ConnState.CONNECTING: frozenset(
        {
            ConnState.PAIRING,
            ConnState.LOGGING_IN,
            ConnState.DISCONNECTED,
            ConnState.WAITING_RECONNECT,
        }
    ),
    ConnState.PAIRING: frozenset(
        {ConnState.CONNECTING, ConnState.DISCONNECTED, ConnState.WAITING_RECONNECT}
    ),
    ConnState.LOGGING_IN: frozenset(
        {
            ConnState.CONNECTED,
            ConnState.CONNECTING,
            ConnState.DISCONNECTED,
            ConnState.WAITING_RECONNECT,
        }
    ),
    ConnState.CONNECTED: frozenset(
        {ConnState.CONNECTING, ConnState.DISCONNECTED, ConnState.WAITING_RECONNECT}
    ),
    ConnState.WAITING_RECONNECT: frozenset({ConnState.CONNECTING, ConnState.DISCONNECTED}),
}


class InvalidTransition(RuntimeError):
    """A state change the table does not allow (a bug in the driver, not bad input)."""


class StateMachine:
    """Holds the current :class:`ConnState` and enforces the transition table.

    ``listener(old, new)`` is called after every change.
    """

    def __init__(self, listener: Callable[[ConnState, ConnState], None] | None = None) -> None:
        self._state = ConnState.DISCONNECTED
        self._listener = listener

    @property
    def state(self) -> ConnState:
        """The current state."""
        return self._state

    def can(self, new: ConnState) -> bool:
        """Whether moving to ``new`` is allowed now (staying put always is)."""
        return new is self._state or new in _ALLOWED[self._state]

    def to(self, new: ConnState) -> None:
        """Move to ``new``; raises :class:`InvalidTransition` when the table forbids it."""
        old = self._state
        if new is old:
            return
        if new not in _ALLOWED[old]:
            raise InvalidTransition(f"{old.value} -> {new.value}")
        self._state = new
        if self._listener is not None:
            self._listener(old, new)
