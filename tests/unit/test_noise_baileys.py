"""Known-answer checks of wamd's Noise core against Baileys' own noise handler.

Baileys' initiator (tests/interop/baileys_noise.mjs drives ``makeNoiseHandler``) handshakes with
wamd's responder; then wamd's initiator, given the very same keys and server hello, must
produce byte-identical client hello and client finish messages (X25519 and AES-GCM are
deterministic once every key is fixed).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from wamd.crypto import KeyPair
from wamd.noise import (
    FrameDecoder,
    FrameReceived,
    HandshakeComplete,
    InitiatorHandshake,
    NoiseServerConnection,
    build_intro,
    generate_certificate_chain,
)

TRANSPORT_PAYLOAD = b"\x00transport frame from baileys"
# flag byte 0, then LIST_8 of one item: the tag "iq" as a BINARY_8 string
IQ_NODE_FRAME = b"\x00\xf8\x01\xfc\x02iq"


class NodeDriver:
    def __init__(self, script: Path, args: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            ["node", str(script), json.dumps(args)],
            cwd=script.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"driver exited: {err}")
        message: dict[str, Any] = json.loads(line)
        assert message.get("step") != "error", message
        return message

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"data": data.hex()}) + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=10)


@pytest.mark.parametrize("routing_info", [None, b"\x08\x02\x10\x07"])
def test_baileys_initiator_against_wamd_responder_and_identical_wamd_initiator(
    node_peers: Path, routing_info: bytes | None
) -> None:
    client_ephemeral, client_static = KeyPair.generate(), KeyPair.generate()
    server_ephemeral, server_static = KeyPair.generate(), KeyPair.generate()
    root, intermediate = KeyPair.generate(), KeyPair.generate()
    chain = generate_certificate_chain(
        root=root, intermediate=intermediate, leaf_key=server_static.public
    )
    payload = b"\x08\x01client payload bytes"
    driver = NodeDriver(
        node_peers / "baileys_noise.mjs",
        {
            "ephemeralPriv": client_ephemeral.private.hex(),
            "ephemeralPub": client_ephemeral.public.hex(),
            "noisePriv": client_static.private.hex(),
            "noisePub": client_static.public.hex(),
            "rootPublic": root.public.hex(),
            "payload": payload.hex(),
            "transportPayload": TRANSPORT_PAYLOAD.hex(),
            "routingInfo": routing_info.hex() if routing_info else None,
        },
    )
    try:
        server = NoiseServerConnection(
            static_key=server_static, certificate_chain=chain, ephemeral_key=server_ephemeral
        )
        baileys_hello = bytes.fromhex(driver.read()["data"])
        assert server.receive_data(baileys_hello) == []
        server_hello = server.data_to_send()
        driver.write(server_hello)
        baileys_finish = bytes.fromhex(driver.read()["data"])
        events = server.receive_data(baileys_finish)
        assert events == [
            HandshakeComplete(
                client_static.public, client_payload=payload, routing_info=routing_info
            )
        ]
        baileys_transport = bytes.fromhex(driver.read()["data"])
        assert server.receive_data(baileys_transport) == [FrameReceived(TRANSPORT_PAYLOAD)]
        server.send(IQ_NODE_FRAME)
        driver.write(server.data_to_send())
        node = driver.read()
        assert node["tag"] == "iq"
    finally:
        driver.close()

    # wamd's initiator with the same keys reproduces Baileys' messages exactly.
    initiator = InitiatorHandshake(
        client_static, root_public_key=root.public, ephemeral=client_ephemeral
    )
    intro = build_intro(routing_info=routing_info)
    assert baileys_hello == intro + _frame(initiator.client_hello())
    (server_hello_message,) = FrameDecoder().feed(server_hello)
    initiator.read_server_hello(server_hello_message)
    assert initiator.server_static == server_static.public
    assert baileys_finish == _frame(initiator.client_finish(payload))
    transport = initiator.transport()
    assert baileys_transport == _frame(transport.encrypt(TRANSPORT_PAYLOAD))


def _frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + payload
