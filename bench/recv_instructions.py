"""Instructions per received message (valgrind's callgrind): a figure that does not move with
the machine's load, for comparing two trees of wamd.

    .venv/bin/python bench/recv_instructions.py [--store memory|sqlite] [--messages 200]
        [--gap 0.08] [--loop asyncio|uvloop] [--keep PATH]

The receiver of ``bench/messaging.py`` (``--worker recv``) runs under callgrind with
instrumentation off; a sender in this process sends one warm-up message, then instrumentation
is switched on and ``--messages`` texts follow, ``--gap`` seconds apart, so that the receiver
handles each alone (one receive batch per message: the worst case, and a deterministic one).
The figure is the instructions the receiver executed (user space: Python, OpenSSL, SQLite; the
kernel's share is not counted) divided by the number of messages. Runs of one tree agree to
about 0.1%; CPU time on this shared VM moves by 2x with the load on the other core.
``--keep PATH`` keeps the callgrind output for ``callgrind_annotate``.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.insert(0, str(ROOT / "src"))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

from wamd.store import MemoryStore  # noqa: E402
from wamd.types import JID  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_messaging", BENCH / "messaging.py")
assert _spec is not None
assert _spec.loader is not None
mb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mb)


def _total(path: Path) -> int:
    totals = [
        int(line.split()[1])
        for line in path.read_text().splitlines()
        if line.startswith(("summary:", "totals:"))
    ]
    if not totals:
        raise RuntimeError(f"no totals in {path}")
    return max(totals)


async def _callgrind_control(state: str, pid: int) -> None:
    """Switch the receiver's instrumentation ``on`` or ``off``."""
    proc = await asyncio.create_subprocess_exec(
        "callgrind_control",
        "-i",
        state,
        str(pid),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    if await proc.wait() != 0:
        raise RuntimeError(f"callgrind_control -i {state} {pid} failed")


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="wamd-bench-instr-"))
    try:
        async with mb.sandbox_process(tmp / "sandbox") as sb:
            out = tmp / "callgrind.out"
            cfg = {
                "sandbox": sb,
                "phone": "15550000002",
                "store": args.store,
                "path": str(tmp / "recv.db"),
                "count": args.messages,
                "loop": args.loop,
            }
            recv = await asyncio.create_subprocess_exec(
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={out}",
                sys.executable,
                str(BENCH / "messaging.py"),
                "--worker",
                "recv",
                json.dumps(cfg),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                limit=16 * 1024 * 1024,
            )
            ready = await mb.next_json(recv, "ready", timeout=1800)
            to = JID.parse(ready["jid"])
            sender = await mb.paired(sb, "15550000001", MemoryStore())
            await sender.send_text(to, "warmup")
            await asyncio.sleep(3 + 5 * args.gap)
            await _callgrind_control("on", recv.pid)
            for i in range(args.messages):
                await sender.send_text(to, f"message {i}")
                await asyncio.sleep(args.gap)
            result = await mb.next_json(recv, "recv", timeout=1800)
            await _callgrind_control("off", recv.pid)
            await recv.wait()
            await sender.close()
            total = _total(out)
            print(
                f"wamd receiver ({args.store}, {args.loop}): {total / args.messages:,.0f} "
                "instructions per "
                f"message ({args.messages} messages, {result['batches']} receive batches)"
            )
            if args.keep:
                shutil.copy(out, args.keep)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cli() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", choices=("memory", "sqlite"), default="memory")
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.08)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--keep", default="")
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind (with callgrind_control) is needed: apt-get install valgrind")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    cli()
