"""App-state throughput: wamd beside Baileys rc14 (its Rust/WASM LTHash), same inputs, same run.

Usage: .venv/bin/python bench/appstate.py [--macs 20000] [--mutations 2000]

Prints LTHash additions per second and patch decoding (verify every MAC + decrypt) mutations
per second for both. Needs the npm peers (scripts/setup.sh test).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from wamd.appstate import actions  # noqa: E402
from wamd.appstate.decode import apply_patches, parse_patch  # noqa: E402
from wamd.appstate.encode import PatchInfo, encode_patch  # noqa: E402
from wamd.appstate.keys import Keyring  # noqa: E402
from wamd.appstate.lthash import EMPTY_HASH, subtract_then_add  # noqa: E402
from wamd.appstate.state import CollectionState  # noqa: E402


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Peer:
    def __init__(self) -> None:
        interop = ROOT / "tests" / "interop"
        self.proc = subprocess.Popen(
            ["node", str(interop / "appstate_peer.mjs")],
            cwd=interop,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def call(self, op: str, **args: object) -> dict[str, object]:
        assert self.proc.stdin
        assert self.proc.stdout
        self.proc.stdin.write(json.dumps({"id": 1, "op": op, **args}) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        if not answer["ok"]:
            raise RuntimeError(answer["error"])
        return answer["result"]  # type: ignore[no-any-return]

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--macs", type=int, default=20000)
    parser.add_argument("--mutations", type=int, default=2000)
    args = parser.parse_args()
    peer = Peer()
    try:
        macs = [os.urandom(32) for _ in range(args.macs)]
        start = time.perf_counter()
        ours_hash = subtract_then_add(EMPTY_HASH, (), macs)
        ours = time.perf_counter() - start
        theirs = peer.call("benchLthash", macs=[b64(m) for m in macs], rounds=1)
        assert base64.b64decode(str(theirs["hash"])) == ours_hash, "LTHash results differ"
        _row("LTHash add (MACs/s)", args.macs / ours, args.macs / float(theirs["seconds"]))  # type: ignore[arg-type]

        key_id, key_data = os.urandom(6), os.urandom(32)
        keyring = Keyring({key_id: key_data})
        mutations = [
            m
            for i in range(args.mutations)
            for m in actions.mute(f"{15550000000 + i}@s.whatsapp.net", until_ms=i).mutations
        ]
        encoded = encode_patch(
            CollectionState("regular_high"),
            PatchInfo("regular_high", mutations),
            keyring,
            key_id,
            {},
            timestamp_ms=1,
        )
        encoded.patch.version.version = 1
        raw = encoded.serialize()
        start = time.perf_counter()
        result = apply_patches(CollectionState("regular_high"), [parse_patch(raw)], keyring, {})
        ours = time.perf_counter() - start
        theirs = peer.call(
            "benchDecode",
            name="regular_high",
            patches=[b64(raw)],
            keys={b64(key_id): b64(key_data)},
            rounds=1,
        )
        assert base64.b64decode(str(theirs["hash"])) == result.state.hash, "decoded states differ"
        n = args.mutations
        _row("patch decode (mutations/s)", n / ours, n / float(theirs["seconds"]))  # type: ignore[arg-type]
    finally:
        peer.close()


def _row(what: str, ours: float, theirs: float) -> None:
    print(f"{what:<28} wamd {ours:>12,.0f}   Baileys {theirs:>12,.0f}   ratio {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
