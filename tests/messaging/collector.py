"""Test helper: the events a client received, awaited by type and predicate."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from wamd.client import Client
from wamd.events import Event
from wamd.messaging import Message

E = TypeVar("E", bound=Event)


class Collector:
    """Collects a client's events of the given types; :meth:`get` waits for one that
    matches (events read past meanwhile are kept for later calls)."""

    def __init__(self, client: Client, *kinds: type[Event], wait: float = 30.0) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.kept: list[Event] = []
        self.wait = wait
        for kind in kinds or (Event,):
            client.add_event_handler(kind, self.queue.put_nowait)

    async def get(self, kind: type[E], match: Callable[[E], bool] = lambda e: True) -> E:
        for i, event in enumerate(self.kept):
            if isinstance(event, kind) and match(event):
                del self.kept[i]
                return event
        async with asyncio.timeout(self.wait):
            while True:
                event = await self.queue.get()
                if isinstance(event, kind) and match(event):
                    return event
                self.kept.append(event)

    async def message(self, message_id: Any) -> Message:
        """The received (not our own) message with this id."""
        return await self.get(Message, lambda e: e.id == message_id and not e.from_me)
