"""The kill -9 scenario: a burst of messages to a receiver process killed at random points.

A sandbox runs in this process with a sender client; the receiver is
``tests/e2e/crash_receiver.py`` in a subprocess with an SQLite store. While the sender sends
``count`` messages, the receiver is killed with SIGKILL ``kills`` times at random moments and
started again. Then the receiver runs until it has handled everything; the store file is read
to check that every message was handled exactly once and none was undecryptable.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import subprocess_env
from tests.sandbox.routing_helpers import pair
from wamd.proto import e2e_pb2
from wamd.sandbox import Sandbox
from wamd.store.sqlite import SQLiteStore
from wamd.types import JID

RECEIVER = Path(__file__).with_name("crash_receiver.py")
SENDER_PHONE = "15550101"
RECEIVER_PHONE = "15550202"


@dataclass
class CrashReport:
    """What a run measured."""

    sent: list[str]
    handled: list[str]
    duplicates: list[str]
    undecryptable: list[str]
    kills: int
    seconds: float
    kill_times: list[float] = field(default_factory=list)
    handled_at_kills: list[int] = field(default_factory=list)
    sent_at_kills: list[int] = field(default_factory=list)

    @property
    def missing(self) -> set[str]:
        return set(self.sent) - set(self.handled)


def read_handled(db: Path) -> tuple[list[str], list[str], list[str]]:
    """Handled ids, duplicate markers, undecryptable markers from the receiver's store."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        handled = [r[0] for r in conn.execute("SELECT message_id FROM seen WHERE chat = 'handled'")]
        markers = [
            r[0] for r in conn.execute("SELECT jid FROM contacts WHERE jid LIKE '%@handled'")
        ]
    return (
        handled,
        [m for m in markers if m.startswith("dup-")],
        [m for m in markers if m.startswith("undecryptable-")],
    )


def media_ca_env(sandbox: Sandbox) -> dict[str, str]:
    """The environment that gives a receiver process the sandbox's media CA (see
    ``server_from`` in the receiver scripts)."""
    return (
        {} if sandbox.media is None else {"WAMD_TEST_MEDIA_CA": sandbox.media.ca_file.read_text()}
    )


class Receiver:
    """The receiver subprocess (``script`` with the store, the sandbox URL and root key)."""

    def __init__(
        self,
        db: Path | str,
        sandbox: Sandbox,
        log: Path,
        script: Path = RECEIVER,
        args: tuple[str, ...] = (),
    ) -> None:
        self.db = db
        self.sandbox = sandbox
        self.log = log
        self.script = script
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as stderr:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(self.script),
                str(self.db),
                self.sandbox.url,
                self.sandbox.root_public_key.hex(),
                *self.args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env=subprocess_env(**media_ca_env(self.sandbox)),
            )
        assert self.proc.stdout is not None
        async with asyncio.timeout(60):
            line = await self.proc.stdout.readline()
        if not line.startswith(b"ready"):
            raise AssertionError(
                f"receiver did not start: {line!r}\n{self.log.read_text(errors='replace')[-3000:]}"
            )

    async def kill(self) -> None:
        proc = self.proc
        if proc is not None and proc.returncode is None:
            proc.kill()  # SIGKILL, by pid
            await proc.wait()
        self.proc = None


async def run_crash_scenario(
    tmp: Path,
    *,
    count: int,
    kills: int,
    seed: int,
    max_gap: float = 0.5,
    settle: float = 120.0,
    by_progress: bool = False,
) -> CrashReport:
    """Run the scenario (see the module docstring); returns the report.

    Kills come after random pauses of up to ``max_gap`` seconds, or, with ``by_progress``,
    when the receiver has handled a random number of messages (``kills`` sorted points drawn
    from the first four fifths of the burst), so that every kill lands mid-burst however fast
    the receiver is.
    """
    rng = random.Random(seed)
    started = time.monotonic()
    db = tmp / "receiver.db"
    async with Sandbox(state_dir=tmp / "sandbox", port=0) as sandbox:
        store = await SQLiteStore.open(db)
        peer = await pair(sandbox, RECEIVER_PHONE, store)
        await peer.client.close()
        await store.close()
        sender = await pair(sandbox, SENDER_PHONE)
        receiver = Receiver(db, sandbox, tmp / "receiver.log")
        await receiver.start()
        to = JID(RECEIVER_PHONE, "s.whatsapp.net")
        sent: list[str] = []
        kill_times: list[float] = []
        handled_at: list[int] = []
        sent_at: list[int] = []

        async def burst() -> None:
            for i in range(count):
                result = await sender.client.send_message(
                    to, e2e_pb2.Message(conversation=f"burst {i}")
                )
                sent.append(result.id)

        sending = asyncio.ensure_future(burst())
        try:
            # (drawn from the first four fifths: a kill is only seen some polls after its point,
            # and a fast receiver can finish the last messages of the burst meanwhile)
            points = sorted(rng.sample(range(1, count - count // 5), kills)) if by_progress else []
            for k in range(kills):
                if by_progress:
                    # the count lives in another process's database: polling is the only way
                    while len(set(read_handled(db)[0])) < points[k]:  # noqa: ASYNC110
                        await asyncio.sleep(0.01)
                else:
                    await asyncio.sleep(rng.uniform(0.05, max_gap))
                kill_times.append(time.monotonic() - started)
                await receiver.kill()
                handled_at.append(len(set(read_handled(db)[0])))
                sent_at.append(len(sent))
                await receiver.start()
            await sending
            deadline = time.monotonic() + settle
            while time.monotonic() < deadline:
                handled, _, _ = read_handled(db)
                if len(set(handled)) >= len(sent):
                    break
                await asyncio.sleep(0.2)
        finally:
            sending.cancel()
            await receiver.kill()
            await sender.client.close()
    handled, duplicates, undecryptable = read_handled(db)
    return CrashReport(
        sent,
        handled,
        duplicates,
        undecryptable,
        kills,
        time.monotonic() - started,
        kill_times,
        handled_at,
        sent_at,
    )
