"""``wamd demo``: pair a client with a local sandbox and reconnect from the stored session.

Steps, each printed as it happens:

1. start the sandbox in-process (state in a temporary directory, a free loopback port);
2. connect a new client: it shows a QR code (drawn in the terminal), which the sandbox's
   simulated phone scans through the admin API; the client verifies the pairing, restarts and
   logs in (``--code`` pairs by phone-number code instead);
3. close that client, then open a new one on the same store file: it logs straight in with
   the stored identity (no QR);
4. the sandbox drops the connection; the client reconnects by itself.

Exit code 0 when every step worked.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from wamd import events
from wamd.client import Client
from wamd.conn.reconnect import ReconnectPolicy

__all__ = ["register", "run"]

DEMO_PHONE = "15550001234"
STEP_TIMEOUT = 60.0


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="pair a client with a local sandbox and reconnect from the stored session",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--phone", default=DEMO_PHONE, help="the sandbox account's number")
    parser.add_argument(
        "--code", action="store_true", help="pair by phone-number code instead of QR"
    )
    parser.add_argument(
        "--state-dir", type=Path, help="keep the sandbox and client state here (kept after)"
    )
    parser.add_argument("--no-qr", action="store_true", help="do not draw the QR code")
    parser.set_defaults(run=run)


class Printer:
    """Numbered, timed progress lines."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.step = 0

    def title(self, text: str) -> None:
        self.step += 1
        print(f"\n[{self.step}] {text}", flush=True)

    def info(self, text: str) -> None:
        elapsed = time.monotonic() - self.start
        print(f"    {elapsed:6.2f}s  {text}", flush=True)


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns the exit code."""
    keep = args.state_dir is not None
    state_dir: Path = args.state_dir or Path(tempfile.mkdtemp(prefix="wamd-demo-"))
    try:
        asyncio.run(_demo(state_dir, args))
    except (Exception, TimeoutError) as exc:
        print(f"\ndemo FAILED: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        if not keep:
            shutil.rmtree(state_dir, ignore_errors=True)
    print("\nDemo finished: paired, logged in from the stored session, survived a drop.")
    return 0


async def _open_store(path: Path) -> Any:
    from wamd.store.sqlite import SQLiteStore

    return await SQLiteStore.open(path)


async def _demo(state_dir: Path, args: argparse.Namespace) -> None:
    from wamd.sandbox import Sandbox
    from wamd.sandbox.testing import server_info

    out = Printer()
    phone: str = args.phone
    out.title("Starting the sandbox (a local WhatsApp-compatible server)")
    async with Sandbox(state_dir / "sandbox", port=0) as sandbox:
        server = server_info(sandbox)
        out.info(f"listening on {sandbox.url}")
        out.info(f"admin API at {sandbox.admin_url}")
        out.info(f"certificate root key {sandbox.root_public_key.hex()}")
        store_path = state_dir / "client.sqlite"
        reconnect = ReconnectPolicy(initial_delay=0.2, max_delay=2.0)

        how = "a phone-number code" if args.code else "QR code"
        out.title(f"Pairing a new client by {how}")
        store = await _open_store(store_path)
        out.info(f"client store: {store_path}")
        client = Client(store, server=server, reconnect=reconnect)

        @client.on(events.QR)
        async def show_qr(evt: events.QR) -> None:
            if args.code or evt.index > 0:
                return
            out.info(f"QR code received (valid {evt.timeout:g} s):")
            if not args.no_qr:
                print(evt.render(), flush=True)
            out.info(evt.text)
            out.info(f"the phone of +{phone} scans it (sandbox admin API)...")
            await sandbox.admin.scan_qr(evt.text, phone=phone)

        @client.on(events.PairSuccess)
        def paired(evt: events.PairSuccess) -> None:
            out.info(f"pairing verified: this device is {evt.jid} (LID {evt.lid})")

        success = asyncio.create_task(client.wait_for(events.PairSuccess, timeout=STEP_TIMEOUT))
        await client.connect()
        out.info("connected (Noise handshake done, certificate chain verified)")
        if args.code:
            code = await client.request_pairing_code(phone)
            out.info(f"pairing code: {code}; the user types it on the phone (admin API)...")
            await sandbox.admin.enter_pairing_code(phone, code)
        await success
        out.info("the server asked for a restart (515): logging in with the new identity...")
        await client.wait_until_connected(timeout=STEP_TIMEOUT)
        out.info(f"logged in as {client.jid}")
        await client.close()
        await store.close()
        out.info("client closed; the session stays in the store")

        out.title("A new client logs in from the stored session (no QR)")
        store = await _open_store(store_path)
        client = Client(store, server=server, reconnect=reconnect)
        qrs: list[events.QR] = []
        client.on(events.QR)(qrs.append)
        await client.connect()
        await client.wait_until_connected(timeout=STEP_TIMEOUT)
        if qrs:
            raise RuntimeError("the stored session was not used: a QR code appeared")
        out.info(f"logged in again as {client.jid}")

        out.title("The sandbox drops the connection; the client reconnects by itself")
        dropped = asyncio.create_task(client.wait_for(events.Disconnected, timeout=STEP_TIMEOUT))
        back = asyncio.create_task(client.wait_for(events.Connected, timeout=STEP_TIMEOUT))
        await asyncio.sleep(0)
        kicked = await sandbox.admin.kick(phone)
        out.info(f"sandbox kicked {kicked} connection(s)")
        evt = await dropped
        out.info(f"disconnected ({evt.error}); reconnecting: {evt.will_reconnect}")
        await back
        out.info(f"reconnected and logged in as {client.jid}")
        await client.close()
        await store.close()
