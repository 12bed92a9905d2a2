"""CPU per received message of a wamd receiver process (SQLite store, synchronous=FULL).

    .venv/bin/python bench/receive.py [--count 2000]

A sandbox and a sender run in this process; the receiver is tests/e2e/crash_receiver.py in
its own process, counting messages in a plain handler. The figure is the receiver process's
CPU time (user + system, all threads: Noise, node decoding, Signal, the SQLite commit and
fsync, the receipt) between "connected" and "the last message handled", divided by the
number of messages. The sender keeps ``--concurrency`` sends in flight (1: each waits for the
previous ack, so the receiver gets one message at a time). ``--offline`` sends everything
before the receiver starts: it then receives a backlog, which it decrypts and commits in
batches.
"""

from __future__ import annotations

import os
import sys

# run as a script, bench/ would come first on the path: the repository root goes there
# instead, so that `tests` (the scenario helpers) imports
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from tests.conftest import subprocess_env  # noqa: E402
from tests.e2e.crash import RECEIVER, RECEIVER_PHONE, SENDER_PHONE  # noqa: E402
from tests.sandbox.routing_helpers import pair  # noqa: E402
from wamd.proto import e2e_pb2  # noqa: E402
from wamd.sandbox import Sandbox  # noqa: E402
from wamd.store.sqlite import SQLiteStore  # noqa: E402
from wamd.types import JID  # noqa: E402


async def run(tmp: Path, count: int, concurrency: int, offline: bool) -> tuple[float, float]:
    """(CPU seconds of the receiver, wall seconds) for ``count`` messages.

    Live: the receiver is connected while the sender sends; the CPU counted is between
    "connected" and "last message handled". Offline: everything is sent first, then the
    receiver starts and gets it all as its offline backlog; the CPU counted is from process
    start to the last message, minus the start-up CPU of a receiver with nothing queued.
    """
    db = tmp / "receiver.db"
    async with Sandbox(state_dir=tmp / "sandbox", port=0) as sandbox:
        store = await SQLiteStore.open(db)
        peer = await pair(sandbox, RECEIVER_PHONE, store)
        await peer.client.close()
        await store.close()
        sender = await pair(sandbox, SENDER_PHONE)
        to = JID(RECEIVER_PHONE, "s.whatsapp.net")
        window = asyncio.Semaphore(concurrency)

        async def send(i: int) -> None:
            async with window:
                await sender.client.send_message(to, e2e_pb2.Message(conversation=f"m {i}"))

        async def start(expected: int) -> tuple[asyncio.subprocess.Process, float]:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(RECEIVER),
                str(db),
                sandbox.url,
                sandbox.root_public_key.hex(),
                str(expected),
                stdout=asyncio.subprocess.PIPE,
                env=subprocess_env(),
            )
            assert proc.stdout is not None
            ready = (await proc.stdout.readline()).split()
            assert ready[0] == b"ready", ready
            return proc, float(ready[1])

        async def finish(proc: asyncio.subprocess.Process) -> float:
            assert proc.stdout is not None
            async with asyncio.timeout(600):
                done = (await proc.stdout.readline()).split()
            assert done[0] == b"done", done
            print(f"receiver batches         {int(done[2])}")
            return float(done[1])

        try:
            if offline:
                baseline, startup = await start(count)  # nothing queued yet: start-up CPU
                baseline.kill()
                await baseline.wait()
                await asyncio.gather(*(send(i) for i in range(count)))
                started = time.perf_counter()
                proc, _ = await start(count)
                try:
                    cpu = await finish(proc) - startup
                finally:
                    proc.kill()
                    await proc.wait()
                return cpu, time.perf_counter() - started
            proc, ready = await start(count)
            try:
                started = time.perf_counter()
                await asyncio.gather(*(send(i) for i in range(count)))
                return await finish(proc) - ready, time.perf_counter() - started
            finally:
                proc.kill()
                await proc.wait()
        finally:
            await sender.client.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="sends in flight at once (the sender awaits each ack)",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="send everything first; the receiver gets it as a backlog",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cpu, wall = await run(Path(tmp), args.count, args.concurrency, args.offline)
    mode = "offline backlog" if args.offline else "live"
    print(f"messages                 {args.count} ({mode})")
    print(f"receiver CPU per message {cpu / args.count * 1e6:.0f} us")
    if args.offline:
        print(f"backlog drained at       {args.count / wall:.0f} messages/s (incl. start-up)")
    else:
        print(
            f"end-to-end rate          {args.count / wall:.0f} messages/s "
            f"(one sender, {args.concurrency} in flight)"
        )


if __name__ == "__main__":
    asyncio.run(main())
