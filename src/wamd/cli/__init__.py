"""The ``wamd`` command line: ``demo``, ``sandbox``, ``login``, ``send``, ``listen``,
``logout``.

Each subcommand lives in its own module with a ``register(subparsers)`` function that adds
its parser and sets ``run`` (``run(args) -> exit code``); list the module in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS: tuple[str, ...] = (
    "wamd.cli.demo",
    "wamd.cli.sandbox",
    "wamd.cli.login",
    "wamd.cli.send",
    "wamd.cli.listen",
    "wamd.cli.logout",
)
"""The modules providing subcommands, in help order."""


EPILOG = """\
new here? `wamd demo` shows everything working against a local sandbox in seconds;
docs/quickstart.md is the guide. `wamd COMMAND --help` tells more about each command.

wamd is not an official WhatsApp client: WhatsApp may ban accounts that use it. Try your
code on the sandbox (`wamd sandbox`, --sandbox URL) before you link a real account.
"""


def plain(text: str | None) -> str | None:
    """A docstring as terminal text: reStructuredText's double backquotes become single."""
    return None if text is None else text.replace("``", "`")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``wamd`` command."""
    from wamd import __version__

    parser = argparse.ArgumentParser(
        prog="wamd",
        description="wamd: a WhatsApp Web multidevice client, and a local sandbox",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"wamd {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(subparsers)
    for subparser in subparsers.choices.values():
        subparser.description = plain(subparser.description)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wamd`` command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    code: int = args.run(args)
    return code
