"""End-to-end messaging on a sandbox: wamd beside Baileys, same sandbox, same run.

    .venv/bin/python bench/messaging.py [--messages 2000] [--window 16] [--idle 1000]
        [--baileys-idle 50] [--stores memory,sqlite] [--loops asyncio,uvloop] [--linger S]
        [--profile [--profile-out PATH]] [--no-baileys]

Measured (each side in its own process, so that CPU and memory are its own):

1. messages/s: one client sends ``--messages`` texts (at most ``--window`` awaiting their
   server ack at once) to another, from the first timed message to the last one received;
2. CPU per received message: the receiving process's CPU time (user + system, all threads)
   over the timed messages, divided by their number — Noise, codec, Signal decrypt, the
   store transaction, the receipt, dispatch to a handler. wamd's receiver is measured with
   each store of ``--stores`` (the store sets the receive path's durability cost) and each
   event loop of ``--loops`` (``uvloop`` when the ``speed`` extra is installed), with the
   default receive linger (``--linger`` sets ``MessagingOptions.receive_linger``: 0 makes
   every message that arrives alone pay a whole receive batch);
3. memory per connected idle client: ``--idle`` wamd clients sharing one SQLite store (one
   database, many devices) in one process, logged in and idle: (RSS after - RSS before) / N;
   Baileys: ``--baileys-idle`` sockets in one Node process, the same way.

A reference figure comes first: the CPU time of a fixed pure-Python loop, to compare runs made
on differently loaded or different machines.

The sandbox runs in its own process (``python -m wamd sandbox``). Targets (issue 6): <= 250 us
CPU per received message, <= 2 MB per idle client. ``--profile`` prints where wamd's receiver
spends its CPU (cProfile, top functions by own time).
"""

from __future__ import annotations

import sys
from pathlib import Path

# keep bench/ itself off the import path: its scripts are not modules to import
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import cProfile  # noqa: E402
import ctypes  # noqa: E402
import gc  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import AsyncIterator  # noqa: E402
from typing import Any  # noqa: E402

import aiohttp  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
INTEROP = ROOT / "tests" / "interop"
sys.path.insert(0, str(ROOT / "src"))

from wamd.client import Client  # noqa: E402
from wamd.conn.options import ServerInfo  # noqa: E402
from wamd.events import QR  # noqa: E402
from wamd.loop import loop_factory  # noqa: E402
from wamd.loop import run as run_on_loop  # noqa: E402
from wamd.messaging import Message, MessagingOptions  # noqa: E402
from wamd.pairing.credentials import new_credentials  # noqa: E402
from wamd.store import MemoryStore, Store  # noqa: E402
from wamd.store.sqlite import SQLiteStore  # noqa: E402
from wamd.types import JID  # noqa: E402


def rss() -> int:
    """This process's resident set size in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def trim() -> None:
    """Collect garbage and give freed heap pages back to the system (glibc)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


# --- the sandbox and pairing -------------------------------------------------------------------


