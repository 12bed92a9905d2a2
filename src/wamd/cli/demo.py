"""``wamd demo``: a guided tour of wamd against a local sandbox, checking every step.

It starts the bundled sandbox in-process (state in a temporary folder, a free loopback port),
links two clients to two sandbox accounts, Alice and Bob, and then checks, printing each
result as it goes:

 1. pairing: Alice by QR code (drawn in the terminal; the sandbox's simulated phone scans it
    through the admin API), Bob by phone-number code (``--code`` swaps the two methods);
 2. an end-to-end encrypted text from Alice to Bob, with delivery and read receipts;
 3. Bob's quoted reply, Alice's reaction to it, Alice's edit and then revoke of her text;
 4. a poll from Alice and Bob's vote, counted on Alice's side;
 5. an image: encrypted, uploaded to the sandbox's media host, sent, downloaded by Bob and
    compared byte for byte;
 6. a group created by Alice with Bob in it, and a message to the group;
 7. a dropped connection: Bob reconnects by himself and gets what was sent meanwhile;
 8. a restart: Alice's new client logs in from the stored session, without a QR code;
 9. a clean shutdown: clients, stores and sandbox closed, no task left behind.

The exit code is 0 only when every check passed; a failed check (or a wait longer than
``--step-timeout`` seconds, or a tour longer than four times that, at least a minute) stops the
tour with the reason and exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import shutil
import struct
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from wamd import events
from wamd.client import Client
from wamd.conn.reconnect import ReconnectPolicy
from wamd.groups import JoinedGroup
from wamd.loop import run as run_main
from wamd.messaging import Message, Receipt, ReceiptType
from wamd.messaging.polls import PollTally, PollVote
from wamd.store.sqlite import SQLiteStore
from wamd.types import JID

__all__ = ["DemoFailed", "register", "run", "sample_png"]

DEMO_PHONE = "15550001234"
"""Alice's number (the first client)."""
PEER_PHONE = "15550005678"
"""Bob's number (the second client)."""
STEP_TIMEOUT = 30.0
DELIVERY = (ReceiptType.DELIVERED, ReceiptType.INACTIVE)
"""Receipt types saying a message reached a device (``inactive``: not in the foreground)."""

E = TypeVar("E", bound=events.Event)


