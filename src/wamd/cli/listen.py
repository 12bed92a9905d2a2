"""``wamd listen``: log in and print incoming events as JSON lines on stdout.

One JSON object per line, ``{"event": "Message", ...}``, with the event's fields (JIDs as
strings, times as Unix seconds, bytes as hex). Messages also get ``kind`` (``text``,
``reaction``, ``edit``, ``poll``...), ``text`` and, when present, ``quoted``, ``mentions``,
``reaction``, ``edit``, ``revoke`` and ``poll``. Connection events are printed too. It runs
until interrupted, or until ``--count`` events were printed or ``--for`` seconds passed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import enum
import json
import signal
import sys
from datetime import datetime
from typing import Any

from wamd.cli.client_options import add_client_command, connect_logged_in, open_client
from wamd.client import Client
from wamd.events import QR, Event
from wamd.messaging import content
from wamd.messaging.polls import poll_creation
from wamd.proto import e2e_pb2
from wamd.types import JID

_SKIP = frozenset({"raw", "message"})


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``listen`` subcommand."""
    parser = add_client_command(
        subparsers,
        "listen",
        "print incoming messages and other events as JSON lines",
        __doc__,
        _listen,
    )
    parser.add_argument(
        "--count", type=int, default=0, help="stop after printing this many events (0: never)"
    )
    parser.add_argument(
        "--for",
        dest="duration",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="stop after this many seconds (0: never)",
    )
    parser.add_argument("--messages-only", action="store_true", help="print only received messages")


def _plain(value: Any) -> Any:
    if isinstance(value, JID):
        return str(value)
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def describe_message(message: e2e_pb2.Message) -> dict[str, Any]:
    """The JSON fields ``wamd listen`` prints for a message's content."""
    out: dict[str, Any] = {"kind": content.kind_of(message), "text": content.text_of(message)}
    quoted = content.quoted_of(message)
    if quoted is not None:
        out["quoted"] = {"id": quoted.id, "sender": _plain(quoted.sender), "text": quoted.text}
    mentions = content.mentions_of(message)
    if mentions:
        out["mentions"] = [str(m) for m in mentions]
    reaction = content.reaction_of(message)
    if reaction is not None:
        out["reaction"] = {
            "target": reaction.target_id,
            "emoji": reaction.emoji,
            "removed": reaction.removed,
        }
    edit = content.edit_of(message)
    if edit is not None:
        out["edit"] = {"target": edit.target_id, "text": edit.text}
    revoke = content.revoke_of(message)
    if revoke is not None:
        out["revoke"] = {"target": revoke.target_id, "by_admin": revoke.by_admin}
    creation = poll_creation(message)
    if creation is not None:
        out["poll"] = {
            "name": creation.name,
            "options": [o.option_name for o in creation.options],
            "selectable": creation.selectable_options_count,
        }
    expiration = content.expiration_of(message)
    if expiration is not None:
        out["expiration"] = expiration
    return out


def event_json(event: Event) -> dict[str, Any]:
    """An event as the JSON object ``wamd listen`` prints."""
    out: dict[str, Any] = {"event": type(event).__name__}
    if dataclasses.is_dataclass(event):
        for f in dataclasses.fields(event):
            if f.name not in _SKIP:
                out[f.name] = _plain(getattr(event, f.name))
    message = getattr(event, "message", None)
    if isinstance(message, e2e_pb2.Message):
        out.update(describe_message(message))
    return out


async def _listen(args: argparse.Namespace) -> int:
    async with open_client(args) as client:
        return await _print_events(args, client)


async def _print_events(args: argparse.Namespace, client: Client) -> int:
    stop = asyncio.Event()
    printed = 0

    def show(event: Event) -> None:
        nonlocal printed
        if isinstance(event, QR):
            return
        if args.messages_only and type(event).__name__ != "Message":
            return
        sys.stdout.write(json.dumps(event_json(event), ensure_ascii=False) + "\n")
        sys.stdout.flush()
        printed += 1
        if args.count and printed >= args.count:
            stop.set()

    client.add_event_handler(Event, show)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await connect_logged_in(client, args.timeout)
    print(f"wamd: listening as {client.jid} (Ctrl-C stops)", file=sys.stderr, flush=True)
    ended = asyncio.ensure_future(client.run_until_disconnected())
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait(
            {ended, waiter}, timeout=args.duration or None, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for task in (ended, waiter):
            task.cancel()
    return 0
