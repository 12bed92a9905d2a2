"""A raw protocol client for the sandbox tests: Noise initiator + node codec over aiohttp, and
the companion side of QR pairing written out step by step (with every check as an assertion),
so that the tests see exactly what the sandbox sends."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from dataclasses import dataclass, field

import aiohttp

from wamd.binary import Node, decode_frame, encode_frame
from wamd.crypto import KeyPair, hmac_sha256, verify_signature
from wamd.noise import FrameReceived, HandshakeComplete, NoiseClientConnection
from wamd.proto import adv_pb2, handshake_pb2
from wamd.sandbox import Sandbox
from wamd.types import JID

RECV_TIMEOUT = 10.0


@dataclass
class Companion:
    """The keys of one companion device (what a client keeps in its store)."""

    noise: KeyPair = field(default_factory=KeyPair.generate)
    identity: KeyPair = field(default_factory=KeyPair.generate)
    signed_prekey: KeyPair = field(default_factory=KeyPair.generate)
    registration_id: int = 4242
    adv_secret: bytes = field(default_factory=lambda: hashlib.sha256(b"adv").digest())
    jid: JID | None = None

    def registration_payload(self, version: tuple[int, int, int] = (2, 3000, 1)) -> bytes:
        payload = handshake_pb2.ClientPayload(passive=False, pull=False)
        _user_agent(payload, version)
        data = payload.device_pairing_data
        data.e_regid = self.registration_id.to_bytes(4, "big")
        data.e_keytype = b"\x05"
        data.e_ident = self.identity.public
        data.e_skey_id = (1).to_bytes(3, "big")
        data.e_skey_val = self.signed_prekey.public
        data.e_skey_sig = self.identity.sign(b"\x05" + self.signed_prekey.public)
        data.build_hash = hashlib.md5(b"2.3000.1").digest()
        data.device_props = b""
        return payload.SerializeToString()

    def login_payload(
        self, *, passive: bool = True, version: tuple[int, int, int] = (2, 3000, 1)
    ) -> bytes:
        assert self.jid is not None
        payload = handshake_pb2.ClientPayload(
            username=int(self.jid.user), device=self.jid.device, passive=passive, pull=True
        )
        _user_agent(payload, version)
        return payload.SerializeToString()

    def qr_text(self, ref: str) -> str:
        parts = [
            ref,
            base64.b64encode(self.noise.public).decode(),
            base64.b64encode(self.identity.public).decode(),
            base64.b64encode(self.adv_secret).decode(),
            "1",
        ]
        return "https://wa.me/settings/linked_devices#" + ",".join(parts)


def _user_agent(payload: handshake_pb2.ClientPayload, version: tuple[int, int, int]) -> None:
    agent = payload.user_agent
    agent.platform = handshake_pb2.ClientPayload.UserAgent.WEB
    agent.app_version.primary, agent.app_version.secondary, agent.app_version.tertiary = version
    payload.web_info.web_sub_platform = handshake_pb2.ClientPayload.WebInfo.WEB_BROWSER


class RawClient:
    """One connection to the sandbox: send and receive nodes."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        ws: aiohttp.ClientWebSocketResponse,
        noise: NoiseClientConnection,
    ) -> None:
        self._http = http
        self.ws = ws
        self.noise = noise
        self.inbox: asyncio.Queue[Node | None] = asyncio.Queue()
        self.handshake: HandshakeComplete | None = None
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def connect(
        cls, sandbox: Sandbox, payload: bytes, noise_key: KeyPair | None = None
    ) -> RawClient:
        http = aiohttp.ClientSession()
        ws = await http.ws_connect(sandbox.url, origin="https://web.whatsapp.com")
        noise = NoiseClientConnection(
            static_key=noise_key or KeyPair.generate(),
            client_payload=payload,
            root_public_key=sandbox.root_public_key,
        )
        noise.start()
        await ws.send_bytes(noise.data_to_send())
        client = cls(http, ws, noise)
        return client

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if message.type is not aiohttp.WSMsgType.BINARY:
                    break
                for event in self.noise.receive_data(message.data):
                    if isinstance(event, HandshakeComplete):
                        self.handshake = event
                    elif isinstance(event, FrameReceived):
                        node = decode_frame(event.payload)
                        await self.inbox.put(node)
                        if node.tag in ("failure", "stream:error"):
                            await self.ws.close()  # as real clients do
                            return
                out = self.noise.data_to_send()
                if out:
                    await self.ws.send_bytes(out)
        finally:
            await self.inbox.put(None)

    async def send(self, node: Node) -> None:
        self.noise.send(encode_frame(node))
        await self.ws.send_bytes(self.noise.data_to_send())

    async def recv(self, seconds: float = RECV_TIMEOUT) -> Node:
        async with asyncio.timeout(seconds):
            node = await self.inbox.get()
        if node is None:
            raise ConnectionError("the sandbox closed the connection")
        return node

    async def expect(self, tag: str, seconds: float = RECV_TIMEOUT) -> Node:
        """The next node with ``tag``, skipping others (acking nothing)."""
        while True:
            node = await self.recv(seconds)
            if node.tag == tag:
                return node

    async def query(self, node: Node, seconds: float = RECV_TIMEOUT) -> Node:
        iq_id = str(node.attrs.setdefault("id", f"q{id(node)}"))
        await self.send(node)
        while True:
            answer = await self.recv(seconds)
            if answer.tag == "iq" and answer.attrs.get("id") == iq_id:
                return answer

    async def wait_closed(self, seconds: float = RECV_TIMEOUT) -> list[Node]:
        """Every node received until the sandbox closes the connection."""
        nodes = []
        async with asyncio.timeout(seconds):
            while (node := await self.inbox.get()) is not None:
                nodes.append(node)
        return nodes

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self._http.close()