class DemoFailed(Exception):
    """A check of the tour did not hold (the message says which and why)."""


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="a guided tour against a local sandbox: two clients pair, message, share "
        "media, make a group, reconnect (checks every step)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--phone", default=DEMO_PHONE, help="Alice's sandbox number")
    parser.add_argument("--peer", default=PEER_PHONE, help="Bob's sandbox number")
    parser.add_argument(
        "--code",
        action="store_true",
        help="pair Alice by phone-number code and Bob by QR (default: the other way round)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="keep the sandbox and client state in this folder (default: a temporary one, "
        "deleted at the end)",
    )
    parser.add_argument("--no-qr", action="store_true", help="do not draw the QR code")
    parser.add_argument(
        "--step-timeout",
        type=float,
        default=STEP_TIMEOUT,
        metavar="SECONDS",
        help=f"how long one step may wait for the other side (default: {STEP_TIMEOUT:g})",
    )
    parser.set_defaults(run=run)


class Printer:
    """Numbered sections, timed progress lines and the list of checks that passed."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.step = 0
        self.passed: list[str] = []

    def title(self, text: str) -> None:
        """Start a numbered section."""
        self.step += 1
        print(f"\n[{self.step}] {text}", flush=True)

    def info(self, text: str) -> None:
        """A progress line with the time since the start."""
        elapsed = time.monotonic() - self.start
        print(f"    {elapsed:6.2f}s  {text}", flush=True)

    def ok(self, text: str) -> None:
        """A check that passed."""
        self.passed.append(text)
        elapsed = time.monotonic() - self.start
        print(f"    {elapsed:6.2f}s  ok: {text}", flush=True)


class Seen:
    """Every event of some types a client received, to wait for one without a race (what
    arrived before the wait started counts too)."""

    def __init__(self, client: Client, timeout: float, *types: type[events.Event]) -> None:
        self.items: list[events.Event] = []
        self.timeout = timeout
        self._changed = asyncio.Event()
        for event_type in types:
            client.add_event_handler(event_type, self._add)

    def _add(self, event: events.Event) -> None:
        self.items.append(event)
        self._changed.set()

    async def expect(
        self, kind: type[E], test: Callable[[E], bool], what: str, *, since: int = 0
    ) -> E:
        """The first event of ``kind`` passing ``test`` (among those from the ``since``-th
        on); raises :class:`DemoFailed` naming ``what`` was awaited when none came in time."""
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    self._changed.clear()
                    for item in self.items[since:]:
                        if isinstance(item, kind) and test(item):
                            return item
                    await self._changed.wait()
        except TimeoutError:
            raise DemoFailed(f"{what}: nothing arrived within {self.timeout:g} s") from None


def check(condition: bool, what: str) -> None:
    """Raise :class:`DemoFailed` with ``what`` unless ``condition`` holds."""
    if not condition:
        raise DemoFailed(what)


def sample_png(width: int = 64, height: int = 48) -> bytes:
    """A small RGB gradient as PNG bytes (made here, so the demo needs no image library)."""
    rows = b"".join(
        b"\x00" + bytes(c for x in range(width) for c in (x * 4 % 256, y * 5 % 256, 160))
        for y in range(height)
    )

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def run(args: argparse.Namespace) -> int:
    """Run the tour; returns the exit code (0: every check passed)."""
    keep = args.state_dir is not None
    state_dir: Path = args.state_dir or Path(tempfile.mkdtemp(prefix="wamd-demo-"))
    out = Printer()
    try:
        run_main(Tour(state_dir, args, out).run())
    except KeyboardInterrupt:
        print("\ndemo interrupted", file=sys.stderr, flush=True)
        return 130
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}" if not isinstance(exc, DemoFailed) else str(exc)
        print(f"\ndemo FAILED in step {out.step}: {reason}", file=sys.stderr, flush=True)
        print(f"({len(out.passed)} checks passed before it)", file=sys.stderr, flush=True)
        return 1
    finally:
        if not keep:
            shutil.rmtree(state_dir, ignore_errors=True)
    took = time.monotonic() - out.start
    print(f"\nDemo finished: all {len(out.passed)} checks passed in {took:.1f} s.")
    for line in out.passed:
        print(f"  - {line}")
    return 0


class Tour:
    """The steps of the demo, sharing the sandbox and the two clients."""

    def __init__(self, state_dir: Path, args: argparse.Namespace, out: Printer) -> None:
        self.state_dir = state_dir
        self.args = args
        self.out = out
        self.timeout: float = args.step_timeout
        self.reconnect = ReconnectPolicy(initial_delay=0.2, max_delay=2.0)

    async def run(self) -> None:
        """Every step, in order; the sandbox and the clients are closed however it ends."""
        from wamd.sandbox import Sandbox

        out = self.out
        out.title("Starting the sandbox (a local WhatsApp-compatible server)")
        async with Sandbox(self.state_dir / "sandbox", port=0) as sandbox:
            out.info(f"listening on {sandbox.url}")
            out.info(f"admin API at {sandbox.admin_url}")
            out.info(f"certificate root key {sandbox.root_public_key.hex()}")
            self.sandbox = sandbox
            self.stores: list[SQLiteStore] = []
            self.clients: list[Client] = []
            deadline = max(60.0, 4 * self.timeout)
            try:
                async with asyncio.timeout(deadline):
                    await self.tour()
            except TimeoutError:
                raise DemoFailed(f"the tour did not end within {deadline:g} s") from None
            finally:
                await self.close_all()
        out.info("sandbox stopped")
        await asyncio.sleep(0)
        leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        check(not leftover, f"tasks still running after the shutdown: {leftover}")
        out.ok("clean shutdown: clients, stores and sandbox closed, no task left running")

    async def close_all(self) -> None:
        """Close the clients and stores still open."""
        for client in self.clients:
            await client.close()
        for store in self.stores:
            await store.close()
        self.clients.clear()
        self.stores.clear()

    async def open_client(self, name: str) -> tuple[Client, Seen]:
        """A client on the SQLite store ``<name>.sqlite`` (made if new), not connected."""
        from wamd.sandbox.testing import server_info

        store = await SQLiteStore.open(self.state_dir / f"{name}.sqlite")
        self.stores.append(store)
        client = Client(store, server=server_info(self.sandbox), reconnect=self.reconnect)
        self.clients.append(client)
        seen = Seen(
            client,
            self.timeout,
            Message,
            Receipt,
            PollVote,
            JoinedGroup,
            events.Disconnected,
            events.Connected,
            events.QR,
        )
        return client, seen

    async def tour(self) -> None:
        """The steps after the sandbox started."""
        args, out = self.args, self.out
        alice_by_code: bool = args.code
        out.title(
            "Pairing two clients: Alice by "
            + ("code" if alice_by_code else "QR code")
            + ", Bob by "
            + ("QR code" if alice_by_code else "code")
        )
        alice, alice_seen = await self.open_client("alice")
        await self.pair(alice, "Alice", args.phone, by_code=alice_by_code)
        bob, bob_seen = await self.open_client("bob")
        await self.pair(bob, "Bob", args.peer, by_code=not alice_by_code)
        assert alice.jid is not None
        assert bob.jid is not None
        to_bob, to_alice = bob.jid.to_non_ad(), alice.jid.to_non_ad()

        out.title("An end-to-end encrypted text, with receipts")
        sent = await alice.send_text(to_bob, "Hello Bob, this is Alice!")
        out.info(f"Alice sent {sent.id}, encrypted for {len(sent.recipients)} device(s)")
        got = await bob_seen.expect(Message, lambda m: m.id == sent.id, "Bob's copy of the text")
        check(got.text == "Hello Bob, this is Alice!", f"Bob decrypted {got.text!r}")
        out.ok(f"Bob decrypted Alice's text: {got.text!r}")
        delivered = await alice_seen.expect(
            Receipt, lambda r: sent.id in r.ids and r.type in DELIVERY, "the delivery receipt"
        )
        kind = f" ({delivered.type})" if delivered.type else ""
        out.ok(f"Alice got the delivery receipt{kind} from {delivered.sender}")
        await bob.mark_read(got.chat, [got.id], sender=got.sender)
        await alice_seen.expect(
            Receipt, lambda r: sent.id in r.ids and r.type == ReceiptType.READ, "the read receipt"
        )
        out.ok("Bob read it: Alice got the read receipt (blue ticks)")

        out.title("Reply, reaction, edit, revoke")
        reply = await bob.send_text(got.chat, "Hi Alice! Got it.", quote=got)
        answer = await alice_seen.expect(Message, lambda m: m.id == reply.id, "Bob's reply")
        check(
            answer.quoted is not None and answer.quoted.id == sent.id,
            f"the reply quotes {answer.quoted!r}, not {sent.id}",
        )
        out.ok(f"Bob replied quoting Alice's message: {answer.text!r}")
        await alice.react(answer, "👍")
        reaction = await bob_seen.expect(
            Message,
            lambda m: m.reaction is not None and m.reaction.target_id == reply.id,
            "Alice's reaction",
        )
        check(
            reaction.reaction is not None and reaction.reaction.emoji == "👍",
            f"the reaction is {reaction.reaction!r}",
        )
        out.ok("Alice reacted 👍 to the reply; Bob saw it")
        await alice.edit_message(to_bob, sent.id, "Hello Bob, this is Alice (edited)")
        edit = await bob_seen.expect(
            Message,
            lambda m: m.edited is not None and m.edited.target_id == sent.id,
            "Alice's edit",
        )
        new_text = edit.edited.text if edit.edited is not None else None
        check(new_text == "Hello Bob, this is Alice (edited)", f"the edit says {new_text!r}")
        out.ok(f"Alice edited her text; Bob saw the new text {new_text!r}")
        await alice.revoke_message(to_bob, sent.id)
        await bob_seen.expect(
            Message,
            lambda m: m.revoked is not None and m.revoked.target_id == sent.id,
            "Alice's revoke",
        )
        out.ok("Alice deleted her text for everyone; Bob got the revoke")

        out.title("A poll and a vote")
        poll = await alice.send_poll(to_bob, "Lunch?", ["pizza", "sushi", "salad"])
        poll_msg = await bob_seen.expect(Message, lambda m: m.id == poll.id, "the poll")
        tally = PollTally.of(poll_msg.message)
        out.info(f"Bob sees the poll {tally.options}")
        await bob.vote(poll_msg, ["sushi"])
        vote = await alice_seen.expect(PollVote, lambda v: v.poll_id == poll.id, "Bob's vote")
        tally.add_vote(vote)
        check(list(vote.selected) == ["sushi"], f"Alice decrypted the vote {vote.selected}")
        check(tally.counts() == {"pizza": 0, "sushi": 1, "salad": 0}, f"tally {tally!r}")
        out.ok(f"Bob voted; Alice decrypted and counted it: {tally.counts()}")

        out.title("An image: encrypted upload, message, download")
        image = sample_png()
        media = await alice.send_image(to_bob, image, caption="a gradient")
        digest = hashlib.sha256(image).hexdigest()
        out.info(f"Alice uploaded {len(image)} bytes (sha256 {digest[:16]}...)")
        photo = await bob_seen.expect(Message, lambda m: m.id == media.id, "the image message")
        check(photo.kind == "image", f"Bob got a {photo.kind} message")
        data = await bob.download(photo)
        check(data == image, f"Bob downloaded {len(data)} bytes that differ from what was sent")
        caption = photo.message.image_message.caption
        out.ok(f"Bob downloaded the image: {len(data)} bytes, byte-identical, caption {caption!r}")

        out.title("A group")
        group = await alice.create_group("wamd demo", [to_bob])
        out.info(f"Alice created {group.jid} ({group.subject!r})")
        await bob_seen.expect(JoinedGroup, lambda j: j.jid == group.jid, "Bob's group notice")
        out.ok(f"Bob was told he is in the group, with {len(group.participants)} members")
        hello = await alice.send_text(group.jid, "Welcome to the group!")
        in_group = await bob_seen.expect(Message, lambda m: m.id == hello.id, "the group message")
        check(in_group.chat == group.jid and in_group.is_group, f"it came in {in_group.chat}")
        out.ok(f"Bob got the group message (sender key): {in_group.text!r}")

        out.title("The sandbox drops Bob's connection; he reconnects by himself")
        await self.drop_and_reconnect(alice, bob, bob_seen, to_bob)

        out.title("A restart: Alice logs in from the stored session (no QR)")
        await self.restart_alice(to_alice, to_bob, bob_seen)

        out.title("Shutting down")
        await self.close_all()
        out.info("clients and stores closed")

    async def pair(self, client: Client, name: str, phone: str, *, by_code: bool) -> None:
        """Connect ``client`` unpaired and link it with ``phone``'s account."""
        out, sandbox = self.out, self.sandbox

        async def show_qr(evt: events.QR) -> None:
            if by_code or evt.index > 0:
                return
            out.info(f"QR code received (valid {evt.timeout:g} s):")
            if not self.args.no_qr:
                print(evt.render(), flush=True)
            out.info(f"the phone of +{phone} scans it (sandbox admin API)...")
            await sandbox.admin.scan_qr(evt.text, phone=phone)

        def paired(evt: events.PairSuccess) -> None:
            out.info(f"pairing verified: this device is {evt.jid} (LID {evt.lid})")

        client.add_event_handler(events.QR, show_qr)
        client.add_event_handler(events.PairSuccess, paired)
        success = asyncio.ensure_future(client.wait_for(events.PairSuccess, timeout=self.timeout))
        try:
            await client.connect()
            out.info(f"{name} connected (Noise handshake done, certificate chain verified)")
            if by_code:
                code = await client.request_pairing_code(phone)
                out.info(f"pairing code {code}: the user types it on the phone (admin API)...")
                await sandbox.admin.enter_pairing_code(phone, code)
            await success
        except TimeoutError:
            raise DemoFailed(f"{name} was not paired within {self.timeout:g} s") from None
        finally:
            success.cancel()
        out.info("the server asked for a restart (515): logging in with the new identity...")
        await self.wait_connected(client, name)
        out.ok(f"{name} paired by {'code' if by_code else 'QR code'} and logged in as {client.jid}")

    async def wait_connected(self, client: Client, name: str) -> None:
        """Wait until ``client`` is logged in, or fail the step."""
        try:
            await client.wait_until_connected(timeout=self.timeout)
        except TimeoutError:
            raise DemoFailed(f"{name} did not log in within {self.timeout:g} s") from None

    async def drop_and_reconnect(
        self, alice: Client, bob: Client, bob_seen: Seen, to_bob: JID
    ) -> None:
        """Kick Bob, send him a message while he is away, watch him come back and get it."""
        out = self.out
        before = len(bob_seen.items)
        kicked = await self.sandbox.admin.kick(self.args.peer)
        out.info(f"sandbox kicked {kicked} connection(s)")
        drop = await bob_seen.expect(events.Disconnected, lambda e: True, "the drop", since=before)
        check(drop.will_reconnect, "Bob's client gave up instead of reconnecting")
        out.info(f"Bob disconnected ({drop.error}); reconnecting: {drop.will_reconnect}")
        meanwhile = await alice.send_text(to_bob, "Did you get this while you were away?")
        await bob_seen.expect(events.Connected, lambda e: True, "Bob's reconnection", since=before)
        out.ok(f"Bob reconnected and logged in again as {bob.jid}")
        await bob_seen.expect(
            Message, lambda m: m.id == meanwhile.id, "the message sent during the drop"
        )
        out.ok("Bob got the message Alice sent while he was away")

    async def restart_alice(self, to_alice: JID, to_bob: JID, bob_seen: Seen) -> None:
        """Close Alice's client and store, open new ones on the same file, log in, send."""
        out = self.out
        old_client, old_store = self.clients.pop(0), self.stores.pop(0)
        await old_client.close()
        await old_store.close()
        out.info("Alice's client closed; the session stays in alice.sqlite")
        alice, alice_seen = await self.open_client("alice")
        await alice.connect()
        await self.wait_connected(alice, "Alice")
        check(
            not any(isinstance(e, events.QR) for e in alice_seen.items),
            "the stored session was not used: a QR code appeared",
        )
        check(
            alice.jid is not None and alice.jid.to_non_ad() == to_alice,
            f"Alice logged in as {alice.jid}, not {to_alice}",
        )
        out.ok(f"Alice logged in again as {alice.jid} from the stored keys")
        back = await alice.send_text(to_bob, "Back after a restart.")
        await bob_seen.expect(Message, lambda m: m.id == back.id, "the message after the restart")
        out.ok("the restarted client's message reached Bob (same Signal sessions)")
