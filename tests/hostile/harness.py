"""A hostile server against a real wamd client.

A running sandbox, two paired clients with a session between them, and stanzas injected
straight into the victim's connection from the server's side (the sandbox session's
``send``). The sandbox's IQ handlers can be swapped (``sandbox.router.add_iq``) to answer the
victim's requests with garbage.

After hostile input the tests check what the standards ask of the client: no untyped
exception reached a catch-all (the reader's "node handler failed", a background task's
"failed", asyncio's "exception was never retrieved"), the connection is the same one (no
reconnect: the reader survived), the Signal state stored is unchanged, the stanza was
answered (ack, nack or retry receipt), and a good message sent afterwards is delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from wamd import events
from wamd.binary import Node
from wamd.client import Client
from wamd.messaging.events import Message
from wamd.proto import e2e_pb2
from wamd.sandbox import Sandbox
from wamd.sandbox.server import DEFAULT_MODULES
from wamd.sandbox.session import Session
from wamd.sandbox.testing import pair, running_sandbox, server_info
from wamd.store import MemoryStore

VICTIM = "15557770001"
SENDER = "15557770002"

_ids = itertools.count(1)

Stored = dict[str, dict[str, bytes]]


def next_id() -> str:
    """A fresh id for an injected stanza."""
    return f"HOSTILE{next(_ids):06d}"


class Problems(logging.Handler):
    """Records what must never happen: an exception logged with its traceback at ERROR under
    ``wamd`` (a catch-all caught something untyped), and exceptions asyncio reports for
    tasks nobody awaited."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.loop_errors: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info is not None and record.levelno >= logging.ERROR:
            self.records.append(record)

    def loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.loop_errors.append(context)

    def describe(self) -> list[str]:
        out = [
            f"{r.name}: {r.getMessage()} ({r.exc_info[1]!r})" for r in self.records if r.exc_info
        ]
        out += [f"loop: {c.get('message')} {c.get('exception')!r}" for c in self.loop_errors]
        return out

    def clear(self) -> None:
        self.records.clear()
        self.loop_errors.clear()


@dataclass
class Duo:
    """The sandbox, the victim client (whose server turns hostile) and a friendly sender."""

    sandbox: Sandbox
    victim: Client
    sender: Client
    problems: Problems
    received: list[Message] = field(default_factory=list)
    all_events: list[events.Event] = field(default_factory=list)
    from_victim: list[Node] = field(default_factory=list)
    good: int = 0

    @property
    def session(self) -> Session:
        """The victim's session on the sandbox (the hostile server's end)."""
        assert self.victim.jid is not None
        session = self.sandbox.session_for(self.victim.jid)
        assert session is not None, "the victim is not connected"
        return session

    def watch(self) -> None:
        """Record every stanza the victim sends to the server (in :attr:`from_victim`)."""
        session = self.session
        original = session._stanza

        async def recording(node: Node) -> None:
            self.from_victim.append(node)
            await original(node)

        session._stanza = recording  # type: ignore[method-assign]

    def answers_to(self, stanza_id: str) -> list[Node]:
        """What the victim sent back about ``stanza_id`` (acks, receipts)."""
        return [n for n in self.from_victim if n.attrs.get("id") == stanza_id]

    async def inject(self, *nodes: Node) -> None:
        """Send ``nodes`` to the victim as its server."""
        session = self.session
        for node in nodes:
            await session.send(node)

    def stored(self) -> Stored:
        """The Signal state the victim has stored (sessions, identities, sender keys,
        one-time prekeys) and its message dedupe rows."""
        tables = self.victim.device.account._tables
        return {
            "sessions": dict(tables.sessions),
            "identities": dict(tables.identities),
            "sender_keys": {f"{g}|{s}": v for (g, s), v in tables.sender_keys.items()},
            "prekeys": {str(k): v.key_pair.public for k, (v, _) in tables.prekeys.items()},
            # message dedupe rows; receipts and notifications that are recorded (durable
            # inbox, wamd.messaging.notices) add rows keyed "tag/type/from", left out here
            "seen": {"|".join(k): b"" for k in tables.seen if "/" not in k[0]},
        }

    async def deliver_good(self, *, timeout: float = 20) -> Message:  # noqa: ASYNC109
        """The sender sends a text to the victim; returns the victim's Message event."""
        self.good += 1
        text = f"still alive {self.good}"
        assert self.victim.jid is not None
        await self.sender.send_message(
            self.victim.jid.to_non_ad(), e2e_pb2.Message(conversation=text)
        )
        async with asyncio.timeout(timeout):
            while True:
                for msg in self.received:
                    if msg.message.conversation == text:
                        return msg
                await asyncio.sleep(0.02)

    async def settle(self, seconds: float = 0.3) -> None:
        """Give the victim time to process what was injected."""
        await asyncio.sleep(seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.victim.messaging.idle(), 10)

    def disconnects(self) -> list[events.Event]:
        return [
            e
            for e in self.all_events
            if isinstance(e, (events.Disconnected, events.Reconnecting, events.LoggedOut))
        ]

    async def survived(self, before: Stored | None = None, *, label: str = "") -> Stored:
        """The victim is unhurt: nothing crashed, no reconnect, stored state unchanged (when
        ``before`` is given), and a good message still arrives. Returns the stored state
        after that good message (the ``before`` of the next check)."""
        await self.settle()
        if before is not None:
            after = self.stored()
            changed = [k for k in before if before[k] != after[k]]
            assert not changed, f"{label}: stored state changed: {changed}"
        assert not self.problems.describe(), f"{label}: {self.problems.describe()}"
        await self.deliver_good()
        assert not self.disconnects(), f"{label}: {self.disconnects()}"
        assert not self.problems.describe(), f"{label}: {self.problems.describe()}"
        await self.settle(0)
        return self.stored()


@contextlib.asynccontextmanager
async def duo() -> AsyncIterator[Duo]:
    """A sandbox with a victim and a sender, paired, with a session between them (the
    sender has messaged the victim once)."""
    problems = Problems()
    root = logging.getLogger("wamd")
    root.addHandler(problems)
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(problems.loop_error)
    try:
        # Without the phone's key share and history: the victim then has no session with its
        # own phone, so a send fails as a whole when the recipient's bundles are hostile.
        modules = tuple(m for m in DEFAULT_MODULES if m != "wamd.sandbox.phone_peer")
        async with running_sandbox(modules=modules) as sandbox:
            await sandbox.admin.create_account(SENDER)
            victim = Client(MemoryStore(), server=server_info(sandbox))
            sender = Client(MemoryStore(), server=server_info(sandbox))
            try:
                await pair(sandbox, victim, VICTIM)
                await pair(sandbox, sender, SENDER)
                d = Duo(sandbox, victim, sender, problems)
                victim.on(Message)(d.received.append)
                victim.on(events.Event)(d.all_events.append)
                d.watch()
                await d.deliver_good()
                await d.settle(0)
                yield d
            finally:
                await victim.close()
                await sender.close()
    finally:
        root.removeHandler(problems)
        loop.set_exception_handler(previous)
