"""The ``wamd`` command line: ``demo``, ``sandbox``, ``login``, ``send``, ``listen``.

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
)
"""The modules providing subcommands, in help order."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``wamd`` command."""
    parser = argparse.ArgumentParser(
        prog="wamd", description="wamd: a WhatsApp Web multidevice client, and a local sandbox"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(subparsers)
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
