"""The pairing conversation with the server, over the connection manager.

* ``<iq><pair-device><ref/>...`` -> ack, then :class:`~wamd.events.QR` events, one per ref
  (60 s, then 20 s each), then :class:`~wamd.events.QRTimeout` and disconnect;
* :meth:`PairingFlow.request_code` -> ``link_code_companion_reg`` ``companion_hello``; the
  primary's notification -> ``companion_finish`` (the adv secret is derived and stored);
* ``<iq><pair-success>`` -> verify (HMAC, account signature), store the identity, countersign
  and answer ``<pair-device-sign>``, :class:`~wamd.events.PairSuccess`; the server then sends
  ``<stream:error code="515">`` and the manager reconnects and logs in. A failed
  verification answers ``<iq type="error">`` (401 hmac-mismatch / signature-mismatch),
  emits :class:`~wamd.events.PairError` and disconnects.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable

from wamd.binary import Node
from wamd.conn.causes import Action, Outcome
from wamd.conn.manager import ConnectionManager, ack_of
from wamd.conn.state import ConnState
from wamd.crypto import KeyPair
from wamd.errors import (
    NotConnected,
    PairingError,
    PairVerificationError,
    StoreError,
    WamdError,
)
from wamd.events import PairError, PairSuccess, QRTimeout
from wamd.pairing.adv import verify_pair_success
from wamd.pairing.code import CompanionLinkCode
from wamd.pairing.qr import qr_events, qr_text
from wamd.types import JID, SERVER_JID, USER_SERVER

__all__ = ["PairingFlow"]

log = logging.getLogger("wamd.pairing")


def _iq_with_child(tag: str) -> Callable[[Node], bool]:
    def match(node: Node) -> bool:
        return node.attrs.get("type") == "set" and node.child(tag) is not None

    return match


def _is_link_code_notification(node: Node) -> bool:
    return node.attrs.get("type") == "link_code_companion_reg"


class PairingFlow:
    """Handles pairing nodes for a :class:`ConnectionManager` and starts code pairing."""

    def __init__(self, manager: ConnectionManager) -> None:
        self.manager = manager
        self._qr_task: asyncio.Task[None] | None = None
        self._link: CompanionLinkCode | None = None
        manager.route("iq", self._on_pair_device, _iq_with_child("pair-device"))
        manager.route("iq", self._on_pair_success, _iq_with_child("pair-success"))
        manager.route("notification", self._on_link_code, _is_link_code_notification)

    def __repr__(self) -> str:
        return f"PairingFlow(code_pending={self._link is not None})"

    # --- QR ---------------------------------------------------------------------------------

    async def _on_pair_device(self, node: Node) -> None:
        m = self.manager
        await m.send_node(_result_for(node))
        pair_device = node.child("pair-device")
        assert pair_device is not None
        refs = [
            child.content
            for child in pair_device.children_by_tag("ref")
            if isinstance(child.content, (bytes, str))
        ]
        creds = m.device.credentials
        texts: list[str] = []
        for ref in refs:
            try:
                texts.append(
                    qr_text(
                        ref,
                        creds.noise_key.public,
                        creds.identity_key.public,
                        creds.adv_secret_key,
                        m.options.device.qr_client_type,
                    )
                )
            except PairingError as exc:
                log.warning("skipping a bad pair-device ref: %s", exc)
        if self._qr_task is not None:
            self._qr_task.cancel()
        if texts:
            self._qr_task = m.spawn(self._rotate(texts))

    async def _rotate(self, texts: list[str]) -> None:
        m = self.manager
        first, later = m.options.qr_timeouts
        for event in qr_events(texts, first_timeout=first, next_timeout=later):
            if m.state is not ConnState.PAIRING:
                return
            await m.emit(event)
            await asyncio.sleep(event.timeout)
        if m.state is ConnState.PAIRING:
            log.info("every QR code expired: disconnecting")
            await m.end_connection(Outcome(Action.STOP, QRTimeout()))

    # --- phone-number code ------------------------------------------------------------------

    async def request_code(
        self, phone: str, *, show_push_notification: bool = True, wait: float = 30.0
    ) -> str:
        """Ask the server to pair with the account of ``phone``; returns the code to show.

        The connection must be up and unpaired (it waits up to ``wait`` seconds for that).
        The user types the code (``XXXX-XXXX``) on the phone; pairing then completes by
        itself (:class:`~wamd.events.PairSuccess`).
        """
        m = self.manager
        if m.device.loaded and m.device.credentials.paired:
            raise PairingError("this device is already paired")
        await m.wait_for_state(
            {ConnState.PAIRING},
            timeout=wait,
            fail_on={ConnState.DISCONNECTED, ConnState.LOGGING_IN, ConnState.CONNECTED},
        )
        link = await asyncio.to_thread(CompanionLinkCode.start, phone)
        creds = m.device.credentials
        hello = Node(
            "link_code_companion_reg",
            {
                "jid": JID(link.phone, USER_SERVER),
                "stage": "companion_hello",
                "should_show_push_notification": "true" if show_push_notification else "false",
            },
            [
                Node(
                    "link_code_pairing_wrapped_companion_ephemeral_pub", {}, link.wrapped_ephemeral
                ),
                Node("companion_server_auth_key_pub", {}, creds.noise_key.public),
                Node("companion_platform_id", {}, m.options.device.qr_client_type.encode()),
                Node("companion_platform_display", {}, m.options.device.display.encode()),
                Node("link_code_pairing_nonce", {}, b"\x00"),
            ],
        )
        answer = await m.request(
            Node("iq", {"xmlns": "md", "type": "set", "to": SERVER_JID}, [hello])
        )
        ref_node = answer.find("link_code_companion_reg", "link_code_pairing_ref")
        if ref_node is None or not isinstance(ref_node.content, (bytes, str)):
            raise PairingError("the server's answer has no link_code_pairing_ref")
        ref = ref_node.content
        link.ref = ref.encode() if isinstance(ref, str) else ref
        self._link = link
        return link.display_code

    async def _on_link_code(self, node: Node) -> None:
        m = self.manager
        await m.send_node(ack_of(node))
        m.spawn(self._finish_link_code(node))

    async def _finish_link_code(self, node: Node) -> None:
        m = self.manager
        link = self._link
        reg = node.child("link_code_companion_reg")
        if link is None or reg is None:
            log.warning("link-code notification without a pending code request")
            return
        try:
            ref = reg.child_bytes("link_code_pairing_ref")
            wrapped = reg.child_bytes("link_code_pairing_wrapped_primary_ephemeral_pub")
            primary_identity = reg.child_bytes("primary_identity_pub")
        except WamdError as exc:
            log.warning("malformed link-code notification: %s", exc)
            return
        if ref != link.ref:
            log.warning("link-code notification for another pairing ref: ignored")
            return
        creds = m.device.credentials
        identity = KeyPair.from_private(creds.identity_key.private)
        try:
            finish = await asyncio.to_thread(link.finish, wrapped, primary_identity, identity)
        except PairingError as exc:
            log.warning("link-code pairing failed: %s", exc)
            return
        await m.device.update(adv_secret_key=finish.adv_secret)
        self._link = None
        reg_finish = Node(
            "link_code_companion_reg",
            {"jid": JID(link.phone, USER_SERVER), "stage": "companion_finish"},
            [
                Node("link_code_pairing_wrapped_key_bundle", {}, finish.wrapped_key_bundle),
                Node("companion_identity_public", {}, creds.identity_key.public),
                Node("link_code_pairing_ref", {}, ref),
            ],
        )
        try:
            await m.request(
                Node("iq", {"xmlns": "md", "type": "set", "to": SERVER_JID}, [reg_finish])
            )
        except (WamdError, NotConnected) as exc:
            log.warning("companion_finish failed: %s", exc)

    # --- pair-success -----------------------------------------------------------------------

    async def _on_pair_success(self, node: Node) -> None:
        m = self.manager
        if m.state is not ConnState.PAIRING or (m.device.loaded and m.device.credentials.paired):
            # Only an unpaired device waiting to be linked takes a pair-success: anywhere
            # else it is refused without touching the stored identity or the connection.
            log.warning("pair-success in state %s refused", m.state.value)
            await m.send_node(_error_for(node, 400, "bad-request"))
            return
        if self._qr_task is not None:
            self._qr_task.cancel()
            self._qr_task = None
        success = node.child("pair-success")
        assert success is not None
        device = success.child("device")
        jid = device.attrs.get("jid") if device is not None else None
        lid = device.attrs.get("lid") if device is not None else None
        biz = success.child("biz")
        platform = success.child("platform")
        business_name = str(biz.attrs.get("name", "")) if biz is not None else ""
        platform_name = str(platform.attrs.get("name", "")) if platform is not None else ""
        jid = jid if isinstance(jid, JID) else None
        lid = lid if isinstance(lid, JID) else None
        request_id = node.attrs.get("id")
        request_id = request_id if isinstance(request_id, str) else ""

        async def fail(error: BaseException, code: int, text: str) -> None:
            log.warning("pairing failed: %s", error)
            await m.send_node(_error_for(node, code, text))
            raise m.stream_ended(
                Outcome(Action.STOP, PairError(jid, lid, business_name, platform_name, error))
            )

        creds = m.device.credentials
        identity = KeyPair.from_private(creds.identity_key.private)
        identity_node = success.child("device-identity")
        try:
            if jid is None or identity_node is None:
                raise PairVerificationError("pair-success lacks the device JID or identity")
            verified = verify_pair_success(
                identity_node.content_bytes(), creds.adv_secret_key, identity
            )
        except PairVerificationError as exc:
            await fail(exc, exc.code, exc.text)
            return
        except WamdError as exc:
            await fail(PairVerificationError(str(exc)), 500, "internal-error")
            return

        primary = (lid or jid).with_device(0)
        updated = dataclasses.replace(
            creds,
            jid=str(jid),
            lid=str(lid) if lid is not None else None,
            account=verified.account,
            platform=platform_name,
            business_name=business_name,
        )
        try:
            async with m.device.account.transaction() as tx:
                await tx.credentials.save(updated)
                await tx.identities.put(primary.signal_address, verified.primary_identity)
        except StoreError as exc:
            await fail(exc, 500, "internal-error")
            return
        m.device.saved(updated)
        await m.send_node(
            Node(
                "iq",
                {"to": SERVER_JID, "type": "result", "id": request_id},
                [
                    Node(
                        "pair-device-sign",
                        {},
                        [
                            Node(
                                "device-identity",
                                {"key-index": str(verified.key_index)},
                                verified.reply,
                            )
                        ],
                    )
                ],
            )
        )
        log.info("paired as %s", jid)
        await m.emit(PairSuccess(jid, lid, business_name, platform_name))


def _result_for(node: Node) -> Node:
    attrs: dict[str, str | JID] = {"type": "result"}
    for key in ("id", "from"):
        value = node.attrs.get(key)
        if value is not None:
            attrs["to" if key == "from" else key] = value
    attrs.setdefault("to", SERVER_JID)
    return Node("iq", attrs)


def _error_for(node: Node, code: int, text: str) -> Node:
    request_id = node.attrs.get("id")
    attrs: dict[str, str | JID] = {
        "to": SERVER_JID,
        "type": "error",
        "id": request_id if isinstance(request_id, str) else "",
    }
    return Node("iq", attrs, [Node("error", {"code": str(code), "text": text})])
