"""Client for baileys_msg_peer.mjs: a Baileys (rc14) client on a sandbox, driven over JSON lines.

Shared by tests/interop/test_baileys_messaging.py, tests/interop/test_baileys_groups.py and
bench/messaging.py.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wamd.sandbox import Sandbox

EVENT_TIMEOUT = 40.0

Matcher = Callable[[dict[str, Any]], bool]


class BaileysPeer:
    """One ``node baileys_msg_peer.mjs`` process paired with a sandbox account."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc = proc
        self.log = log
        self.events: list[dict[str, Any]] = []
        self._unread: list[dict[str, Any]] = []
        self._rids = itertools.count(1)
        self.me: dict[str, Any] = {}

    @classmethod
    async def start(
        cls,
        interop: Path,
        sandbox: Sandbox,
        auth_dir: Path,
        *,
        log_level: str = "warn",
        env: dict[str, str] | None = None,
    ) -> BaileysPeer:
        args = {
            "url": sandbox.url,
            "rootPublicKey": sandbox.root_public_key.hex(),
            "authDir": str(auth_dir),
        }
        auth_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
        log = auth_dir.parent / f"{auth_dir.name}.log"
        with log.open("ab") as stderr:
            proc = await asyncio.create_subprocess_exec(
                "node",
                str(interop / "baileys_msg_peer.mjs"),
                json.dumps(args),
                cwd=interop,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env={**os.environ, "BAILEYS_LOG": log_level, **(env or {})},
                limit=16 * 1024 * 1024,
            )
        return cls(proc, log)

    @classmethod
    async def paired(
        cls, interop: Path, sandbox: Sandbox, auth_dir: Path, phone: str, **options: Any
    ) -> BaileysPeer:
        """Start one and pair it with ``phone``'s account (the sandbox phone scans its QR)."""
        peer = await cls.start(interop, sandbox, auth_dir, **options)
        qr = await peer.wait_for(lambda e: e["event"] == "qr")
        await sandbox.admin.scan_qr(qr["qr"], phone=phone)
        opened = await peer.wait_for(lambda e: e["event"] == "open", timeout=60)
        peer.me = opened["me"]
        return peer

    def report(self) -> str:
        tail = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
        return f"events: {self.events[-20:]}\nBaileys log tail:\n{tail}"

    async def _read(self, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                line = await self.proc.stdout.readline()
        except TimeoutError:
            raise AssertionError(f"no event from Baileys in time; {self.report()}") from None
        if not line:
            raise AssertionError(f"Baileys exited; {self.report()}")
        event: dict[str, Any] = json.loads(line)
        self.events.append(event)
        if event["event"] == "close":
            raise AssertionError(f"Baileys closed: {event}; {self.report()}")
        return event

    async def wait_for(self, match: Matcher, *, timeout: float = EVENT_TIMEOUT) -> dict[str, Any]:  # noqa: ASYNC109
        """The next event ``match`` accepts (events read meanwhile are kept for later)."""
        for i, event in enumerate(self._unread):
            if match(event):
                del self._unread[i]
                return event
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = await self._read(max(0.1, deadline - loop.time()))
            if match(event):
                return event
            self._unread.append(event)

    async def command(self, cmd: str, **fields: Any) -> dict[str, Any]:
        """Run a command and return its ``done`` answer (raises on ``error``)."""
        assert self.proc.stdin is not None
        rid = next(self._rids)
        self.proc.stdin.write((json.dumps({"cmd": cmd, "rid": rid, **fields}) + "\n").encode())
        await self.proc.stdin.drain()
        answer = await self.wait_for(
            lambda e: e.get("rid") == rid and e["event"] in ("done", "error"), timeout=60
        )
        if answer["event"] == "error":
            raise AssertionError(f"Baileys {cmd} failed: {answer['message']}")
        return answer

    async def message(self, match: Matcher, *, timeout: float = EVENT_TIMEOUT) -> dict[str, Any]:  # noqa: ASYNC109
        """The next received ``message`` event ``match`` accepts."""
        return await self.wait_for(lambda e: e["event"] == "message" and match(e), timeout=timeout)

    async def close(self) -> None:
        if self.proc.returncode is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write(b'{"cmd":"quit"}\n')
                await self.proc.stdin.drain()
                async with asyncio.timeout(10):
                    await self.proc.wait()
            except (TimeoutError, ConnectionError):
                self.proc.kill()
                await self.proc.wait()
