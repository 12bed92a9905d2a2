"""Signal throughput: wamd beside npm libsignal@6.0.0 (and Baileys' sender keys) in one run.

Usage: .venv/bin/python bench/signal_rates.py [--quick]

Rows (both sides keep records in memory as objects, no serialization, one process, one core):
  1:1 pairs            encrypt + decrypt of one message, same direction (no ratchet step)
  1:1 pairs, ratchet   encrypt + decrypt, alternating direction (a DH ratchet step each time)
  session setups       process a bundle (with one-time prekey) + first pkmsg + its decryption
  group pairs          sender-key encrypt (sign) + decrypt (verify)
The last row, wamd only, goes through the facade with a store: batch, decrypt, serialize and
commit per message (the client's real path).
Both sides run each row in batches and report the best batch's rate (wall clock; Node times
itself inside the driver tests/interop/signal_peer.mjs): on a shared machine the best batch is
the closest to an idle core, as timeit's minimum is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.unit.signal_helpers import Party, connected  # noqa: E402
from wamd.signal import SignalCipher  # noqa: E402
from wamd.signal import group as group_ops  # noqa: E402
from wamd.signal.memory import MemorySignalStore  # noqa: E402

PAYLOAD = bytes(100)


BATCHES = 50


def rate(n: int, run: Callable[[int], None]) -> float:
    """The best rate over ``BATCHES`` batches of ``n / BATCHES`` operations each.

    ``run(count)`` performs the next ``count`` operations (continuing where it stopped).
    """
    size = max(1, n // BATCHES)
    best = 0.0
    for _ in range(BATCHES):
        start = time.perf_counter()
        run(size)
        best = max(best, size / (time.perf_counter() - start))
    return best


def bench_pairs(n: int) -> float:
    alice, bob = connected()

    def run(count: int) -> None:
        send, receive = alice.send, bob.receive
        for _ in range(count):
            receive(*send(PAYLOAD))

    return rate(n, run)


def bench_pairs_ratchet(n: int) -> float:
    alice, bob = connected()

    def run(count: int) -> None:
        for i in range(count):
            if i % 2:
                alice.receive(*bob.send(PAYLOAD))
            else:
                bob.receive(*alice.send(PAYLOAD))

    return rate(n, run)


def bench_setups(n: int) -> float:
    alice = Party()
    bobs = iter([Party() for _ in range(n)])

    def run(count: int) -> None:
        for _ in range(count):
            bob = next(bobs)
            alice.record = None
            alice.start(bob)
            bob.receive(*alice.send(b"hello"))

    return rate(n, run)


def bench_group(n: int) -> float:
    own = group_ops.create_sender_key()
    theirs = group_ops.process_distribution(None, group_ops.distribution_message(own))

    def run(count: int) -> None:
        nonlocal own, theirs
        for _ in range(count):
            own, data = group_ops.group_encrypt(own, PAYLOAD)
            theirs, _plain = group_ops.group_decrypt(theirs, data)

    return rate(n, run)


def bench_facade(n: int) -> float:
    alice, bob = connected()
    stores = (MemorySignalStore(), MemorySignalStore())
    ciphers = (
        SignalCipher(alice.local.key_pair, alice.local.registration_id),
        SignalCipher(bob.local.key_pair, bob.local.registration_id),
    )
    assert alice.record is not None
    assert bob.record is not None
    stores[0].sessions.data["bob.1"] = alice.record.serialize()
    stores[1].sessions.data["alice.1"] = bob.record.serialize()

    async def go(count: int) -> None:
        for _ in range(count):
            out = ciphers[0].batch(stores[0])
            enc = await out.encrypt("bob.1", PAYLOAD)
            await out.commit(stores[0])
            inc = ciphers[1].batch(stores[1])
            await inc.decrypt("alice.1", enc.enc_type, enc.ciphertext)
            await inc.commit(stores[1])

    return rate(n, lambda count: asyncio.run(go(count)))


def node_figures(sizes: dict[str, int]) -> dict[str, float]:
    request = {"id": 1, "cmd": "bench", "size": len(PAYLOAD), "batches": BATCHES, **sizes}
    proc = subprocess.run(
        ["node", str(ROOT / "tests" / "interop" / "signal_peer.mjs")],
        input=json.dumps(request) + "\n",
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT / "tests" / "interop",
        timeout=1800,
    )
    answer = json.loads(proc.stdout.splitlines()[0])
    if not answer["ok"]:
        raise SystemExit(f"node bench failed: {answer}")
    return {k: float(v) for k, v in answer["result"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    n = {
        k: max(10, int(v * scale))
        for k, v in {
            "n": 20000,
            "n_ratchet": 5000,
            "n_setup": 1000,
            "n_group": 2500,
            "n_group_node": 200,
        }.items()
    }
    # warm up both sides' code paths briefly
    bench_pairs(200)
    ours = {
        "pairs": bench_pairs(n["n"]),
        "pairs_ratchet": bench_pairs_ratchet(n["n_ratchet"]),
        "setups": bench_setups(n["n_setup"]),
        "group": bench_group(n["n_group"]),
    }
    facade = bench_facade(n["n"] // 4)
    theirs = node_figures(
        {
            "n": n["n"],
            "n_ratchet": n["n_ratchet"],
            "n_setup": n["n_setup"],
            "n_group": n["n_group_node"],
        }
    )
    labels = {
        "pairs": "1:1 encrypt+decrypt pairs/s (no ratchet step)",
        "pairs_ratchet": "1:1 encrypt+decrypt pairs/s (ratchet step each)",
        "setups": "session setups/s (bundle + pkmsg + decrypt)",
        "group": "group encrypt+decrypt pairs/s (sender keys)",
    }
    print(f"{'work':52} {'wamd':>12} {'libsignal-node':>15} {'ratio':>8}")
    for key, label in labels.items():
        print(f"{label:52} {ours[key]:12,.0f} {theirs[key]:15,.0f} {ours[key] / theirs[key]:7.2f}x")
    print(
        f"{'facade pairs/s (batch + serialize + commit), wamd only':52} {facade:12,.0f}"
        f" {'-':>15} {'-':>8}"
    )
    print("group peer: Baileys rc14 lib/Signal/Group on libsignal-node's curve25519-js")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"best batch of {BATCHES} per row; load average {load} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
