"""LTHash and key expansion equal Baileys' (its Rust/WASM bridge) for random inputs."""

from __future__ import annotations

import os
import random

import pytest

from tests.appstate.conftest import BaileysAppState, b64, unb64
from wamd.appstate.keys import expand_keys
from wamd.appstate.lthash import EMPTY_HASH, subtract_then_add

pytestmark = pytest.mark.interop


def test_lthash_equals_baileys(baileys: BaileysAppState) -> None:
    rnd = random.Random(8)
    for _ in range(40):
        base = rnd.randbytes(128) if rnd.random() < 0.7 else EMPTY_HASH
        sub = [rnd.randbytes(32) for _ in range(rnd.randrange(4))]
        add = [rnd.randbytes(32) for _ in range(rnd.randrange(6))]
        theirs = baileys.call(
            "lthash", base=b64(base), subtract=[b64(m) for m in sub], add=[b64(m) for m in add]
        )
        assert unb64(theirs["hash"]) == subtract_then_add(base, sub, add)


def test_key_expansion_equals_baileys(baileys: BaileysAppState) -> None:
    for _ in range(10):
        key_data = os.urandom(32)
        theirs = baileys.call("expand", keyData=b64(key_data))
        ours = expand_keys(key_data)
        assert unb64(theirs["index"]) == ours.index
        assert unb64(theirs["valueEncryption"]) == ours.value_encryption
        assert unb64(theirs["valueMac"]) == ours.value_mac
        assert unb64(theirs["snapshotMac"]) == ours.snapshot_mac
        assert unb64(theirs["patchMac"]) == ours.patch_mac
