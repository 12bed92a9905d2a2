"""``wamd sandbox``: run a local WhatsApp-compatible server until interrupted.

It prints the WebSocket URL clients connect to, the admin API's URL, the certificate root
public key (hex) clients must pin and the CA file of its HTTPS media host, then serves until
Ctrl-C (or SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import platformdirs

from wamd.errors import WamdError
from wamd.loop import run as run_main
from wamd.sandbox import Sandbox


def default_state_dir() -> Path:
    """Where ``wamd sandbox`` keeps its state unless told otherwise."""
    return platformdirs.user_data_path("wamd", appauthor=False) / "sandbox"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``sandbox`` subcommand."""
    parser = subparsers.add_parser(
        "sandbox",
        help="run a local WhatsApp-compatible server for offline tests",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    parser.add_argument("--port", type=int, default=8888, help="port (0 picks a free one)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help=f"folder of the state database (default: {default_state_dir()})",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=4096,
        help="open connections accepted at once; more get HTTP 503 (default: 4096)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=120.0,
        help="close a connection silent for this many seconds after its handshake; clients "
        "ping every 20-30 s (default: 120; 0 never closes)",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-vv: every stanza)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the sandbox until interrupted."""
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    state_dir = args.state_dir if args.state_dir is not None else default_state_dir()
    try:
        limits = {
            "max_connections": args.max_connections,
            "idle_timeout": args.idle_timeout or None,
        }
        run_main(_serve(args.host, args.port, state_dir, limits))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        hint = (
            "is another sandbox running? --port 0 picks a free port"
            if exc.errno == errno.EADDRINUSE
            else f"check --host {args.host} and --state-dir {state_dir}"
        )
        print(f"wamd: cannot start the sandbox: {exc} ({hint})", file=sys.stderr)
        return 1
    except WamdError as exc:
        print(f"wamd: cannot start the sandbox: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"wamd: cannot start the sandbox: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(host: str, port: int, state_dir: Path, limits: dict[str, Any]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with Sandbox(state_dir, host=host, port=port, **limits) as sandbox:
        print(f"wamd sandbox listening on {sandbox.url}", flush=True)
        print(f"admin API: {sandbox.admin_url}", flush=True)
        print(f"root public key: {sandbox.root_public_key.hex()}", flush=True)
        if sandbox.media is not None:
            print(f"media CA (NODE_EXTRA_CA_CERTS): {sandbox.media.ca_file}", flush=True)
        print(f"state: {state_dir}", flush=True)
        await stop.wait()
