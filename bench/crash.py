"""The full kill -9 run: 2,000 messages to a receiver killed with SIGKILL several times.

    .venv/bin/python bench/crash.py [--count 2000] [--kills 6] [--seed N] [--max-gap 1.5]

Prints how many messages were sent, handled (exactly once: each recorded inside the
transaction that finishes its inbox entry), duplicated, missing and undecryptable, when the
kills happened (and how far the receiver had got each time), and the run's duration. The
suite runs a smaller version (tests/e2e/test_crash.py). Exits 1 when any message was lost,
duplicated or undecryptable.
"""

from __future__ import annotations

import os
import sys

# run as a script, bench/ would come first on the path and its signal.py would shadow the
# standard library's (asyncio imports it): put the repository root there instead
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from tests.e2e.crash import run_crash_scenario  # noqa: E402


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-gap", type=float, default=1.5,
                        help="most seconds between a restart and the next kill")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = await run_crash_scenario(Path(tmp), count=args.count, kills=args.kills,
                                          seed=args.seed, max_gap=args.max_gap, settle=600)
    handled = set(report.handled)
    print(f"messages sent            {len(report.sent)}")
    print(f"handled (distinct)       {len(handled)}")
    print(f"handled twice            {len(report.handled) - len(handled) + len(report.duplicates)}")
    print(f"missing                  {len(report.missing)}")
    print(f"undecryptable            {len(report.undecryptable)}")
    print(f"kills (SIGKILL)          {report.kills}")
    for when, done, sent in zip(report.kill_times, report.handled_at_kills,
                                report.sent_at_kills, strict=True):
        print(f"  at {when:6.1f} s: {done:5d} handled, {sent:5d} sent")
    print(f"duration                 {report.seconds:.1f} s (seed {args.seed})")
    ok = not report.missing and not report.duplicates and not report.undecryptable \
        and len(report.handled) == len(handled) == len(report.sent)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
