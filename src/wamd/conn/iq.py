"""Matching requests to their answers by id: IQs (``<iq type=result|error>``) and acks.

The reader hands every incoming node to :meth:`PendingRequests.resolve` first; a node that
answers a waiting request completes its future and goes no further (whatsmeow's
handleFrame model). :func:`request` sends an IQ and waits for its answer with a timeout,
raising :class:`~wamd.errors.IQError` for ``type="error"`` and :class:`~wamd.errors.IQTimeout`
when no answer comes.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Awaitable, Callable

from wamd.binary import Node
from wamd.errors import IQError, IQTimeout, NotConnected
from wamd.events import lend_slot

__all__ = ["ANSWER_TAGS", "PendingRequests", "iq_error_of", "request"]

SendNode = Callable[[Node], Awaitable[None]]

ANSWER_TAGS = frozenset({"iq", "ack"})
"""The tags of the nodes that may answer a request."""


class PendingRequests:
    """Ids of requests sent and the futures waiting for their answers."""

    def __init__(self, prefix: str | None = None) -> None:
        if prefix is None:
            a, b = secrets.token_bytes(2)
            prefix = f"{a}.{b}-"
        self._prefix = prefix
        self._counter = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[Node]] = {}

    def new_id(self) -> str:
        """A fresh request id, unique for this client."""
        return f"{self._prefix}{next(self._counter)}"

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._waiting

    def expect(self, request_id: str) -> asyncio.Future[Node]:
        """Register interest in the answer to ``request_id`` and return its future."""
        if request_id in self._waiting:
            raise ValueError(f"a request with id {request_id!r} is already waiting")
        future: asyncio.Future[Node] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        return future

    def forget(self, request_id: str) -> None:
        """Stop waiting for ``request_id`` (its future is cancelled if still pending)."""
        future = self._waiting.pop(request_id, None)
        if future is not None and not future.done():
            future.cancel()

    def resolve(self, node: Node) -> bool:
        """Complete the request ``node`` answers; True when it did (the node is consumed).

        Only ``<iq type="result|error">`` and ``<ack>`` nodes answer requests.
        """
        if node.tag not in ANSWER_TAGS:
            return False
        if node.tag == "iq" and node.attrs.get("type") not in ("result", "error"):
            return False
        request_id = node.attrs.get("id")
        if not isinstance(request_id, str):
            return False
        future = self._waiting.pop(request_id, None)
        if future is None:
            return False
        if not future.done():
            future.set_result(node)
        return True

    def fail_all(self, error: BaseException | None = None) -> None:
        """Fail every waiting request (the connection is gone)."""
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(error or NotConnected("connection closed"))


def iq_error_of(node: Node) -> IQError:
    """The :class:`IQError` an ``<iq type="error">`` answer carries."""
    code, text = 0, ""
    if isinstance(node.content, list):
        for child in node.content:
            if child.tag == "error":
                raw_code = child.attrs.get("code")
                try:
                    code = int(raw_code) if isinstance(raw_code, str) else 0
                except ValueError:
                    code = 0
                raw_text = child.attrs.get("text")
                text = raw_text if isinstance(raw_text, str) else ""
                break
    return IQError(code, text, node)


async def request(
    pending: PendingRequests,
    send: SendNode,
    node: Node,
    *,
    timeout: float,  # noqa: ASYNC109
) -> Node:
    """Send ``node`` (an ``id`` is assigned when missing) and await its answer.

    Returns the answer with the same id (an ``<iq type="result">`` or an ``<ack>``). Raises
    :class:`IQError` for ``type="error"``, :class:`IQTimeout` after ``timeout`` seconds,
    :class:`NotConnected` when the connection drops first. While waiting, the caller's
    handler slot (if any) is lent back to the pool.
    """
    request_id = node.attrs.get("id")
    if not isinstance(request_id, str) or not request_id:
        request_id = pending.new_id()
        node.attrs["id"] = request_id
    future = pending.expect(request_id)
    try:
        await send(node)
        async with lend_slot():
            try:
                async with asyncio.timeout(timeout):
                    answer = await future
            except TimeoutError:
                raise IQTimeout(f"no answer to {node.tag} {request_id} in {timeout:g} s") from None
    finally:
        pending.forget(request_id)
    if answer.tag == "iq" and answer.attrs.get("type") == "error":
        raise iq_error_of(answer)
    return answer
