"""``wamd send``: log in, send one text message, print its id and time as JSON, disconnect.

The recipient is a JID (``15551234567@s.whatsapp.net``, ``...@lid``) or a phone number in
international format (``+1 555 123 4567``). The device must be linked first (``wamd login``).
"""

from __future__ import annotations

import argparse
import json

from wamd.cli.client_options import (
    add_client_command,
    connect_logged_in,
    open_client,
    parse_recipient,
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``send`` subcommand."""
    parser = add_client_command(subparsers, "send", "send a text message", __doc__, _send)
    parser.add_argument("to", help="recipient: a JID or a phone number")
    parser.add_argument("text", help="the message text")


async def _send(args: argparse.Namespace) -> int:
    to = parse_recipient(args.to)
    async with open_client(args) as client:
        await connect_logged_in(client, args.timeout)
        result = await client.send_text(to, args.text)
        print(
            json.dumps(
                {
                    "id": result.id,
                    "to": str(to),
                    "timestamp": int(result.timestamp.timestamp()),
                    "devices": [str(d) for d in result.recipients],
                }
            ),
            flush=True,
        )
        return 0
