"""XEdDSA and X25519 against npm libsignal@6.0.0's curve (a Node subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from wamd.crypto import KeyPair, verify_signature

pytestmark = pytest.mark.interop


def run_curve(node_peers: Path, request: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        ["node", str(node_peers / "signal_curve.mjs")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_signatures_both_ways(node_peers: Path) -> None:
    ours = [KeyPair.generate() for _ in range(60)]
    messages = [b"\x05" + KeyPair.generate().public for _ in ours]
    signed = [(kp, msg, kp.sign(msg)) for kp, msg in zip(ours, messages, strict=True)]
    verify = [{"pub": kp.public.hex(), "msg": m.hex(), "sig": s.hex()} for kp, m, s in signed]
    # Negative controls: a wrong message and a flipped byte must be refused by libsignal too.
    kp0, m0, s0 = signed[0]
    verify.append({"pub": kp0.public.hex(), "msg": (m0 + b"x").hex(), "sig": s0.hex()})
    flipped = bytes([s0[0] ^ 1]) + s0[1:]
    verify.append({"pub": kp0.public.hex(), "msg": m0.hex(), "sig": flipped.hex()})
    answer = run_curve(node_peers, {"make": 60, "message": os.urandom(33).hex(), "verify": verify})

    assert answer["verified"] == [True] * 60 + [False, False]

    sign_bits = set()
    for made in answer["made"]:
        pub, msg, sig = (bytes.fromhex(made[k]) for k in ("pub", "msg", "sig"))
        sign_bits.add(sig[63] >> 7)
        assert verify_signature(pub, msg, sig)
        assert not verify_signature(pub, msg + b"\x00", sig)
        # A libsignal private key rebuilds the same public key here.
        assert KeyPair.from_private(bytes.fromhex(made["priv"])).public == pub
    assert sign_bits == {0, 1}, "expected libsignal signatures with both sign-bit values"


def test_agreement_and_public_keys_match(node_peers: Path) -> None:
    pairs = [(KeyPair.generate(), KeyPair.generate()) for _ in range(20)]
    request = {
        "agree": [{"priv": a.private.hex(), "pub": b.public.hex()} for a, b in pairs],
        "public_of": [a.private.hex() for a, _ in pairs],
    }
    answer = run_curve(node_peers, request)
    assert answer["agreed"] == [a.dh(b.public).hex() for a, b in pairs]
    assert answer["publics"] == [a.public.hex() for a, _ in pairs]
