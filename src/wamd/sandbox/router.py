"""Where incoming stanzas go: the handler registry every sandbox area module plugs into.

* **IQ handlers** are keyed by ``(xmlns, first child tag)``, with ``"*"`` as the child
  wildcard: ``router.add_iq("encrypt", "count", handler)``. A handler returns the content of
  the ``type="result"`` answer (a node, a list of nodes, or ``None`` for an empty result),
  raises :class:`IQFailure` for a ``type="error"`` answer, or returns :data:`NO_REPLY` when it
  answers (or defers answering) itself. Unknown IQs get a 501 error answer and a warning in the
  log (never silence: an unanswered query stalls a client for a minute).
* **Stanza handlers** are keyed by ``(tag, first child tag)``, ``"*"`` again the wildcard:
  ``router.add_stanza("message", "*", handler)``.
* **Hooks**: ``on_active`` runs when a logged-in session becomes active (after the client's
  ``<iq xmlns="passive"><active/></iq>``) and returns how many offline stanzas it delivered (the
  total is announced with ``<ib><offline count=N/></ib>``); ``on_disconnect`` runs when a
  session ends; ``on_paired`` runs when a new companion device has been paired.

Handlers of one session run one at a time, in arrival order, in the session's worker task —
never in its reader task — so a handler may ``await session.query(...)`` (a server -> client IQ)
without deadlocking. Handlers must not block for long: other stanzas of that session wait.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final, TypeAlias

from wamd.binary import AttrValue, Node
from wamd.errors import AttributeInvalid, AttributeMissing, DecodeError, InvalidJID, MalformedNode
from wamd.types import SERVER_JID

if TYPE_CHECKING:
    from wamd.sandbox.session import Session
    from wamd.sandbox.state import Device

log = logging.getLogger("wamd.sandbox")

WILDCARD: Final = "*"


class _NoReply:
    def __repr__(self) -> str:
        return "NO_REPLY"


BAD_INPUT: Final = (MalformedNode, AttributeMissing, AttributeInvalid, InvalidJID, DecodeError)
"""What a handler raises for a stanza it cannot read: answered (IQs) or dropped, not a bug."""

NO_REPLY: Final = _NoReply()
"""Returned by an IQ handler that sends its answer itself."""

IQResult: TypeAlias = "Node | list[Node] | _NoReply | None"
IQHandler: TypeAlias = "Callable[[Session, Node], Awaitable[IQResult]]"
StanzaHandler: TypeAlias = "Callable[[Session, Node], Awaitable[None]]"
ActiveHook: TypeAlias = "Callable[[Session], Awaitable[int]]"
SessionHook: TypeAlias = "Callable[[Session], Awaitable[None]]"
PairedHook: TypeAlias = "Callable[[Device], Awaitable[None]]"
RemovedHook: TypeAlias = "Callable[[str, int], Awaitable[None]]"


class IQFailure(Exception):
    """Raised by an IQ handler: answer with ``<iq type="error"><error code text/></iq>``."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text


def first_child_tag(node: Node) -> str | None:
    """The tag of the first child node, if any."""
    content = node.content
    if isinstance(content, list) and content:
        return content[0].tag
    return None


def iq_result(iq: Node, content: Node | list[Node] | None = None) -> Node:
    """The ``type="result"`` answer to ``iq``."""
    attrs: dict[str, AttrValue] = {
        "id": iq.attrs.get("id", ""),
        "type": "result",
        "from": iq.attrs.get("to", SERVER_JID),
    }
    if isinstance(content, Node):
        content = [content]
    return Node("iq", attrs, content or None)


def iq_error(iq: Node, code: int, text: str) -> Node:
    """The ``type="error"`` answer to ``iq``."""
    attrs: dict[str, AttrValue] = {
        "id": iq.attrs.get("id", ""),
        "type": "error",
        "from": iq.attrs.get("to", SERVER_JID),
    }
    return Node("iq", attrs, [Node("error", {"code": str(code), "text": text})])


