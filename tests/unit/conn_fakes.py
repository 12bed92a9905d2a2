"""An in-memory fake server for the connection manager's tests (no sockets).

It is built on wamd's Noise responder core and node codec, speaks the connection-level
protocol (registration and login payloads, pair-device, pair-success, 515, success, pings,
passive/active, link-code stages) and can inject every disconnect cause. The phone's side of
pairing comes from :mod:`tests.unit.pairing_primary`. The real server is ``wamd.sandbox``;
this fake exists so that the manager's state handling is tested fast and deterministically.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from dataclasses import dataclass, field
from typing import Any

from tests.unit.pairing_primary import PrimaryLinkCode, device_identity
from wamd import events
from wamd.binary import Node, decode_frame, encode_frame
from wamd.client import Client
from wamd.conn.options import ConnectOptions, ServerInfo
from wamd.conn.transport import Transport, TransportClosed
from wamd.crypto import KeyPair, verify_signature
from wamd.noise import (
    FrameReceived,
    HandshakeComplete,
    NoiseServerConnection,
    generate_certificate_chain,
)
from wamd.proto import adv_pb2, handshake_pb2
from wamd.types import JID, LID_SERVER, SERVER_JID, USER_SERVER

_CLOSE = b""


class Recorder:
    """Collects every event a client emits (in the order its handler tasks ran)."""

    def __init__(self, client: Client) -> None:
        self.events: list[events.Event] = []
        client.on(events.Event)(self.events.append)

    def of(self, kind: type[events.Event]) -> list[Any]:
        """The recorded events of ``kind``."""
        return [e for e in self.events if isinstance(e, kind)]


class MemoryEnd:
    """One end of an in-memory message pipe (a :class:`Transport`)."""

    def __init__(self, inbox: asyncio.Queue[bytes], outbox: asyncio.Queue[bytes]) -> None:
        self._inbox = inbox
        self._outbox = outbox
        self.closed = False

    async def send(self, data: bytes) -> None:
        if self.closed:
            raise TransportClosed("pipe closed")
        await self._outbox.put(bytes(data))

    async def receive(self) -> bytes:
        if self.closed:
            raise TransportClosed("pipe closed")
        data = await self._inbox.get()
        if data == _CLOSE:
            self.closed = True
            raise TransportClosed("pipe closed by peer")
        return data

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._outbox.put_nowait(_CLOSE)
            self._inbox.put_nowait(_CLOSE)


def memory_pipe() -> tuple[MemoryEnd, MemoryEnd]:
    a: asyncio.Queue[bytes] = asyncio.Queue()
    b: asyncio.Queue[bytes] = asyncio.Queue()
    return MemoryEnd(a, b), MemoryEnd(b, a)


@dataclass
class FakeAccount:
    phone: str
    lid_user: str
    primary: KeyPair = field(default_factory=KeyPair.generate)
    devices: dict[int, bytes] = field(default_factory=dict)  # device id -> identity pub
    next_device: int = 1


class FakeSession:
    """The server side of one connection."""

    def __init__(self, server: FakeServer, end: MemoryEnd) -> None:
        self.server = server
        self.end = end
        self.noise = NoiseServerConnection(
            static_key=server.static, certificate_chain=server.chain_for_next or server.chain
        )
        self.payload: handshake_pb2.ClientPayload | None = None
        self.waiting: dict[str, asyncio.Future[Node]] = {}
        self.received: list[Node] = []
        self.task: asyncio.Task[None] | None = None
        self.link: tuple[str, bytes, str] | None = None  # phone, wrapped, ref
        self.primary_link: PrimaryLinkCode | None = None
        self.jid: JID | None = None
        self._ids = 0

    def new_id(self) -> str:
        self._ids += 1
        return f"srv-{self._ids}"

    async def send(self, node: Node) -> None:
        self.noise.send(encode_frame(node))
        await self.end.send(self.noise.data_to_send())

    async def ask(self, node: Node) -> Node:
        request_id = self.new_id()
        node.attrs["id"] = request_id
        future: asyncio.Future[Node] = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = future
        await self.send(node)
        async with asyncio.timeout(5):
            return await future

    async def close(self) -> None:
        await self.end.close()

    async def run(self) -> None:
        try:
            while True:
                data = await self.end.receive()
                if self.server.silent:
                    continue
                if self.server.hang_up_in_handshake:
                    return
                for event in self.noise.receive_data(data):
                    out = self.noise.data_to_send()
                    if out:
                        await self.end.send(out)
                    if isinstance(event, HandshakeComplete):
                        await self.on_open(event.client_payload)
                    elif isinstance(event, FrameReceived):
                        node = decode_frame(event.payload)
                        self.received.append(node)
                        await self.on_node(node)
                out = self.noise.data_to_send()
                if out:
                    await self.end.send(out)
        except TransportClosed:
            pass
        finally:
            await self.end.close()
            with contextlib.suppress(ValueError):
                self.server.sessions.remove(self)

    async def on_open(self, raw_payload: bytes) -> None:
        payload = handshake_pb2.ClientPayload.FromString(raw_payload)
        self.payload = payload
        srv = self.server
        if payload.HasField("device_pairing_data"):
            refs = [Node("ref", {}, f"ref-{i}".encode()) for i in range(srv.ref_count)]
            await self.send(
                Node(
                    "iq",
                    {"from": SERVER_JID, "type": "set", "id": self.new_id(), "xmlns": "md"},
                    [Node("pair-device", {}, refs)],
                )
            )
            return
        phone = str(payload.username)
        account = srv.accounts.get(phone)
        if srv.login_failure is not None:
            await self.send(Node("failure", dict(srv.login_failure)))
            return
        if account is None or payload.device not in account.devices:
            await self.send(Node("failure", {"reason": "401"}))
            return
        self.jid = JID(phone, USER_SERVER, device=payload.device)
        lid = JID(account.lid_user, LID_SERVER, device=payload.device)
        srv.logins += 1
        await self.send(Node("success", {"t": "1700000000", "lid": lid}))

    async def on_node(self, node: Node) -> None:
        request_id = node.attrs.get("id")
        if node.tag == "iq" and node.attrs.get("type") in ("result", "error"):
            future = self.waiting.pop(str(request_id), None)
            if future is not None and not future.done():
                future.set_result(node)
            return
        if node.tag != "iq":
            return
        xmlns = node.attrs.get("xmlns")
        answer = Node("iq", {"id": str(request_id), "type": "result", "from": SERVER_JID})
        if xmlns == "w:p":
            self.server.pings += 1
            if self.server.answer_pings:
                await self.send(answer)
            return
        if xmlns == "passive":
            await self.send(answer)
            return
        reg = node.child("link_code_companion_reg")
        if xmlns == "md" and reg is not None:
            stage = reg.attrs.get("stage")
            if stage == "companion_hello":
                jid = reg.attrs.get("jid")
                assert isinstance(jid, JID)
                ref = f"code-ref-{self.new_id()}"
                wrapped = reg.child_bytes("link_code_pairing_wrapped_companion_ephemeral_pub")
                self.link = (jid.user, wrapped, ref)
                answer.content = [
                    Node(
                        "link_code_companion_reg",
                        {},
                        [Node("link_code_pairing_ref", {}, ref.encode())],
                    )
                ]
                await self.send(answer)
            elif stage == "companion_finish":
                await self.send(answer)
                assert self.primary_link is not None
                assert self.link is not None
                identity = reg.child_bytes("companion_identity_public")
                adv = self.primary_link.adv_secret(
                    reg.child_bytes("link_code_pairing_wrapped_key_bundle"), identity
                )
                self.server.spawn(self.pair(self.link[0], identity, adv))
            return
        remove = node.child("remove-companion-device")
        if xmlns == "md" and remove is not None:
            await self.send(answer)
            assert self.jid is not None
            self.server.accounts[self.jid.user].devices.pop(self.jid.device, None)
            return
        await self.send(answer)

    async def pair(self, phone: str, identity: bytes, adv_secret: bytes, **faults: Any) -> Node:
        """Act as the phone: send pair-success, check the countersignature, then 515."""
        srv = self.server
        account = srv.account(phone)
        device_id = account.next_device
        data = device_identity(account.primary, identity, adv_secret, key_index=device_id, **faults)
        jid = JID(phone, USER_SERVER, device=device_id)
        lid = JID(account.lid_user, LID_SERVER, device=device_id)
        reply = await self.ask(
            Node(
                "iq",
                {"from": SERVER_JID, "type": "set", "t": "1700000000"},
                [
                    Node(
                        "pair-success",
                        {},
                        [
                            Node("device-identity", {}, data),
                            Node("device", {"jid": jid, "lid": lid}),
                            Node("biz", {"name": ""}),
                            Node("platform", {"name": "fake"}),
                        ],
                    )
                ],
            )
        )
        if reply.attrs.get("type") != "result":
            srv.pair_errors.append(reply)
            return reply
        sign = reply.find("pair-device-sign", "device-identity")
        assert sign is not None
        signed = adv_pb2.ADVSignedDeviceIdentity.FromString(sign.content_bytes())
        assert not signed.HasField("account_signature_key")
        ok = verify_signature(
            identity,
            b"\x06\x01" + signed.details + identity + account.primary.public,
            signed.device_signature,
        )
        assert ok, "bad device signature from the client"
        account.devices[device_id] = identity
        account.next_device += 1
        await self.send(Node("stream:error", {"code": "515"}))
        await self.close()
        return reply


class FakeServer:
    """Accepts in-memory connections from clients configured with :meth:`options`."""

    def __init__(self) -> None:
        self.root = KeyPair.generate()
        self.static = KeyPair.generate()
        self.chain = generate_certificate_chain(
            root=self.root, intermediate=KeyPair.generate(), leaf_key=self.static.public
        )
        self.info = ServerInfo(url="ws://memory.invalid/ws/chat", root_key=self.root.public)
        self.accounts: dict[str, FakeAccount] = {}
        self.sessions: list[FakeSession] = []
        self.ref_count = 3
        self.answer_pings = True
        self.down = False
        self.login_failure: dict[str, str] | None = None
        self.logins = 0
        self.pings = 0
        self.connects = 0
        self.pair_errors: list[Node] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.session_opened = asyncio.Event()
        self.silent = False
        self.hang_up_in_handshake = False
        self.chain_for_next: bytes | None = None

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def account(self, phone: str) -> FakeAccount:
        if phone not in self.accounts:
            self.accounts[phone] = FakeAccount(phone, lid_user=str(900000 + len(self.accounts)))
        return self.accounts[phone]

    async def factory(self, server: ServerInfo, options: ConnectOptions) -> Transport:
        if self.down:
            raise OSError("connection refused (fake server down)")
        self.connects += 1
        client_end, server_end = memory_pipe()
        session = FakeSession(self, server_end)
        self.sessions.append(session)
        session.task = self.spawn(session.run())
        self.session_opened.set()
        return client_end

    async def latest(self) -> FakeSession:
        """The most recent session once its handshake is done."""
        async with asyncio.timeout(5):
            while not self.sessions or self.sessions[-1].payload is None:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
        return self.sessions[-1]

    async def scan(self, qr_text: str, phone: str = "15550100000", **faults: Any) -> Node:
        """The phone scans a QR text: pair the session that registered with these keys."""
        _, _, rest = qr_text.partition("#")
        _ref, _noise, identity_b64, adv_b64, _type = rest.split(",")
        session = await self.latest()
        return await session.pair(
            phone, base64.b64decode(identity_b64), base64.b64decode(adv_b64), **faults
        )

    async def enter_code(self, code: str) -> None:
        """The phone's user types the pairing code: send the primary's notification."""
        session = await self.latest()
        assert session.link is not None
        phone, wrapped, ref = session.link
        account = self.account(phone)
        primary = PrimaryLinkCode(code.replace("-", ""), wrapped, account.primary)
        session.primary_link = primary
        await session.send(
            Node(
                "notification",
                {"from": SERVER_JID, "type": "link_code_companion_reg", "id": session.new_id()},
                [
                    Node(
                        "link_code_companion_reg",
                        {},
                        [
                            Node("link_code_pairing_ref", {}, ref.encode()),
                            Node("primary_identity_pub", {}, account.primary.public),
                            Node(
                                "link_code_pairing_wrapped_primary_ephemeral_pub",
                                {},
                                primary.wrapped,
                            ),
                        ],
                    )
                ],
            )
        )

    async def close(self) -> None:
        for session in list(self.sessions):
            await session.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
