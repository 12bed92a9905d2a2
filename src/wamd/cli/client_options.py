"""Options shared by the client subcommands (``login``, ``send``, ``listen``): which store,
which server, how long to wait.

By default a client subcommand talks to WhatsApp with the SQLite store in the user's data
directory. ``--sandbox URL`` points it at a ``wamd sandbox`` instead: the root key is read
from the sandbox's admin API (``GET /admin/info``) unless ``--root-key`` gives it, and the CA
of its media host from ``GET /admin/media`` (media then work over its HTTPS host). The
``WAMD_SANDBOX`` and ``WAMD_ROOT_KEY`` environment variables set the same.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from wamd.client import Client
from wamd.conn.options import ServerInfo
from wamd.errors import WamdError
from wamd.types import JID, USER_SERVER

__all__ = [
    "CLIError",
    "add_client_arguments",
    "connect_logged_in",
    "make_client",
    "parse_recipient",
    "run_async",
    "server_info",
]


class CLIError(WamdError):
    """A command-line usage or setup error (reported without a traceback)."""


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--store``, ``--sandbox``, ``--root-key`` and ``--timeout`` to ``parser``."""
    parser.add_argument(
        "--store", default=None,
        help="SQLite file of the device's keys and state (default: wamd.db in the user data dir)",
    )
    parser.add_argument(
        "--sandbox", default=os.environ.get("WAMD_SANDBOX"), metavar="URL",
        help="use a wamd sandbox (ws://127.0.0.1:PORT/ws/chat) instead of WhatsApp",
    )
    parser.add_argument(
        "--root-key", default=os.environ.get("WAMD_ROOT_KEY"), metavar="HEX",
        help="the sandbox's certificate root public key (default: asked from its admin API)",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, metavar="SECONDS",
        help="how long to wait to connect (default: 60)",
    )


def _admin_info_url(ws_url: str, name: str = "info") -> str:
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return urlunsplit((scheme, parts.netloc, f"/admin/{name}", "", ""))


async def _media_ca(ws_url: str) -> str | None:
    """The CA of the sandbox's HTTPS media host (``GET /admin/media``), if it tells."""
    try:
        async with aiohttp.ClientSession() as http, http.get(
            _admin_info_url(ws_url, "media"), timeout=aiohttp.ClientTimeout(total=10)
        ) as response:
            pem = json.loads(await response.text()).get("ca_pem")
    except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError):
        return None
    return pem if isinstance(pem, str) else None


async def server_info(args: argparse.Namespace) -> ServerInfo | None:
    """The server ``args`` name: ``None`` for WhatsApp, else the sandbox with its root key.

    Raises :class:`CLIError` for a bad URL or key, or a sandbox that cannot be asked.
    """
    url: str | None = args.sandbox
    if not url:
        if args.root_key:
            raise CLIError("--root-key needs --sandbox")
        return None
    if not url.startswith(("ws://", "wss://")):
        raise CLIError(f"--sandbox wants a ws:// URL, not {url!r}")
    key_hex: str | None = args.root_key
    if not key_hex:
        info_url = _admin_info_url(url)
        try:
            async with aiohttp.ClientSession() as http, http.get(
                info_url, timeout=aiohttp.ClientTimeout(total=10)
            ) as response:
                info = json.loads(await response.text())
            key_hex = str(info["root_public_key"])
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as exc:
            raise CLIError(f"cannot read the sandbox root key from {info_url}: {exc}") from exc
    try:
        key = bytes.fromhex(key_hex)
        return ServerInfo(url=url, root_key=key, media_ca=await _media_ca(url))
    except ValueError as exc:
        raise CLIError(f"bad root key: {exc}") from exc


async def make_client(args: argparse.Namespace) -> Client:
    """A :class:`~wamd.client.Client` for ``args`` (not connected yet)."""
    server = await server_info(args)
    return Client(args.store, server=server) if server is not None else Client(args.store)


def parse_recipient(text: str) -> JID:
    """A recipient from the command line: a JID, or a phone number (``+1 555...``)."""
    if "@" in text:
        try:
            return JID.parse(text)
        except WamdError as exc:
            raise CLIError(str(exc)) from exc
    digits = "".join(ch for ch in text if ch.isdigit())
    if not digits or any(ch not in "+0123456789 -()" for ch in text):
        raise CLIError(f"not a JID nor a phone number: {text!r}")
    return JID(digits, USER_SERVER)


async def connect_logged_in(client: Client, timeout: float) -> None:  # noqa: ASYNC109
    """Connect a paired client and wait for the login. Raises :class:`CLIError` when the
    device is not paired (run ``wamd login``) or the login fails."""
    await client.connect()
    if not client.is_paired:
        await client.close()
        raise CLIError("this device is not linked yet: run `wamd login` first")
    try:
        await client.wait_until_connected(timeout)
    except (TimeoutError, WamdError) as exc:
        await client.close()
        raise CLIError(f"could not log in: {exc or type(exc).__name__}") from exc


def run_async(coro: Coroutine[Any, Any, int]) -> int:
    """Run a subcommand's coroutine; errors become a message and exit code 1."""
    try:
        code = asyncio.run(coro)
    except KeyboardInterrupt:
        return 130
    except CLIError as exc:
        print(f"wamd: {exc}", file=sys.stderr)
        return 1
    except WamdError as exc:
        print(f"wamd: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return code
