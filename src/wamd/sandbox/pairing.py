"""Pairing new companions: pair-device refs, QR scans, phone-number codes, pair-success, 515.

An unpaired client (registration payload) gets ``<iq type=set><pair-device><ref/>x6`` (the first
ref lives 60 s, each next one 20 s more) and shows them as QR codes. The simulated phone then
completes pairing when the admin API

* scans one of those QR texts (:meth:`Pairing.scan_qr`), or
* enters the 8-character code a companion obtained with ``link_code_companion_reg``
  (:meth:`Pairing.enter_pairing_code`, running the primary side of the code exchange).

Completion: the account is created on first pairing (with its LID), a device id and key index
are allocated, the phone signs the companion identity (``<pair-success>``), the companion must
countersign it correctly (``<pair-device-sign>``), the device is stored, and the session ends
with ``<stream:error code="515"/>`` so that the companion logs in.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wamd.binary import Node
from wamd.errors import NotConnected, PairingError
from wamd.sandbox import phone as phone_mod
from wamd.sandbox.login import stream_error
from wamd.sandbox.router import NO_REPLY, IQFailure, IQResult, iq_result
from wamd.sandbox.session import Session, SessionState
from wamd.sandbox.state import (
    Account,
    Device,
    account_by_phone,
    allocate_device,
    insert_account,
    insert_device,
)
from wamd.types import JID, LID_SERVER, SERVER_JID, USER_SERVER

if TYPE_CHECKING:
    from wamd.sandbox.server import Sandbox

log = logging.getLogger("wamd.sandbox")

REF_COUNT = 6
FIRST_REF_TTL = 60
NEXT_REF_TTL = 20
PAIRING_TIMEOUT = 30.0
"""Seconds a companion has to countersign ``<pair-success>`` (and a code pairing to finish)."""
PRIMARY_PLATFORM = "android"


def normalize_phone(phone: str) -> str:
    """The digits of a phone number; :class:`PairingError` when it cannot be one."""
    digits = "".join(c for c in str(phone) if c.isdigit())
    if not 5 <= len(digits) <= 20 or digits.startswith("0"):
        raise PairingError(f"not an international phone number: {phone!r}")
    return digits


@dataclass(slots=True)
class LinkCodeRequest:
    """A companion waiting for the user to type its pairing code on the phone."""

    session: Session
    phone: str
    ref: bytes
    wrapped_companion_ephemeral: bytes = field(repr=False)
    platform_display: str
    primary: phone_mod.PrimaryLinkCode | None = None
    result: asyncio.Future[JID] | None = None


class Pairing:
    """The pairing flows of one sandbox (see the module docstring)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._refs: dict[str, tuple[Session, int]] = {}
        self._codes: dict[str, LinkCodeRequest] = {}
        sandbox.router.add_iq("md", "link_code_companion_reg", self._link_code_iq)

    # --- accounts -----------------------------------------------------------------------------

    async def ensure_account(self, phone: str) -> Account:
        """The account of ``phone``, created (with a fresh LID and phone keys) if needed."""
        phone = normalize_phone(phone)
        now = int(self.sandbox.clock())

        def get_or_create(db: sqlite3.Connection) -> Account:
            existing = account_by_phone(db, phone)
            if existing is not None:
                return existing
            while True:
                lid = phone_mod.new_lid()
                if db.execute("SELECT 1 FROM accounts WHERE lid = ?", (lid,)).fetchone() is None:
                    break
            account = phone_mod.new_account(phone, lid, now)
            insert_account(db, account)
            return account

        return await self.sandbox.state.run(get_or_create)

    # --- QR -----------------------------------------------------------------------------------

    async def start(self, session: Session) -> None:
        """Issue pair-device refs to a registering session."""
        now = int(self.sandbox.clock())
        refs = [f"2@{secrets.token_urlsafe(36)}" for _ in range(REF_COUNT)]
        assert session.client_static is not None
        noise = session.client_static
        rows = []
        for index, ref in enumerate(refs):
            expires = now + FIRST_REF_TTL + NEXT_REF_TTL * index
            self._refs[ref] = (session, expires)
            rows.append((ref, noise, now, expires))

        def record(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM pair_refs WHERE expires < ?", (now,))
            db.executemany(
                "INSERT OR REPLACE INTO pair_refs (ref, noise_public, issued, expires) "
                "VALUES (?, ?, ?, ?)",
                rows,
            )

        await self.sandbox.state.run(record)
        iq = Node(
            "iq",
            {"id": session.next_id(), "type": "set", "from": SERVER_JID, "xmlns": "md"},
            [Node("pair-device", {}, [Node("ref", {}, ref.encode()) for ref in refs])],
        )
        session.spawn(self._issue(session, iq, FIRST_REF_TTL + NEXT_REF_TTL * REF_COUNT))

    async def _issue(self, session: Session, iq: Node, lifetime: float) -> None:
        try:
            await session.query(iq)
        except (TimeoutError, NotConnected):
            return
        await asyncio.sleep(lifetime)
        if session.state is SessionState.REGISTERING and "pairing.busy" not in session.data:
            log.info("%s: pairing refs expired", session)
            await session.close()

    async def scan_qr(self, qr_text: str, phone: str) -> JID:
        """The phone of ``phone`` scans ``qr_text``: pair that companion; return its device JID.

        Raises :class:`PairingError` when the QR is malformed, expired, unknown, or does not
        match its connection, or when the companion fails to countersign.
        """
        scanned = phone_mod.parse_qr(qr_text)
        entry = self._refs.get(scanned.ref)
        if entry is None:
            raise PairingError("no connected companion issued this QR code")
        session, expires = entry
        if self.sandbox.clock() > expires:
            raise PairingError("this QR code has expired")
        registration = session.registration
        if registration is None or session.state is not SessionState.REGISTERING:
            raise PairingError("the companion of this QR code is no longer waiting")
        if scanned.noise_public != registration.noise_public:
            raise PairingError("QR noise key does not match the companion's connection")
        if scanned.identity_public != registration.identity_public:
            raise PairingError("QR identity key does not match the companion's registration")
        jid = await self._complete(session, phone, scanned.adv_secret)
        await session.close(stream_error(515))
        return jid

    # --- phone-number code --------------------------------------------------------------------

    async def _link_code_iq(self, session: Session, iq: Node) -> IQResult:
        reg = iq.require_child("link_code_companion_reg")
        stage = reg.attr_str("stage", "")
        if stage == "companion_hello":
            return await self._companion_hello(session, reg)
        if stage == "companion_finish":
            return await self._companion_finish(session, iq, reg)
        raise IQFailure(400, "bad-request")

    async def _companion_hello(self, session: Session, reg: Node) -> IQResult:
        registration = session.registration
        if registration is None or session.state is not SessionState.REGISTERING:
            raise IQFailure(400, "bad-request")
        try:
            phone = normalize_phone(reg.attr_jid("jid").user)
            wrapped = reg.child_bytes("link_code_pairing_wrapped_companion_ephemeral_pub")
            auth_key = reg.child_bytes("companion_server_auth_key_pub")
        except Exception as exc:
            log.info("%s: malformed companion_hello: %s", session, exc)
            raise IQFailure(400, "bad-request") from exc
        if len(wrapped) != 80 or auth_key != registration.noise_public:
            raise IQFailure(400, "bad-request")
        display = reg.child("companion_platform_display")
        ref = secrets.token_urlsafe(24).encode()
        previous = self._codes.get(phone)
        if previous is not None and previous.result is not None and not previous.result.done():
            previous.result.set_exception(PairingError("superseded by a newer pairing request"))
        self._codes[phone] = LinkCodeRequest(
            session=session,
            phone=phone,
            ref=ref,
            wrapped_companion_ephemeral=wrapped,
            platform_display=display.content_bytes().decode(errors="replace") if display else "",
        )
        return Node("link_code_companion_reg", {}, [Node("link_code_pairing_ref", {}, ref)])

    async def enter_pairing_code(self, phone: str, code: str, seconds: float = 60.0) -> JID:
        """The user types ``code`` on the phone of ``phone``: pair the waiting companion.

        Returns the new device JID once the companion has logged the pairing; raises
        :class:`PairingError` when no companion waits for this phone or the code is wrong.
        """
        phone = normalize_phone(phone)
        request = self._codes.get(phone)
        if request is None or not request.session.is_open:
            raise PairingError(f"no companion is waiting for a pairing code for {phone}")
        if request.primary is not None:
            raise PairingError("a code was already entered for this pairing request")
        account = await self.ensure_account(phone)
        request.primary = await asyncio.to_thread(
            phone_mod.PrimaryLinkCode, account, code, request.wrapped_companion_ephemeral
        )
        request.result = asyncio.get_running_loop().create_future()
        notification = Node(
            "notification",
            {
                "from": SERVER_JID,
                "id": request.session.next_id(),
                "t": str(int(self.sandbox.clock())),
                "type": "link_code_companion_reg",
            },
            [
                Node(
                    "link_code_companion_reg",
                    {"stage": "primary_hello"},
                    [
                        Node("link_code_pairing_ref", {}, request.ref),
                        Node("primary_identity_pub", {}, request.primary.primary_identity_public),
                        Node(
                            "link_code_pairing_wrapped_primary_ephemeral_pub",
                            {},
                            request.primary.wrapped_primary_ephemeral,
                        ),
                    ],
                )
            ],
        )
        try:
            await request.session.send(notification)
            async with asyncio.timeout(seconds):
                return await request.result
        except TimeoutError as exc:
            raise PairingError("the companion did not finish the code pairing in time") from exc
        except NotConnected as exc:
            raise PairingError("the companion disconnected") from exc
        finally:
            if self._codes.get(phone) is request:
                del self._codes[phone]

    async def _companion_finish(self, session: Session, iq: Node, reg: Node) -> IQResult:
        try:
            ref = reg.child_bytes("link_code_pairing_ref")
            bundle = reg.child_bytes("link_code_pairing_wrapped_key_bundle")
            identity = reg.child_bytes("companion_identity_public")
        except Exception as exc:
            raise IQFailure(400, "bad-request") from exc
        request = next(
            (r for r in self._codes.values() if r.ref == ref and r.session is session), None
        )
        if request is None or request.primary is None or request.result is None:
            raise IQFailure(404, "item-not-found")
        registration = session.registration
        try:
            if registration is None or identity != registration.identity_public:
                raise PairingError("companion_finish names another identity key")
            adv_secret = request.primary.finish(bundle, identity)
        except PairingError as exc:
            if not request.result.done():
                request.result.set_exception(exc)
            raise IQFailure(401, "not-authorized") from exc
        await session.send(iq_result(iq))
        session.spawn(self._finish_code(request, adv_secret))
        return NO_REPLY

    async def _finish_code(self, request: LinkCodeRequest, adv_secret: bytes) -> None:
        assert request.result is not None
        try:
            jid = await self._complete(request.session, request.phone, adv_secret)
        except Exception as exc:
            if not request.result.done():
                request.result.set_exception(exc)
            return
        if not request.result.done():
            request.result.set_result(jid)
        await request.session.close(stream_error(515))

    # --- completion ---------------------------------------------------------------------------

    async def _complete(self, session: Session, phone: str, adv_secret: bytes) -> JID:
        """Sign, send pair-success, check the countersignature, store the device (the caller
        then ends the session with 515)."""
        registration = session.registration
        if registration is None or session.state is not SessionState.REGISTERING:
            raise PairingError("the companion is not waiting to be paired")
        if "pairing.busy" in session.data:
            raise PairingError("the companion is already being paired")
        session.data["pairing.busy"] = True
        account = await self.ensure_account(phone)
        phone = account.phone
        state = self.sandbox.state
        device_id, key_index = await state.run(lambda db: allocate_device(db, phone))
        now = int(self.sandbox.clock())
        signed = phone_mod.sign_companion(
            account,
            registration.identity_public,
            key_index=key_index,
            adv_secret=adv_secret,
            timestamp=now,
        )
        pn = JID(phone, USER_SERVER, device=device_id)
        lid = JID(account.lid, LID_SERVER, device=device_id)
        success = Node(
            "iq",
            {"id": session.next_id(), "type": "set", "from": SERVER_JID, "t": str(now)},
            [
                Node(
                    "pair-success",
                    {},
                    [
                        Node("device-identity", {}, signed.device_identity),
                        Node("platform", {"name": PRIMARY_PLATFORM}),
                        Node("device", {"jid": pn, "lid": lid}),
                    ],
                )
            ],
        )
        try:
            answer = await session.query(success, PAIRING_TIMEOUT)
        except TimeoutError as exc:
            raise PairingError("the companion did not answer pair-success") from exc
        except NotConnected as exc:
            raise PairingError("the companion disconnected during pairing") from exc
        if answer.attrs.get("type") != "result":
            error = answer.child("error")
            text = error.attr_str("text", "") if error is not None else ""
            raise PairingError(f"the companion rejected pair-success: {text or 'error'}")
        identity_node = answer.find("pair-device-sign", "device-identity")
        if identity_node is None:
            raise PairingError("pair-device-sign answer lacks device-identity")
        if identity_node.attr_int("key-index", -1) != key_index:
            raise PairingError("pair-device-sign answer has the wrong key index")
        stored_identity = phone_mod.check_countersignature(
            identity_node.content_bytes(), signed, registration.identity_public
        )
        device = Device(
            phone=phone,
            device=device_id,
            noise_public=registration.noise_public,
            identity_public=registration.identity_public,
            registration_id=registration.registration_id,
            signed_prekey_id=registration.signed_prekey_id,
            signed_prekey_public=registration.signed_prekey_public,
            signed_prekey_signature=registration.signed_prekey_signature,
            key_index=key_index,
            device_identity=stored_identity,
            platform=_platform(session),
            device_props=registration.device_props or None,
            push_name=session.payload.push_name if session.payload is not None else "",
            created=now,
            last_seen=0,
        )
        await state.run(lambda db: insert_device(db, device))
        log.info("paired %s (%s)", pn, lid)
        for hook in self.sandbox.router.paired_hooks:
            await hook(device)
        return pn

    def session_ended(self, session: Session) -> None:
        """Forget the refs and code requests of a closed session."""
        for ref in [r for r, (s, _) in self._refs.items() if s is session]:
            del self._refs[ref]
        for phone in [p for p, r in self._codes.items() if r.session is session]:
            request = self._codes.pop(phone)
            if request.result is not None and not request.result.done():
                request.result.set_exception(PairingError("the companion disconnected"))


def _platform(session: Session) -> str:
    payload = session.payload
    if payload is None:
        return ""
    if payload.HasField("web_info"):
        return "web"
    return str(payload.user_agent.platform)
