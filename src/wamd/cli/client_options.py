"""Options shared by the client subcommands (``login``, ``send``, ``listen``): which store,
which server, how long to wait.

By default a client subcommand talks to WhatsApp with the SQLite store in the user's data
directory. ``--sandbox URL`` points it at a ``wamd sandbox`` instead: the root key is read
from the sandbox's admin API (``GET /admin/info``) unless ``--root-key`` gives it, and the CA
of its media host from ``GET /admin/media`` (media then work over its HTTPS host). The
``WAMD_SANDBOX`` and ``WAMD_ROOT_KEY`` environment variables set the same.
``--store-key-env VAR`` encrypts the store's secrets at rest with the passphrase in the
environment variable ``VAR`` (``WAMD_STORE_KEY_ENV`` names the variable too).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from wamd.client import Client
from wamd.conn.options import ServerInfo
from wamd.errors import WamdError, WrongStoreKey
from wamd.loop import run as run_main
from wamd.store.sealing import key_from_env
from wamd.store.sqlite import SQLiteStore, default_path
from wamd.types import JID, USER_SERVER

__all__ = [
    "CLIError",
    "add_client_arguments",
    "add_client_command",
    "admin_request",
    "connect",
    "connect_logged_in",
    "open_client",
    "parse_recipient",
    "run_async",
    "server_info",
]

OFFLINE_HINT = "to try wamd without WhatsApp, run `wamd sandbox` and pass --sandbox URL"


class CLIError(WamdError):
    """A command-line usage or setup error (reported without a traceback)."""


def add_client_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    doc: str | None,
    main: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
) -> argparse.ArgumentParser:
    """Add the client subcommand ``name``: ``summary`` in the command list, ``doc`` (the
    module docstring) as its description, the shared options; running it runs ``main(args)``
    through :func:`run_async`. Returns the parser for the command's own arguments."""
    parser = subparsers.add_parser(
        name,
        help=summary,
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_client_arguments(parser)
    parser.set_defaults(run=lambda args: run_async(main(args)))
    return parser


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--store``, ``--sandbox``, ``--root-key`` and ``--timeout`` to ``parser``."""
    parser.add_argument(
        "--store",
        default=None,
        metavar="FILE",
        help=f"SQLite file of the device's keys and state (default: {default_path()})",
    )
    parser.add_argument(
        "--store-key-env",
        default=os.environ.get("WAMD_STORE_KEY_ENV"),
        metavar="VAR",
        help="encrypt the keys in the store at rest with the passphrase in environment "
        "variable VAR (give it from the first use on; default: none, a plaintext store)",
    )
    parser.add_argument(
        "--sandbox",
        default=os.environ.get("WAMD_SANDBOX"),
        metavar="URL",
        help="use a wamd sandbox (ws://127.0.0.1:PORT/ws/chat) instead of WhatsApp",
    )
    parser.add_argument(
        "--root-key",
        default=os.environ.get("WAMD_ROOT_KEY"),
        metavar="HEX",
        help="the sandbox's certificate root public key (default: asked from its admin API)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait to connect and log in (default: 60)",
    )


def _admin_info_url(ws_url: str, name: str = "info") -> str:
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return urlunsplit((scheme, parts.netloc, f"/admin/{name}", "", ""))


async def _media_ca(ws_url: str) -> str | None:
    """The CA of the sandbox's HTTPS media host (``GET /admin/media``), if it tells."""
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                _admin_info_url(ws_url, "media"), timeout=aiohttp.ClientTimeout(total=10)
            ) as response,
        ):
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
            async with (
                aiohttp.ClientSession() as http,
                http.get(info_url, timeout=aiohttp.ClientTimeout(total=10)) as response,
            ):
                info = json.loads(await response.text())
            key_hex = str(info["root_public_key"])
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as exc:
            raise CLIError(f"cannot read the sandbox root key from {info_url}: {exc}") from exc
    try:
        key = bytes.fromhex(key_hex)
        return ServerInfo(url=url, root_key=key, media_ca=await _media_ca(url))
    except ValueError as exc:
        raise CLIError(f"bad root key: {exc}") from exc


async def admin_request(args: argparse.Namespace, action: str, body: dict[str, Any]) -> Any:
    """``POST /admin/<action>`` on the sandbox ``args`` names; returns the JSON answer.
    Raises :class:`CLIError` when it fails."""
    url = _admin_info_url(args.sandbox, action)
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, json=body, timeout=aiohttp.ClientTimeout(total=30)) as response,
        ):
            answer = json.loads(await response.text())
            if response.status != 200:
                raise CLIError(f"the sandbox refused {action}: {answer.get('error', answer)}")
    except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError) as exc:
        raise CLIError(f"the sandbox's admin API failed ({url}): {exc}") from exc
    return answer


@contextlib.asynccontextmanager
async def open_client(args: argparse.Namespace) -> AsyncIterator[Client]:
    """A :class:`~wamd.client.Client` for ``args`` (not connected yet) on its store (opened
    with the at-rest key when ``--store-key-env`` names one); both closed on exit."""
    server = await server_info(args)
    key_var: str | None = getattr(args, "store_key_env", None)
    if key_var is not None and not os.environ.get(key_var):
        raise CLIError(f"--store-key-env: environment variable {key_var} is not set")
    key = key_from_env(key_var) if key_var else None
    store = await SQLiteStore.open(args.store or default_path(), key=key)
    try:
        client = Client(store, server=server) if server is not None else Client(store)
        try:
            yield client
        finally:
            await client.close()
    finally:
        await store.close()


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
    device is not paired (checked in the store, before any connection: run ``wamd login``)
    or the login fails."""
    await client.open_store()
    await client.device.load()
    if not client.is_paired:
        raise CLIError(
            "this device is not linked to an account yet: run `wamd login` first (with the "
            "same --store and --sandbox options)"
        )
    try:
        async with asyncio.timeout(timeout):
            await connect(client, timeout)
            await client.wait_until_connected()
    except TimeoutError as exc:
        raise CLIError(f"could not log in within {timeout:g} s (see --timeout)") from exc
    except CLIError:
        raise
    except WamdError as exc:
        raise CLIError(f"could not log in: {exc or type(exc).__name__}") from exc


async def connect(client: Client, timeout: float) -> None:  # noqa: ASYNC109
    """``client.connect()`` within ``timeout`` seconds; network failures and timeouts become
    a :class:`CLIError` that says which server could not be reached and what to try."""
    url = client.options.server.url
    hint = (
        "is `wamd sandbox` running there?"
        if url.startswith(("ws://127.", "ws://localhost", "ws://[::1]"))
        else "no network? " + OFFLINE_HINT
    )
    try:
        async with asyncio.timeout(timeout):
            await client.connect()
    except TimeoutError as exc:
        raise CLIError(f"no answer from {url} within {timeout:g} s ({hint})") from exc
    except (OSError, aiohttp.ClientError) as exc:
        raise CLIError(f"cannot connect to {url}: {exc} ({hint})") from exc


def run_async(coro: Coroutine[Any, Any, int]) -> int:
    """Run a subcommand's coroutine; errors become a message and exit code 1."""
    try:
        code = run_main(coro)
    except KeyboardInterrupt:
        return 130
    except CLIError as exc:
        print(f"wamd: {exc}", file=sys.stderr)
        return 1
    except WrongStoreKey as exc:
        print(f"wamd: {exc} (the key comes from --store-key-env VAR)", file=sys.stderr)
        return 1
    except WamdError as exc:
        print(f"wamd: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except (OSError, aiohttp.ClientError, TimeoutError) as exc:
        print(f"wamd: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return code
