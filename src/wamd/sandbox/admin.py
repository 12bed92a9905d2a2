"""The sandbox's admin API: the operations a test (or a person) performs on the server.

The same operations are Python methods of :class:`SandboxAdmin` (``sandbox.admin``) and HTTP
endpoints under ``/admin`` taking and returning JSON:

=====================================  ==========================================================
``POST /admin/scan_qr``                ``{"qr": text, "phone": "15550001"}`` -> ``{"jid": ..}``
``POST /admin/enter_pairing_code``     ``{"phone": .., "code": "ABCD-EFGH"}`` -> ``{"jid": ..}``
``POST /admin/create_account``         ``{"phone": ..}`` -> the account
``POST /admin/kick``                   ``{"target": jid or phone}`` -> ``{"closed": n}``
``POST /admin/ban``                    ``{"phone": .., "seconds": 3600, "code": 101}``
``POST /admin/unban``                  ``{"phone": ..}``
``POST /admin/outdated``               ``{"phone": .., "outdated": true}``
``POST /admin/min_version``            ``{"version": [2, 3000, 0]}``
``POST /admin/remove_device``          ``{"jid": "15550001:1@s.whatsapp.net"}``
``POST /admin/replace_stream``         ``{"target": jid or phone}``
``POST /admin/stream_error``           ``{"target": .., "code": 503}``
``GET /admin/info``                    url, root public key (hex), connection counts
``GET /admin/accounts``                accounts with their devices
=====================================  ==========================================================

Errors answer HTTP 400 with ``{"error": message}``. The admin API has no authentication: the
sandbox listens on loopback by default and must not be exposed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from wamd.errors import InvalidJID, WamdError
from wamd.sandbox.login import failure, stream_error
from wamd.sandbox.session import Session
from wamd.sandbox.state import Account, Device
from wamd.types import JID, USER_SERVER

if TYPE_CHECKING:
    from wamd.sandbox.server import Sandbox

log = logging.getLogger("wamd.sandbox")

Target = JID | str
"""A device (JID, or its string form) or a whole account (a phone number)."""


def _account_json(account: Account, devices: list[Device]) -> dict[str, Any]:
    return {
        "phone": account.phone,
        "lid": f"{account.lid}@lid",
        "banned_until": account.banned_until,
        "outdated": account.outdated,
        "devices": [
            {
                "jid": str(JID(d.phone, USER_SERVER, device=d.device)),
                "key_index": d.key_index,
                "platform": d.platform,
                "push_name": d.push_name,
                "last_seen": d.last_seen,
            }
            for d in devices
        ],
    }


class SandboxAdmin:
    """Admin operations on a running sandbox (see the module docstring)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    # --- pairing ------------------------------------------------------------------------------

    async def scan_qr(self, qr_text: str, phone: str) -> JID:
        """The phone of ``phone`` scans a companion's QR code; returns the new device's JID."""
        return await self.sandbox.pairing.scan_qr(qr_text, phone)

    async def enter_pairing_code(self, phone: str, code: str) -> JID:
        """The user of ``phone`` types the companion's pairing code; returns the device's JID."""
        return await self.sandbox.pairing.enter_pairing_code(phone, code)

    async def create_account(self, phone: str) -> Account:
        """Create the account of ``phone`` (with its LID) without pairing anything."""
        return await self.sandbox.pairing.ensure_account(phone)

    # --- faults -------------------------------------------------------------------------------

    def _sessions(self, target: Target) -> list[Session]:
        if isinstance(target, str) and "@" not in target:
            digits = "".join(c for c in target if c.isdigit())
            return self.sandbox.sessions_of(digits)
        jid = target if isinstance(target, JID) else JID.parse(target)
        session = self.sandbox.session_for(jid)
        return [] if session is None else [session]

    async def kick(self, target: Target) -> int:
        """Drop the connections of a device or account without a word (like a network cut)."""
        sessions = self._sessions(target)
        for session in sessions:
            await session.close()
        return len(sessions)

    async def stream_error(self, target: Target, code: int) -> int:
        """Send ``<stream:error code=..>`` (e.g. 503, 515) and close."""
        sessions = self._sessions(target)
        for session in sessions:
            await session.close(stream_error(code))
        return len(sessions)

    async def replace_stream(self, target: Target) -> int:
        """End sessions with ``<conflict type="replaced"/>`` (as when another login took over)."""
        sessions = self._sessions(target)
        for session in sessions:
            await session.close(stream_error(conflict="replaced"))
        return len(sessions)

    async def ban(self, phone: str, seconds: int = 3600, code: int = 101) -> int:
        """Temporarily ban an account: its sessions end with ``<failure reason="402">`` and its
        logins are refused the same way until the ban expires."""
        account = await self._account(phone)
        until = int(self.sandbox.clock()) + max(1, seconds)
        await self.sandbox.state.update_account(account.phone, banned_until=until, ban_code=code)
        sessions = self.sandbox.sessions_of(account.phone)
        for session in sessions:
            await session.close(failure(402, code=str(code), expire=str(max(1, seconds))))
        return len(sessions)

    async def unban(self, phone: str) -> None:
        """Lift a ban."""
        account = await self._account(phone)
        await self.sandbox.state.update_account(account.phone, banned_until=0, ban_code=0)

    async def outdated(self, phone: str, outdated: bool = True) -> int:
        """Mark an account's clients outdated: sessions end with ``<failure reason="405">`` and
        logins are refused so until unmarked."""
        account = await self._account(phone)
        await self.sandbox.state.update_account(account.phone, outdated=int(outdated))
        sessions = self.sandbox.sessions_of(account.phone) if outdated else []
        for session in sessions:
            await session.close(failure(405))
        return len(sessions)

    def set_min_version(self, version: tuple[int, int, int]) -> None:
        """Refuse (405) clients whose app version is lower than ``version``."""
        self.sandbox.login.min_version = (int(version[0]), int(version[1]), int(version[2]))

    async def remove_device(self, jid: JID | str) -> bool:
        """Unlink a companion: it is forgotten, and its live session ends with
        ``<stream:error code="401"><conflict type="device_removed"/></stream:error>``."""
        device_jid = jid if isinstance(jid, JID) else JID.parse(jid)
        account_phone = await self._phone_of(device_jid)
        if account_phone is None:
            return False
        removed = await self.sandbox.state.remove_device(account_phone, device_jid.device)
        session = self.sandbox.session_for(device_jid)
        if session is not None:
            await session.close(stream_error(401, conflict="device_removed"))
        if removed:
            await self.sandbox.router.device_removed(account_phone, device_jid.device)
        return removed

    # --- introspection ------------------------------------------------------------------------

    async def accounts(self) -> list[dict[str, Any]]:
        """Every account with its devices (JSON-ready)."""
        return [
            _account_json(a, await self.sandbox.state.devices(a.phone))
            for a in await self.sandbox.state.accounts()
        ]

    def info(self) -> dict[str, Any]:
        """The sandbox's URLs, root key and connection counts (JSON-ready)."""
        return {
            "url": self.sandbox.url,
            "admin_url": self.sandbox.admin_url,
            "root_public_key": self.sandbox.root_public_key.hex(),
            "connections": len(self.sandbox.connections),
            "logged_in": [str(jid) for jid in self.sandbox.sessions],
        }

    async def _account(self, phone: str) -> Account:
        digits = "".join(c for c in str(phone) if c.isdigit())
        account = await self.sandbox.state.account(digits)
        if account is None:
            raise WamdError(f"no sandbox account for {phone}")
        return account

    async def _phone_of(self, jid: JID) -> str | None:
        if jid.server == USER_SERVER:
            return jid.user
        account = await self.sandbox.state.account_by_lid(jid.user)
        return None if account is None else account.phone

    # --- HTTP ---------------------------------------------------------------------------------

    def add_routes(self, app: web.Application, prefix: str) -> None:
        """Expose the operations under ``prefix`` on ``app``."""
        post: dict[str, Callable[[dict[str, Any]], Awaitable[Any]]] = {
            "scan_qr": lambda b: self._jid(self.scan_qr(b["qr"], b["phone"])),
            "enter_pairing_code": lambda b: self._jid(
                self.enter_pairing_code(b["phone"], b["code"])
            ),
            "create_account": self._http_create_account,
            "kick": lambda b: self._count(self.kick(b["target"])),
            "ban": lambda b: self._count(
                self.ban(b["phone"], int(b.get("seconds", 3600)), int(b.get("code", 101)))
            ),
            "unban": lambda b: self._done(self.unban(b["phone"])),
            "outdated": lambda b: self._count(
                self.outdated(b["phone"], bool(b.get("outdated", True)))
            ),
            "min_version": self._http_min_version,
            "remove_device": lambda b: self._removed(self.remove_device(b["jid"])),
            "replace_stream": lambda b: self._count(self.replace_stream(b["target"])),
            "stream_error": lambda b: self._count(self.stream_error(b["target"], int(b["code"]))),
        }
        for name, operation in post.items():
            app.router.add_post(f"{prefix}/{name}", self._endpoint(operation))
        app.router.add_get(f"{prefix}/info", self._get(self._http_info))
        app.router.add_get(f"{prefix}/accounts", self._get(self.accounts))

    @staticmethod
    def _endpoint(
        operation: Callable[[dict[str, Any]], Awaitable[Any]],
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            try:
                body = await request.json() if request.can_read_body else {}
                if not isinstance(body, dict):
                    raise ValueError("the request body must be a JSON object")
                result = await operation(body)
            except (WamdError, InvalidJID, ValueError, KeyError, TypeError) as exc:
                return web.json_response({"error": str(exc) or type(exc).__name__}, status=400)
            return web.json_response(result)

        return handle

    @staticmethod
    def _get(
        operation: Callable[[], Awaitable[Any]],
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            return web.json_response(await operation(), dumps=lambda o: json.dumps(o, indent=1))

        return handle

    async def _http_info(self) -> dict[str, Any]:
        return self.info()

    async def _http_create_account(self, body: dict[str, Any]) -> dict[str, Any]:
        account = await self.create_account(body["phone"])
        return _account_json(account, await self.sandbox.state.devices(account.phone))

    async def _http_min_version(self, body: dict[str, Any]) -> dict[str, Any]:
        version = body["version"]
        if not isinstance(version, list) or len(version) != 3:
            raise ValueError("version must be a list of three integers")
        self.set_min_version((int(version[0]), int(version[1]), int(version[2])))
        return {"min_version": list(self.sandbox.login.min_version)}

    @staticmethod
    async def _jid(result: Awaitable[JID]) -> dict[str, Any]:
        return {"jid": str(await result)}

    @staticmethod
    async def _count(result: Awaitable[int]) -> dict[str, Any]:
        return {"closed": await result}

    @staticmethod
    async def _done(result: Awaitable[None]) -> dict[str, Any]:
        await result
        return {"ok": True}

    @staticmethod
    async def _removed(result: Awaitable[bool]) -> dict[str, Any]:
        return {"removed": await result}
