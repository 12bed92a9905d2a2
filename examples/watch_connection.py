"""Connect to a server and print every connection event as it happens.

    wamd sandbox                 # in another terminal: prints the URL and the root key
    .venv/bin/python examples/watch_connection.py --url ws://127.0.0.1:PORT/ws/chat \\
        --root-key HEX --store watch.sqlite

Without --url it connects to WhatsApp itself (scan the QR with your phone). Stop with Ctrl-C;
the session stays in the store and the next run logs straight in.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from wamd import events
from wamd.client import Client
from wamd.conn.options import ServerInfo


async def main(args: argparse.Namespace) -> None:
    server = ServerInfo()
    if args.url is not None:
        server = ServerInfo(args.url, bytes.fromhex(args.root_key))
    client = Client(args.store, server=server, proxy=args.proxy)

    @client.on(events.Event)
    def log_event(evt: events.Event) -> None:
        if isinstance(evt, events.QR):
            print(evt.render())
            print(f"QR {evt.index + 1} (valid {evt.timeout:g} s): {evt.text}")
        else:
            print(evt)

    async with client:
        await client.run_until_disconnected()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="a sandbox's WebSocket URL (default: WhatsApp)")
    parser.add_argument("--root-key", help="the sandbox's certificate root key (hex)")
    parser.add_argument("--store", default="watch.sqlite", help="SQLite file for the session")
    parser.add_argument("--proxy", help="http://host:port or socks5://host:port")
    arguments = parser.parse_args()
    if (arguments.url is None) != (arguments.root_key is None):
        parser.error("--url and --root-key go together (`wamd sandbox` prints both)")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(arguments))