def check_pair_success(companion: Companion, iq: Node) -> tuple[Node, JID, JID]:
    """Verify ``<pair-success>`` like a careful companion; return the countersigned answer and
    the device's phone-number and LID JIDs."""
    success = iq.require_child("pair-success")
    container = adv_pb2.ADVSignedDeviceIdentityHMAC.FromString(
        success.child_bytes("device-identity")
    )
    assert container.hmac == hmac_sha256(companion.adv_secret, container.details)
    signed = adv_pb2.ADVSignedDeviceIdentity.FromString(container.details)
    details = adv_pb2.ADVDeviceIdentity.FromString(signed.details)
    assert details.HasField("key_index")
    assert verify_signature(
        signed.account_signature_key,
        b"\x06\x00" + signed.details + companion.identity.public,
        signed.account_signature,
    )
    device_signature = companion.identity.sign(
        b"\x06\x01" + signed.details + companion.identity.public + signed.account_signature_key
    )
    reply_identity = adv_pb2.ADVSignedDeviceIdentity(
        details=signed.details,
        account_signature=signed.account_signature,
        device_signature=device_signature,
    ).SerializeToString()
    device = success.require_child("device")
    answer = Node(
        "iq",
        {"id": iq.attrs["id"], "type": "result", "to": JID("", "s.whatsapp.net")},
        [
            Node(
                "pair-device-sign",
                {},
                [Node("device-identity", {"key-index": str(details.key_index)}, reply_identity)],
            )
        ],
    )
    return answer, device.attr_jid("jid"), device.attr_jid("lid")


async def start_registration(sandbox: Sandbox, companion: Companion) -> tuple[RawClient, list[str]]:
    """Connect unpaired, acknowledge pair-device; return the client and the refs."""
    client = await RawClient.connect(sandbox, companion.registration_payload(), companion.noise)
    iq = await client.expect("iq")
    refs = [r.content_bytes().decode() for r in iq.require_child("pair-device").children]
    await client.send(Node("iq", {"id": iq.attrs["id"], "type": "result"}))
    return client, refs


async def pair_by_qr(sandbox: Sandbox, companion: Companion, phone: str) -> JID:
    """Pair ``companion`` to ``phone`` by QR; returns its device JID (also set on it)."""
    client, refs = await start_registration(sandbox, companion)
    try:
        scan = asyncio.ensure_future(sandbox.admin.scan_qr(companion.qr_text(refs[0]), phone))
        iq = await client.expect("iq")
        answer, jid, _ = check_pair_success(companion, iq)
        await client.send(answer)
        assert await scan == jid
        final = await client.expect("stream:error")
        assert final.attrs["code"] == "515"
    finally:
        await client.close()
    companion.jid = jid
    return jid


async def login(sandbox: Sandbox, companion: Companion, *, passive: bool = True) -> RawClient:
    """Log a paired companion in; returns the client after ``<success>``."""
    client = await RawClient.connect(
        sandbox, companion.login_payload(passive=passive), companion.noise
    )
    try:
        first = await client.recv()
        assert first.tag == "success", first
    except BaseException:
        await client.close()
        raise
    return client
