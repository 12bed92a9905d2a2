"""``wamd logout``: unlink this device from the account and delete its keys from the store.

It logs in, asks the server to remove this device (the phone's "Linked devices" list no longer
shows it) and wipes the device's keys, sessions and state from the store (``--store``). The
store file stays, empty: ``wamd login`` links it again. Unlinking from the phone (Linked
devices -> the device -> Log out) has the same effect on the server, but leaves the keys in
the store until the next login attempt finds them refused.
"""

from __future__ import annotations

import argparse

from wamd.cli.client_options import (
    add_client_command,
    connect_logged_in,
    open_client,
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``logout`` subcommand."""
    add_client_command(
        subparsers,
        "logout",
        "unlink this device from the account and delete its keys",
        __doc__,
        _logout,
    )


async def _logout(args: argparse.Namespace) -> int:
    async with open_client(args) as client:
        await connect_logged_in(client, args.timeout)
        jid = client.jid
        await client.logout()
        print(f"Unlinked {jid}; its keys are deleted from the store.", flush=True)
        return 0
