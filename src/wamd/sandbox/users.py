"""Privacy settings, blocklists and status text in the sandbox.

Installs the ``privacy``, ``blocklist``, ``status`` and ``w:biz`` (business profiles: every
sandbox account is a personal one) IQ handlers over
:class:`wamd.users.server.UsersServer` (tables of the ``"users"`` component), replacing the
empty defaults of :mod:`wamd.sandbox.upkeep`.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from wamd.binary import Node
from wamd.sandbox.router import IQFailure, IQResult
from wamd.sandbox.session import Session
from wamd.users.server import COMPONENT, MIGRATIONS, UserRequestError, UsersServer

if TYPE_CHECKING:
    from wamd.sandbox.server import Sandbox

_servers: weakref.WeakKeyDictionary[Sandbox, UsersServer] = weakref.WeakKeyDictionary()


def server_of(sandbox: Sandbox) -> UsersServer:
    """The users server of a sandbox (admin and tests)."""
    return _servers[sandbox]


def install(sandbox: Sandbox) -> None:
    """Register the users schema and IQ handlers."""
    sandbox.state.register_schema(COMPONENT, MIGRATIONS)
    server = UsersServer(sandbox.state.run)
    _servers[sandbox] = server

    def phone_of(session: Session) -> str:
        if session.account is None:
            raise IQFailure(401, "not-authorized")
        return session.account.phone

    @sandbox.router.iq("privacy")
    async def privacy(session: Session, iq: Node) -> IQResult:
        try:
            return await server.handle_privacy(phone_of(session), iq)
        except UserRequestError as exc:
            raise IQFailure(exc.code, exc.text) from None

    @sandbox.router.iq("blocklist")
    async def blocklist(session: Session, iq: Node) -> IQResult:
        try:
            answer, _ = await server.handle_blocklist(phone_of(session), iq)
        except UserRequestError as exc:
            raise IQFailure(exc.code, exc.text) from None
        return answer

    @sandbox.router.iq("status")
    async def status(session: Session, iq: Node) -> IQResult:
        try:
            await server.handle_status(phone_of(session), iq, int(sandbox.clock()))
        except UserRequestError as exc:
            raise IQFailure(exc.code, exc.text) from None
        return None

    @sandbox.router.iq("w:biz")
    async def business_profile(session: Session, iq: Node) -> IQResult:
        # sandbox accounts are personal accounts: no profile for anyone asked about
        phone_of(session)
        if iq.child("business_profile") is None:
            raise IQFailure(400, "bad-request")
        return Node("business_profile", {"v": "244"})