class Router:
    """The handler registry (see the module docstring)."""

    def __init__(self) -> None:
        self._iq: dict[tuple[str, str], IQHandler] = {}
        self._stanza: dict[tuple[str, str], StanzaHandler] = {}
        self.active_hooks: list[ActiveHook] = []
        self.disconnect_hooks: list[SessionHook] = []
        self.paired_hooks: list[PairedHook] = []
        self.removed_hooks: list[RemovedHook] = []

    def add_iq(self, xmlns: str, child: str, handler: IQHandler) -> None:
        """Handle IQs of namespace ``xmlns`` whose first child is ``child`` (or ``"*"``)."""
        self._iq[(xmlns, child)] = handler

    def iq(self, xmlns: str, child: str = WILDCARD) -> Callable[[IQHandler], IQHandler]:
        """Decorator form of :meth:`add_iq`."""

        def register(handler: IQHandler) -> IQHandler:
            self.add_iq(xmlns, child, handler)
            return handler

        return register

    def add_stanza(self, tag: str, child: str, handler: StanzaHandler) -> None:
        """Handle stanzas ``<tag>`` whose first child is ``child`` (or ``"*"``)."""
        self._stanza[(tag, child)] = handler

    def stanza(self, tag: str, child: str = WILDCARD) -> Callable[[StanzaHandler], StanzaHandler]:
        """Decorator form of :meth:`add_stanza`."""

        def register(handler: StanzaHandler) -> StanzaHandler:
            self.add_stanza(tag, child, handler)
            return handler

        return register

    def on_active(self, hook: ActiveHook) -> ActiveHook:
        """Register a hook run when a session becomes active (decorator-friendly)."""
        self.active_hooks.append(hook)
        return hook

    def on_disconnect(self, hook: SessionHook) -> SessionHook:
        """Register a hook run when a session ends (decorator-friendly)."""
        self.disconnect_hooks.append(hook)
        return hook

    def on_paired(self, hook: PairedHook) -> PairedHook:
        """Register a hook run after a new companion device is paired (decorator-friendly)."""
        self.paired_hooks.append(hook)
        return hook

    def on_removed(self, hook: RemovedHook) -> RemovedHook:
        """Register a hook run with ``(phone, device)`` after a companion was unlinked."""
        self.removed_hooks.append(hook)
        return hook

    async def device_removed(self, phone: str, device: int) -> None:
        """Run the ``on_removed`` hooks (errors are logged)."""
        for hook in self.removed_hooks:
            try:
                await hook(phone, device)
            except Exception:
                log.exception("device-removed hook failed for %s:%d", phone, device)

    def iq_handler(self, xmlns: str, child: str | None) -> IQHandler | None:
        """The handler for an IQ, if one is registered."""
        if child is not None:
            handler = self._iq.get((xmlns, child))
            if handler is not None:
                return handler
        return self._iq.get((xmlns, WILDCARD))

    def stanza_handler(self, tag: str, child: str | None) -> StanzaHandler | None:
        """The handler for a stanza, if one is registered."""
        if child is not None:
            handler = self._stanza.get((tag, child))
            if handler is not None:
                return handler
        return self._stanza.get((tag, WILDCARD))

    async def dispatch(self, session: Session, node: Node) -> None:
        """Run the handler of ``node`` (answering IQs)."""
        child = first_child_tag(node)
        if node.tag == "iq":
            await self._dispatch_iq(session, node, child)
            return
        handler = self.stanza_handler(node.tag, child)
        if handler is None:
            log.debug("no handler for <%s> (child %s) from %s", node.tag, child, session)
            return
        await handler(session, node)

    async def _dispatch_iq(self, session: Session, iq: Node, child: str | None) -> None:
        kind = iq.attrs.get("type")
        if kind in ("result", "error"):
            log.debug("unsolicited iq %s from %s", kind, session)
            return
        xmlns = str(iq.attrs.get("xmlns", ""))
        handler = self.iq_handler(xmlns, child)
        if handler is None:
            log.warning("unhandled iq xmlns=%r child=%r from %s", xmlns, child, session)
            await session.send(iq_error(iq, 501, "feature-not-implemented"))
            return
        try:
            result = await handler(session, iq)
        except IQFailure as failure:
            await session.send(iq_error(iq, failure.code, failure.text))
            return
        except BAD_INPUT as exc:
            # a hostile or broken client: a typed error answer, never a stalled query
            log.info("bad iq xmlns=%r child=%r from %s: %s", xmlns, child, session, exc)
            await session.send(iq_error(iq, 400, "bad-request"))
            return
        except Exception:
            await session.send(iq_error(iq, 500, "internal-server-error"))
            raise
        if isinstance(result, _NoReply):
            return
        await session.send(iq_result(iq, result))
