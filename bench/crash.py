"""The full kill -9 run: 2,000 messages to a receiver killed with SIGKILL several times.

    .venv/bin/python bench/crash.py [--count 2000] [--kills 6] [--seed N] [--max-gap 1.5]
    .venv/bin/python bench/crash.py --groups [--receipts 400] [--kills 8] [--postgres]
    .venv/bin/python bench/crash.py --appstate [--changes 200] [--kills 8] [--postgres]

``--groups`` runs the group scenario instead (tests/e2e/group_crash.py): a group member killed
while the admin changes the group and sends it read receipts; it prints the group events and
receipts handled (each exactly once) against those sent, and whether the member removed
during the run could read the message sent after the last restart.

``--appstate`` runs the app-state scenario (tests/e2e/appstate_crash.py): a device killed while
another device of the account makes app-state changes; it prints the events handled (each
exactly once), how many were first handled when redelivered, and whether the store ends at the
server's versions with the state the changes set.

Prints how many messages were sent, handled (exactly once: each recorded inside the
transaction that finishes its inbox entry), duplicated, missing and undecryptable, when the
kills happened (and how far the receiver had got each time), and the run's duration. The
suite runs the 2,000-message, 6-kill version with kills placed by the receiver's progress
(tests/e2e/test_crash.py). Exits 1 when any message was lost, duplicated or undecryptable.
"""

from __future__ import annotations

import os
import sys

# run as a script, bench/ would come first on the path: the repository root goes there
# instead, so that `tests` (the scenario helpers) imports
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

from tests.e2e.appstate_crash import run_appstate_crash  # noqa: E402
from tests.e2e.crash import run_crash_scenario  # noqa: E402
from tests.e2e.group_crash import Backend, run_group_crash  # noqa: E402

R = TypeVar("R")


async def on_backend(
    args: argparse.Namespace, scenario: Callable[..., Awaitable[R]], **options: Any
) -> tuple[Backend, R]:
    """Run ``scenario`` on the chosen store in a temporary folder (and, for PostgreSQL, a
    scratch schema dropped afterwards); returns the backend and the scenario's report."""
    with tempfile.TemporaryDirectory() as tmp:
        schema = f"wamd_bench_crash_{os.getpid()}"
        backend = backend_for(args, tmp, schema)
        try:
            report = await scenario(
                Path(tmp),
                backend,
                seed=args.seed,
                kills=args.kills,
                max_gap=args.max_gap,
                **options,
            )
        finally:
            if args.postgres:
                from tests.store.conftest import drop_schema

                await drop_schema(schema)
    return backend, report


async def groups(args: argparse.Namespace) -> int:
    backend, report = await on_backend(args, run_group_crash, receipts=args.receipts)
    expected, handled = report.expected_group, report.handled_group
    receipts = report.receipts_handled
    print(f"store                    {backend.kind}")
    print(f"group events (live view) {sum(expected.values())}")
    print(f"group events handled     {sum(handled.values())} (same list: {handled == expected})")
    print(f"receipts sent            {len(report.receipts_sent)}")
    print(
        f"receipts handled         {len(receipts)} (more than once: "
        f"{sum(1 for n in receipts.values() if n > 1)})"
    )
    print(f"duplicate handlings      {len(report.duplicates)}")
    print(
        f"kills (SIGKILL)          {report.kills} (random at "
        + ", ".join(f"{t:.1f}" for t in report.kill_times)
        + " s, one after the removal)"
    )
    print(f"removed member got it    {report.removed_got_message}")
    print(
        f"removed member decrypts  {report.removed_could_decrypt} "
        f"(held the old key: {report.removed_held_old_key})"
    )
    print(f"duration                 {report.seconds:.1f} s (seed {args.seed})")
    ok = (
        handled == expected
        and set(receipts) == set(report.receipts_sent)
        and all(n == 1 for n in receipts.values())
        and not report.duplicates
        and not report.removed_got_message
        and not report.removed_could_decrypt
    )
    return 0 if ok else 1


def backend_for(args: argparse.Namespace, tmp: str, schema: str) -> Backend:
    if args.postgres:
        return Backend("postgres", Path(tmp), args.dsn, schema)
    return Backend("sqlite", Path(tmp))


async def appstate(args: argparse.Namespace) -> int:
    backend, report = await on_backend(args, run_appstate_crash, changes=args.changes)
    handled = report.handled
    lost = set(report.expected) - set(handled)
    twice = sum(1 for n in handled.values() if n > 1) + len(report.duplicates)
    state = (
        report.versions == report.server_versions
        and report.settings == report.expected_settings
        and report.contacts == report.expected_contacts
    )
    print(f"store                    {backend.kind}")
    print(f"app-state events         {len(report.expected)}")
    print(
        f"handled                  {len(set(handled) & set(report.expected))} "
        f"(lost {len(lost)}, more than once {twice})"
    )
    print(f"first handled redelivered {report.redelivered}")
    print(
        f"kills (SIGKILL)          {report.kills} (random at "
        + ", ".join(f"{t:.1f}" for t in report.kill_times)
        + " s)"
    )
    print(f"final state matches      {state}")
    print(f"duration                 {report.seconds:.1f} s (seed {args.seed})")
    return 0 if not lost and not twice and state else 1


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--max-gap",
        type=float,
        default=1.5,
        help="most seconds between a restart and the next kill",
    )
    parser.add_argument("--groups", action="store_true", help="the group scenario")
    parser.add_argument("--receipts", type=int, default=400, help="--groups: read receipts")
    parser.add_argument("--appstate", action="store_true", help="the app-state scenario")
    parser.add_argument("--changes", type=int, default=200, help="--appstate: changes")
    parser.add_argument(
        "--postgres", action="store_true", help="--groups, --appstate: PostgreSQL store"
    )
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    if args.groups:
        return await groups(args)
    if args.appstate:
        return await appstate(args)
    with tempfile.TemporaryDirectory() as tmp:
        report = await run_crash_scenario(
            Path(tmp),
            count=args.count,
            kills=args.kills,
            seed=args.seed,
            max_gap=args.max_gap,
            settle=600,
        )
    handled = set(report.handled)
    print(f"messages sent            {len(report.sent)}")
    print(f"handled (distinct)       {len(handled)}")
    print(f"handled twice            {len(report.handled) - len(handled) + len(report.duplicates)}")
    print(f"missing                  {len(report.missing)}")
    print(f"undecryptable            {len(report.undecryptable)}")
    print(f"kills (SIGKILL)          {report.kills}")
    for when, done, sent in zip(
        report.kill_times, report.handled_at_kills, report.sent_at_kills, strict=True
    ):
        print(f"  at {when:6.1f} s: {done:5d} handled, {sent:5d} sent")
    print(f"duration                 {report.seconds:.1f} s (seed {args.seed})")
    ok = (
        not report.missing
        and not report.duplicates
        and not report.undecryptable
        and len(report.handled) == len(handled) == len(report.sent)
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
