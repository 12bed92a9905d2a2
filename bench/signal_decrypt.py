"""Cost of one received 1:1 message in the Signal facade: ``SignalBatch.decrypt`` + ``commit``.

    .venv/bin/python bench/signal_decrypt.py [--messages 2000] [--only pkmsg|msg] [--instructions]

One receiving :class:`~wamd.signal.SignalCipher` over a memory store decrypts, one batch and
one commit (inside ``committing``) per message, as the client's receive path does:

* ``pkmsg``: the sender started the session and the receiver never replied, so every message
  repeats the X3DH header (the first one, which creates the session, is not counted);
* ``msg``: an established session (both sides have stepped once).

The ciphertexts are made beforehand, so only the receiving side is measured. It prints the
best batch's microseconds per message (wall clock; on a shared machine the minimum is the
closest to an idle core). ``--instructions`` prints instead the instructions per message under
valgrind's callgrind, counted only while the messages are received (a figure that does not
move with the load; needs valgrind with callgrind_control).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.unit.signal_helpers import Party, connected  # noqa: E402
from wamd.signal import SignalCipher  # noqa: E402
from wamd.signal.memory import MemorySignalStore  # noqa: E402
from wamd.signal.padding import pad  # noqa: E402

PAYLOAD = bytes(range(100))
BATCHES = 20


def _receiver(party: Party) -> tuple[SignalCipher, MemorySignalStore]:
    store = MemorySignalStore()
    assert party.signed is not None
    store.add_signed_prekey(party.signed)
    store.add_prekeys(party.prekeys.values())
    return SignalCipher(party.local.key_pair, party.local.registration_id), store


def _messages(kind: str, count: int) -> tuple[SignalCipher, MemorySignalStore, list[bytes]]:
    if kind == "pkmsg":
        alice, bob = Party(), Party()
        alice.start(bob)
        cipher, store = _receiver(bob)
        items = [alice.send(pad(PAYLOAD)) for _ in range(count + 1)]
        assert all(enc == "pkmsg" for enc, _ in items)
        first = items.pop(0)[1]
        asyncio.run(_receive(cipher, store, "pkmsg", [first]))  # creates the session
    else:
        alice, bob = connected()
        cipher, store = _receiver(bob)
        assert bob.record is not None
        store.sessions.data["alice.1"] = bob.record.serialize()
        store.identities.data["alice.1"] = alice.local.key_pair.public
        items = [alice.send(pad(PAYLOAD)) for _ in range(count)]
        assert all(enc == "msg" for enc, _ in items)
    return cipher, store, [data for _, data in items]


async def _receive(
    cipher: SignalCipher, store: MemorySignalStore, kind: str, messages: list[bytes]
) -> None:
    for data in messages:
        batch = cipher.batch(store)
        result = await batch.decrypt("alice.1", kind, data)
        assert result.plaintext == PAYLOAD
        with batch.committing():
            await batch.commit(store)


def run(kind: str, count: int) -> float:
    """Best microseconds per message over ``BATCHES`` batches."""
    cipher, store, messages = _messages(kind, count)
    size = max(1, count // BATCHES)
    best = float("inf")
    for start in range(0, count, size):
        chunk = messages[start : start + size]
        began = time.perf_counter()
        asyncio.run(_receive(cipher, store, kind, chunk))
        best = min(best, (time.perf_counter() - began) / len(chunk))
    return best * 1e6


def _callgrind(state: str) -> None:
    subprocess.run(
        ["callgrind_control", "-i", state, str(os.getpid())], check=True, capture_output=True
    )


def worker(kind: str, count: int) -> None:
    """Under callgrind (instrumentation off at start): receive with instrumentation on."""
    cipher, store, messages = _messages(kind, count)
    _callgrind("on")
    asyncio.run(_receive(cipher, store, kind, messages))
    _callgrind("off")


def instructions(kind: str, count: int) -> float:
    """Instructions per received message under callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--worker",
                kind,
                "--messages",
                str(count),
            ],
            check=True,
            capture_output=True,
        )
        totals = [
            int(line.split()[1])
            for line in out.read_text().splitlines()
            if line.startswith(("summary:", "totals:"))
        ]
    return max(totals) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--only", choices=("pkmsg", "msg"))
    parser.add_argument("--instructions", action="store_true")
    parser.add_argument("--worker", choices=("pkmsg", "msg"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.messages)
        return
    for kind in ("pkmsg", "msg"):
        if args.only in (None, kind):
            if args.instructions:
                figure = instructions(kind, min(args.messages, 500))
                print(f"{kind:6} {figure:10,.0f} instructions per received message")
            else:
                print(f"{kind:6} {run(kind, args.messages):8.1f} us per received message")


if __name__ == "__main__":
    main()
