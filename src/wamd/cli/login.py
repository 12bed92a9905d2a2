"""``wamd login``: link this computer to a WhatsApp account.

It shows a QR code in the terminal: open WhatsApp on the phone, Settings -> Linked devices ->
Link a device, and scan it. With ``--phone`` it prints an 8-character code instead, to type
in on the phone (Linked devices -> Link with phone number). The device's keys go to the store
(``--store``, default: wamd.db in the user data directory); later ``wamd send`` and ``wamd
listen`` log in with them. A device that is already linked just logs in and says so.

Against a sandbox (``--sandbox URL``), ``--sandbox-phone NUMBER`` has the sandbox's simulated
phone of that number link the device (it scans the QR code, or types the pairing code with
``--phone``), so the whole login runs in the terminal.
"""

from __future__ import annotations

import argparse
import asyncio

from wamd.cli.client_options import (
    CLIError,
    add_client_command,
    admin_request,
    connect,
    open_client,
)
from wamd.client import Client
from wamd.events import QR, Connected, LoggedOut, PairError, PairSuccess, QRTimeout

QR_PREFIX = "QR code text: "
"""Printed before each QR code's text (scripts read it; people scan the drawing)."""
CODE_PREFIX = "Pairing code: "


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``login`` subcommand."""
    parser = add_client_command(
        subparsers,
        "login",
        "link this device to a WhatsApp account (QR code or pairing code)",
        __doc__,
        _login,
    )
    parser.add_argument(
        "--phone",
        default=None,
        help="link with a pairing code for this phone number (international format)",
    )
    parser.add_argument(
        "--sandbox-phone",
        default=None,
        metavar="NUMBER",
        help="with --sandbox: the sandbox's simulated phone of this number links the device",
    )
    parser.add_argument(
        "--no-render",
        action="store_true",
        help="print only the QR code's text, not the drawing",
    )
    parser.add_argument(
        "--pair-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long to wait for the phone (default: 300)",
    )


def _say(text: str) -> None:
    print(text, flush=True)


async def _login(args: argparse.Namespace) -> int:
    if args.sandbox_phone and not args.sandbox:
        raise CLIError("--sandbox-phone needs --sandbox (a real phone links by QR or code)")
    async with open_client(args) as client:
        return await _link(args, client)


async def _link(args: argparse.Namespace, client: Client) -> int:
    done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def finish(outcome: str) -> None:
        if not done.done():
            done.set_result(outcome)

    @client.on(QR)
    async def show_qr(evt: QR) -> None:
        if args.phone:
            return
        if not args.no_render:
            _say(evt.render())
        _say(f"{QR_PREFIX}{evt.text}")
        _say(f"Scan it with WhatsApp (Linked devices); it changes in {evt.timeout:g} s.")
        if args.sandbox_phone and evt.index == 0:
            _say(f"The sandbox's phone of {args.sandbox_phone} scans it...")
            try:
                await admin_request(args, "scan_qr", {"qr": evt.text, "phone": args.sandbox_phone})
            except CLIError as exc:
                finish(str(exc))

    @client.on(PairSuccess)
    def paired(evt: PairSuccess) -> None:
        _say(f"Linked to {evt.jid} ({evt.platform or 'unknown platform'}); logging in...")

    @client.on(PairError)
    def pair_failed(evt: PairError) -> None:
        finish(f"pairing failed: {evt.error}")

    @client.on(QRTimeout)
    def qr_timeout(evt: QRTimeout) -> None:
        finish("no QR code was scanned in time")

    @client.on(LoggedOut)
    def logged_out(evt: LoggedOut) -> None:
        finish(f"logged out by the server ({evt.reason.name})")

    @client.on(Connected)
    def connected(evt: Connected) -> None:
        finish("")

    await connect(client, args.timeout)
    if client.is_paired:
        _say("This device is already linked; logging in...")
    elif args.phone:
        code = await client.request_pairing_code(args.phone)
        _say(f"{CODE_PREFIX}{code}")
        _say("On the phone: Linked devices -> Link a device -> Link with phone number.")
        if args.sandbox_phone:
            _say(f"The sandbox's phone of {args.sandbox_phone} types it in...")
            await admin_request(
                args, "enter_pairing_code", {"phone": args.sandbox_phone, "code": code}
            )
    try:
        async with asyncio.timeout(args.pair_timeout):
            outcome = await done
    except TimeoutError:
        outcome = f"gave up waiting for the phone after {args.pair_timeout:g} s"
    if outcome:
        raise CLIError(outcome)
    _say(f"Logged in as {client.jid} (LID {client.lid}).")
    return 0
