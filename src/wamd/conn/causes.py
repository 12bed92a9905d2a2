"""What a ``<stream:error>`` or ``<failure>`` from the server means for the client (sans-I/O).

Each is mapped to an :class:`Outcome`: the event to emit, whether the device's stored
credentials must be wiped, and what the driver does next (:class:`Action`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from wamd.binary import Node
from wamd.events import (
    ClientOutdated,
    ConnectFailure,
    Event,
    LoggedOut,
    LogoutReason,
    StreamError,
    StreamReplaced,
    TemporaryBan,
)

__all__ = ["Action", "Outcome", "classify_failure", "classify_stream_error", "first_child"]


class Action(enum.Enum):
    """What the driver does after the server ended the stream."""

    RESTART = "restart"
    """Reconnect at once, without backoff (515 after pairing; login follows)."""
    RECONNECT = "reconnect"
    """Reconnect with backoff (when automatic reconnect is enabled)."""
    STOP = "stop"
    """Stay disconnected; the event tells the application why."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The classification of one stream end."""

    action: Action
    event: Event | None = None
    wipe: bool = False


def first_child(node: Node, tag: str) -> Node | None:
    """The first child of ``node`` with ``tag`` (None when absent or content is not a list)."""
    if isinstance(node.content, list):
        for child in node.content:
            if child.tag == tag:
                return child
    return None


def _str_attr(node: Node, key: str) -> str:
    value = node.attrs.get(key)
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _int_attr(node: Node, key: str) -> int | None:
    try:
        return int(_str_attr(node, key))
    except ValueError:
        return None


def classify_stream_error(node: Node) -> Outcome:
    """Classify ``<stream:error code=.. >[<conflict type=..>]</stream:error>``."""
    code = _str_attr(node, "code")
    conflict = first_child(node, "conflict")
    conflict_type = _str_attr(conflict, "type") if conflict is not None else ""
    if code == "515":
        return Outcome(Action.RESTART)
    if conflict_type == "device_removed" or (code == "401" and conflict is not None):
        return Outcome(Action.STOP, LoggedOut(LogoutReason.LOGGED_OUT, on_connect=False), True)
    if conflict_type == "replaced":
        return Outcome(Action.STOP, StreamReplaced())
    if code == "503":
        return Outcome(Action.RECONNECT)
    return Outcome(Action.RECONNECT, StreamError(code or "unknown", node))


_LOGGED_OUT_REASONS = {int(r) for r in LogoutReason}


def classify_failure(node: Node) -> Outcome:
    """Classify ``<failure reason=.. [code=..] [expire=..] [message=..]/>`` (login refused)."""
    reason = _int_attr(node, "reason")
    if reason is None:
        reason = 0
    if reason in _LOGGED_OUT_REASONS:
        return Outcome(Action.STOP, LoggedOut(LogoutReason(reason), on_connect=True), True)
    if reason == 402:
        code = _int_attr(node, "code") or 0
        expire = _int_attr(node, "expire") or 0
        return Outcome(Action.STOP, TemporaryBan(code, max(0, expire)))
    if reason == 405:
        return Outcome(Action.STOP, ClientOutdated())
    if reason in (500, 503):
        return Outcome(Action.RECONNECT)
    return Outcome(Action.STOP, ConnectFailure(reason, _str_attr(node, "message"), node))