@contextlib.asynccontextmanager
async def sandbox_process(state_dir: Path) -> AsyncIterator[dict[str, str]]:
    """``python -m wamd sandbox`` on a free port: yields its url, admin url and root key."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wamd",
        "sandbox",
        "--port",
        "0",
        "--state-dir",
        str(state_dir),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    try:
        assert proc.stdout is not None
        lines = [(await proc.stdout.readline()).decode().strip() for _ in range(3)]
        admin = lines[1].rsplit(" ", 1)[1]
        # the CA of the sandbox's HTTPS media host: clients download their history sync there
        async with aiohttp.ClientSession() as http, http.get(f"{admin}/media") as response:
            media_ca = (await response.json())["ca_pem"]
        yield {
            "url": lines[0].rsplit(" ", 1)[1],
            "admin": admin,
            "root": lines[2].rsplit(" ", 1)[1],
            "media_ca": media_ca,
        }
    finally:
        proc.terminate()
        await proc.wait()


async def scan(admin: str, qr: str, phone: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{admin}/scan_qr", json={"qr": qr, "phone": phone}) as response,
    ):
        if response.status != 200:
            raise RuntimeError(f"scan_qr: {response.status} {await response.text()}")


async def paired(
    sb: dict[str, str], phone: str, store: Store, account: int | None = None, **options: Any
) -> Client:
    """A wamd client paired with ``phone`` (new account ``account`` of ``store``), logged in."""
    server = ServerInfo(url=sb["url"], root_key=bytes.fromhex(sb["root"]), media_ca=sb["media_ca"])
    client = Client(store, account=account, server=server, **options)

    async def on_qr(evt: QR) -> None:
        if evt.index == 0:
            await scan(sb["admin"], evt.text, phone)

    registration = client.add_event_handler(QR, on_qr)
    await client.connect()
    await client.wait_until_connected(timeout=120)
    client.remove_event_handler(registration)
    return client


# --- workers (each in its own process) ---------------------------------------------------------


async def worker_recv(cfg: dict[str, Any]) -> None:
    """Receive ``count`` timed messages after a warm-up; print the CPU and wall time."""
    sb = cfg["sandbox"]
    store: Store = MemoryStore()
    if cfg["store"] == "sqlite":
        store = await SQLiteStore.open(cfg["path"])
    options: dict[str, Any] = {}
    if cfg.get("linger") is not None:
        options["messaging"] = MessagingOptions(receive_linger=cfg["linger"])
    client = await paired(sb, cfg["phone"], store, **options)
    done = asyncio.get_running_loop().create_future()
    state: dict[str, Any] = {"got": -1}
    profiler = cProfile.Profile(time.process_time) if cfg.get("profile") else None

    def on_message(evt: Message) -> None:
        if evt.from_me:
            return
        state["got"] += 1
        if state["got"] == 0:
            state["cpu"], state["t"] = time.process_time(), time.perf_counter()
            state["sys"] = os.times().system
            if profiler is not None:
                profiler.enable()
        elif state["got"] == cfg["count"] and not done.done():
            if profiler is not None:
                profiler.disable()
            state["sys"] = os.times().system - state["sys"]
            done.set_result((time.process_time() - state["cpu"], time.perf_counter() - state["t"]))

    client.add_event_handler(Message, on_message)
    assert client.jid is not None
    print(json.dumps({"event": "ready", "jid": str(client.jid.to_non_ad())}), flush=True)
    cpu, wall = await done
    result: dict[str, Any] = {
        "event": "recv",
        "count": cfg["count"],
        "cpu_s": cpu,
        "sys_s": state["sys"],
        "wall_s": wall,
        "batches": client.messaging.receiver.batches,
        "lingered": client.messaging.receiver.lingered,
    }
    if profiler is not None:
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        if cfg.get("profile_out"):
            stats.dump_stats(f"{cfg['profile_out']}.{cfg['store']}")
        stats.sort_stats(cfg.get("sort", "tottime")).print_stats(45)
        result["profile"] = text.getvalue() + _by_area(stats, cfg["count"])
    print(json.dumps(result), flush=True)
    await client.close()
    await store.close()


def _by_area(stats: pstats.Stats, count: int) -> str:
    """CPU (own time, profiled) per received message, summed by wamd package / other."""
    areas: dict[str, float] = {}
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _, _), (_, _, tottime, _, _) in raw.items():
        marker = "/src/wamd/"
        if marker in filename:
            area = "wamd." + filename.split(marker, 1)[1].split("/")[0].removesuffix(".py")
        elif "asyncio" in filename:
            area = "asyncio"
        elif filename == "~":
            area = "builtins / C"
        else:
            area = "other Python"
        areas[area] = areas.get(area, 0.0) + tottime
    total = sum(areas.values())
    lines = [
        f"profiled CPU per message by area (total {total / count * 1e6:.0f} us, with "
        "the profiler's own overhead):"
    ]
    for area, seconds in sorted(areas.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {area:<24} {seconds / count * 1e6:>8.0f} us  {seconds / total:>5.0%}")
    return "\n".join(lines) + "\n"


async def worker_pair_many(cfg: dict[str, Any]) -> None:
    """Pair ``n`` clients into one SQLite store (accounts 1..n), ``parallel`` at a time."""
    sb = cfg["sandbox"]
    store = await SQLiteStore.open(cfg["path"])
    gate = asyncio.Semaphore(cfg.get("parallel", 16))

    async def one(i: int) -> None:
        async with gate:
            account = await store.new_account(new_credentials())
            client = await paired(sb, f"1666{i:07d}", store, account.id)
            await client.close()

    await asyncio.gather(*(one(i) for i in range(cfg["n"])))
    await store.close()
    print(json.dumps({"event": "paired", "n": cfg["n"]}), flush=True)


async def worker_idle(cfg: dict[str, Any]) -> None:
    """Log every account of the store in, idle; print RSS before and after."""
    sb = cfg["sandbox"]
    server = ServerInfo(url=sb["url"], root_key=bytes.fromhex(sb["root"]), media_ca=sb["media_ca"])
    store = await SQLiteStore.open(cfg["path"])
    infos = await store.accounts()
    trim()
    before = rss()
    clients = [Client(store, account=info.id, server=server) for info in infos]
    gate = asyncio.Semaphore(cfg.get("parallel", 32))

    async def connect(client: Client) -> None:
        async with gate:
            await client.connect()
            await client.wait_until_connected(timeout=120)

    await asyncio.gather(*(connect(c) for c in clients))
    await asyncio.sleep(5)
    trim()
    after = rss()
    print(
        json.dumps({"event": "idle", "n": len(clients), "rss_before": before, "rss_after": after}),
        flush=True,
    )
    for client in clients:
        await client.close()
    await store.close()


WORKERS = {"recv": worker_recv, "pair_many": worker_pair_many, "idle": worker_idle}


async def spawn_worker(name: str, cfg: dict[str, Any]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--worker",
        name,
        json.dumps(cfg),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        limit=16 * 1024 * 1024,
    )


async def spawn_node(cfg: dict[str, Any]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "node",
        "--expose-gc",
        str(INTEROP / "baileys_msg_bench.mjs"),
        json.dumps(cfg),
        cwd=INTEROP,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=16 * 1024 * 1024,
    )


async def next_json(
    proc: asyncio.subprocess.Process,
    event: str,
    timeout: float = 600,  # noqa: ASYNC109
) -> dict[str, Any]:
    """The next JSON line of ``proc`` whose ``event`` is ``event``."""
    assert proc.stdout is not None
    async with asyncio.timeout(timeout):
        while True:
            line = await proc.stdout.readline()
            if not line:
                raise RuntimeError(f"worker exited before {event!r}")
            try:
                data: dict[str, Any] = json.loads(line)
            except ValueError:
                continue
            if data.get("event") == "error":
                raise RuntimeError(data.get("message"))
            if data.get("event") == event:
                return data


# --- the measurements --------------------------------------------------------------------------


async def wamd_throughput(
    sb: dict[str, str],
    tmp: Path,
    store: str,
    args: argparse.Namespace,
    phones: tuple[str, str],
    loop: str = "asyncio",
) -> dict[str, Any]:
    recv = await spawn_worker(
        "recv",
        {
            "sandbox": sb,
            "phone": phones[1],
            "store": store,
            "path": str(tmp / f"recv-{store}.db"),
            "count": args.messages,
            "profile": args.profile,
            "profile_out": args.profile_out,
            "sort": args.profile_sort,
            "loop": loop,
            "linger": args.linger,
        },
    )
    ready = await next_json(recv, "ready")
    to = JID.parse(ready["jid"])
    sender = await paired(sb, phones[0], MemoryStore())
    await sender.send_text(to, "warmup")
    await asyncio.sleep(1)
    gate = asyncio.Semaphore(args.window)
    start = time.perf_counter()

    async def one(i: int) -> None:
        async with gate:
            await sender.send_text(to, f"message {i}")

    await asyncio.gather(*(one(i) for i in range(args.messages)))
    send_wall = time.perf_counter() - start
    result = await next_json(recv, "recv")
    await recv.wait()
    await sender.close()
    result["send_wall_s"] = send_wall
    return result


async def baileys_throughput(
    sb: dict[str, str], tmp: Path, args: argparse.Namespace, phones: tuple[str, str]
) -> dict[str, Any]:
    dirs = [str(tmp / "baileys-send"), str(tmp / "baileys-recv")]
    base = {"url": sb["url"], "rootPublicKey": sb["root"], "adminUrl": sb["admin"]}
    pairing = await spawn_node({**base, "mode": "pair", "authDirs": dirs, "phones": list(phones)})
    await next_json(pairing, "done")
    await pairing.wait()
    recv = await spawn_node({**base, "mode": "recv", "authDirs": dirs[1:], "count": args.messages})
    me = (await next_json(recv, "ready"))["me"]
    to = str(JID.parse(me["id"]).to_non_ad())
    send = await spawn_node(
        {
            **base,
            "mode": "send",
            "authDirs": dirs[:1],
            "to": to,
            "count": args.messages,
            "window": args.window,
        }
    )
    await next_json(send, "ready")
    assert send.stdin is not None
    send.stdin.write(b"go\n")
    await send.stdin.drain()
    result = await next_json(recv, "recv")
    sent = await next_json(send, "sent")
    send.stdin.close()
    await send.wait()
    await recv.wait()
    return {
        "count": result["count"],
        "cpu_s": result["cpuUs"] / 1e6,
        "wall_s": result["wallS"],
        "send_wall_s": sent["wallS"],
    }


async def wamd_idle(sb: dict[str, str], tmp: Path, n: int) -> dict[str, Any]:
    path = str(tmp / "idle.db")
    pairing = await spawn_worker("pair_many", {"sandbox": sb, "path": path, "n": n})
    await next_json(pairing, "paired", timeout=3600)
    await pairing.wait()
    idle = await spawn_worker("idle", {"sandbox": sb, "path": path})
    result = await next_json(idle, "idle", timeout=3600)
    await idle.wait()
    return result


async def baileys_idle(sb: dict[str, str], tmp: Path, n: int) -> dict[str, Any]:
    dirs = [str(tmp / f"baileys-idle-{i}") for i in range(n)]
    phones = [f"1777{i:07d}" for i in range(n)]
    base = {"url": sb["url"], "rootPublicKey": sb["root"], "adminUrl": sb["admin"]}
    pairing = await spawn_node({**base, "mode": "pair", "authDirs": dirs, "phones": phones})
    await next_json(pairing, "done", timeout=3600)
    await pairing.wait()
    idle = await spawn_node({**base, "mode": "idle", "authDirs": dirs})
    result = await next_json(idle, "idle", timeout=3600)
    assert idle.stdin is not None
    idle.stdin.close()
    await idle.wait()
    return {"n": result["n"], "rss_before": result["rssBefore"], "rss_after": result["rssAfter"]}


def _row(name: str, r: dict[str, Any]) -> str:
    per_msg_us = r["cpu_s"] / r["count"] * 1e6
    rate = r["count"] / r["wall_s"]
    batches = f" ({r['batches']} receive batches)" if "batches" in r else ""
    if "lingered" in r:
        batches = f" ({r['batches']} receive batches, {r['lingered']} lingered)"
    if "sys_s" in r:
        batches = f" ({r['sys_s'] / r['count'] * 1e6:.0f} of it kernel){batches}"
    return f"{name:<28} {rate:>10.0f} msg/s {per_msg_us:>10.0f} us CPU/msg{batches}"


def _idle_row(name: str, r: dict[str, Any]) -> str:
    per = (r["rss_after"] - r["rss_before"]) / max(1, r["n"]) / 2**20
    return (
        f"{name:<28} {r['n']:>6} clients {per:>8.2f} MB/client "
        f"(RSS {r['rss_before'] / 2**20:.0f} -> {r['rss_after'] / 2**20:.0f} MB)"
    )


def reference_loop_ms() -> float:
    """CPU milliseconds of a fixed pure-Python loop (10 million additions, best of 3): how fast
    this machine runs Python now, to read the CPU figures of different runs or machines by
    (a shared VM's figure moves by 2x with what runs beside it)."""
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        total = 0
        for i in range(10_000_000):
            total += i
        best = min(best, time.process_time() - start)
    return best * 1e3


async def main(args: argparse.Namespace) -> None:
    print(f"reference loop: {reference_loop_ms():.0f} ms CPU (10M additions in Python, best of 3)")
    tmp = Path(tempfile.mkdtemp(prefix="wamd-bench-msg-"))
    try:
        async with sandbox_process(tmp / "sandbox") as sb:
            print(f"sandbox {sb['url']}; {args.messages} messages, window {args.window}")
            print("\n== throughput and CPU per received message ==")
            runs = [
                (store, loop)
                for store in args.stores.split(",")
                if store
                for loop in args.loops.split(",")
                if loop
            ]
            for n, (store, loop) in enumerate(runs):
                phones = (f"1555{n:03d}0001", f"1555{n:03d}0002")
                result = await wamd_throughput(sb, tmp, store, args, phones, loop)
                label = store if loop == "asyncio" else f"{store}, {loop}"
                print(_row(f"wamd -> wamd ({label})", result), flush=True)
                if "profile" in result:
                    print(result["profile"])
            if not args.no_baileys:
                result = await baileys_throughput(sb, tmp, args, ("15559990001", "15559990002"))
                print(_row("Baileys -> Baileys", result), flush=True)
            print("\n== memory per connected idle client ==")
            if args.idle:
                print(
                    _idle_row("wamd (one SQLite store)", await wamd_idle(sb, tmp, args.idle)),
                    flush=True,
                )
            if args.baileys_idle and not args.no_baileys:
                print(
                    _idle_row(
                        "Baileys (one process)", await baileys_idle(sb, tmp, args.baileys_idle)
                    ),
                    flush=True,
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _dump_tasks() -> None:
    """SIGUSR1 in a worker: print every asyncio task's stack to stderr (to see a stall)."""
    for task in asyncio.all_tasks():
        task.print_stack(file=sys.stderr)


async def _run_worker(name: str, cfg: dict[str, Any]) -> None:
    import faulthandler
    import signal

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _dump_tasks)
    faulthandler.register(signal.SIGUSR2, all_threads=True)  # thread stacks, even if blocked
    await WORKERS[name](cfg)


def cli() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        cfg = json.loads(sys.argv[3])
        run_on_loop(_run_worker(sys.argv[2], cfg), loop=cfg.get("loop", "asyncio"))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--baileys-idle", type=int, default=50)
    parser.add_argument("--stores", default="memory,sqlite")
    parser.add_argument(
        "--loops",
        default="asyncio,uvloop" if loop_factory("auto") is not None else "asyncio",
        help="event loops of wamd's receiver (uvloop: the speed extra)",
    )
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-sort", default="tottime", help="cProfile sort key")
    parser.add_argument(
        "--profile-out",
        default="",
        help="also write the pstats data to this path (.memory/.sqlite added)",
    )
    parser.add_argument("--no-baileys", action="store_true")
    parser.add_argument(
        "--linger",
        type=float,
        default=None,
        help="the receiver's MessagingOptions.receive_linger in seconds (default: wamd's)",
    )
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
