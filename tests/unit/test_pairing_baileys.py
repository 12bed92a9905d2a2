"""wamd's companion-side pairing checked against Baileys' own companion code (the real peer).

tests/interop/baileys_pairing.mjs runs Baileys rc14's functions on the same inputs: the code
alphabet (bytesToCrockford), the wrapped ephemeral key (generatePairingKey), the key bundle and
adv secret of ``companion_finish`` (its link_code_companion_reg notification handler) — all
deterministic once every random input is fixed — and ``configureSuccessfulPairing`` on a
pair-success built by the test primary.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.unit.pairing_primary import PrimaryLinkCode, device_identity
from wamd.crypto import KeyPair, verify_signature
from wamd.pairing.adv import verify_pair_success
from wamd.pairing.code import CompanionLinkCode, encode_code, wrap_ephemeral
from wamd.proto import adv_pb2


def run_baileys(node_peers: Path, request: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        ["node", str(node_peers / "baileys_pairing.mjs")],
        cwd=node_peers,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_code_wrap_and_finish_match_baileys_byte_for_byte(node_peers: Path) -> None:
    raws = [os.urandom(5) for _ in range(20)] + [bytes(5), b"\xff" * 5]
    code = encode_code(os.urandom(5))
    ephemeral_pub = KeyPair.generate().public
    salt, iv = os.urandom(32), os.urandom(16)

    identity, primary_identity = KeyPair.generate(), KeyPair.generate()
    link = CompanionLinkCode.start("15550100000", code=code)
    primary = PrimaryLinkCode(code, link.wrapped_ephemeral, primary_identity)
    adv_random, bundle_salt, bundle_iv = os.urandom(32), os.urandom(32), os.urandom(12)
    ours = link.finish(
        primary.wrapped,
        primary_identity.public,
        identity,
        adv_random=adv_random,
        bundle_salt=bundle_salt,
        bundle_nonce=bundle_iv,
    )

    answer = run_baileys(
        node_peers,
        {
            "crockford": [raw.hex() for raw in raws],
            "wrap": {"code": code, "pub": ephemeral_pub.hex(), "salt": salt.hex(), "iv": iv.hex()},
            "finish": {
                "code": code,
                "ephPriv": link._ephemeral.private.hex(),
                "identityPriv": identity.private.hex(),
                "identityPub": identity.public.hex(),
                "primaryWrapped": primary.wrapped.hex(),
                "primaryIdentityPub": primary_identity.public.hex(),
                "random": adv_random.hex(),
                "salt": bundle_salt.hex(),
                "iv": bundle_iv.hex(),
            },
        },
    )
    assert answer["crockford"] == [encode_code(raw) for raw in raws]
    assert bytes.fromhex(answer["wrapped"]) == wrap_ephemeral(code, ephemeral_pub, salt=salt, iv=iv)
    assert bytes.fromhex(answer["bundle"]) == ours.wrapped_key_bundle
    assert bytes.fromhex(answer["advSecret"]) == ours.adv_secret


def test_pair_success_reply_matches_baileys(node_peers: Path) -> None:
    account, identity, adv = KeyPair.generate(), KeyPair.generate(), os.urandom(32)
    data = device_identity(account, identity.public, adv, key_index=5)
    ours = verify_pair_success(data, adv, identity)
    answer = run_baileys(
        node_peers,
        {
            "pairSuccess": {
                "id": "pair-1",
                "deviceIdentity": data.hex(),
                "jid": "15550100000:3@s.whatsapp.net",
                "lid": "99887766:3@lid",
                "advSecret": adv.hex(),
                "identityPriv": identity.private.hex(),
                "identityPub": identity.public.hex(),
            }
        },
    )
    assert "error" not in answer, answer
    reply = answer["reply"]
    assert (reply["tag"], reply["signTag"], reply["identityTag"]) == (
        "iq",
        "pair-device-sign",
        "device-identity",
    )
    assert reply["attrs"]["type"] == "result"
    assert reply["keyIndex"] == str(ours.key_index) == "5"
    theirs = adv_pb2.ADVSignedDeviceIdentity.FromString(bytes.fromhex(reply["identity"]))
    mine = adv_pb2.ADVSignedDeviceIdentity.FromString(ours.reply)
    # Same fields; XEdDSA signatures are randomized, so compare them by verifying both.
    assert theirs.details == mine.details
    assert theirs.account_signature == mine.account_signature
    assert not theirs.account_signature_key
    assert not mine.HasField("account_signature_key")
    message = b"\x06\x01" + mine.details + identity.public + account.public
    assert verify_signature(identity.public, message, theirs.device_signature)
    assert verify_signature(identity.public, message, mine.device_signature)


def test_baileys_rejects_what_wamd_rejects(node_peers: Path) -> None:
    account, identity, adv = KeyPair.generate(), KeyPair.generate(), os.urandom(32)
    bad = device_identity(account, identity.public, adv, bad_hmac=True)
    answer = run_baileys(
        node_peers,
        {
            "pairSuccess": {
                "id": "x",
                "deviceIdentity": bad.hex(),
                "jid": "1:1@s.whatsapp.net",
                "lid": "2:1@lid",
                "advSecret": adv.hex(),
                "identityPriv": identity.private.hex(),
                "identityPub": identity.public.hex(),
            }
        },
    )
    assert "error" in answer
