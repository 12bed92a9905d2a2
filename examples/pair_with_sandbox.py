"""Pair a wamd client with an in-process sandbox by QR, then log in again from the store.

    .venv/bin/python examples/pair_with_sandbox.py [--code]

The sandbox's simulated phone "scans" the QR code (or types the pairing code with --code)
through its admin API. Everything runs on 127.0.0.1 in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from wamd import events
from wamd.client import Client
from wamd.conn.options import ServerInfo
from wamd.sandbox import Sandbox

PHONE = "15550009999"


async def main(use_code: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with Sandbox(Path(tmp) / "sandbox") as sandbox:
            server = ServerInfo(url=sandbox.url, root_key=sandbox.root_public_key)
            store_file = Path(tmp) / "bot.sqlite"

            client = Client(store_file, server=server)

            @client.on(events.QR)
            async def on_qr(evt: events.QR) -> None:
                if use_code or evt.index:
                    return
                print(evt.render())
                await sandbox.admin.scan_qr(evt.text, phone=PHONE)

            @client.on(events.PairSuccess)
            def on_paired(evt: events.PairSuccess) -> None:
                print("paired as", evt.jid, "lid", evt.lid)

            await client.connect()
            if use_code:
                code = await client.request_pairing_code(PHONE)
                print("pairing code:", code)
                await sandbox.admin.enter_pairing_code(PHONE, code)
            await client.wait_until_connected(timeout=60)
            print("logged in as", client.jid)
            await client.close()

            # The identity is in bot.sqlite: a new client logs straight in.
            async with Client(store_file, server=server) as again:
                await again.wait_until_connected(timeout=60)
                print("logged in again from the stored session as", again.jid)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--code", action="store_true", help="pair by phone-number code")
    asyncio.run(main(parser.parse_args().code))
