"""How long Baileys rc14, newly linked to a sandbox account, takes to be usable.

Usage: .venv/bin/python bench/baileys_link.py [--runs 2]

From the QR scan, prints the seconds until Baileys reports ``connection: 'open'`` and until it
logs that its app-state sync is complete and it is online (it flushes its event buffer then),
with the sandbox's default modules (the phone sends the new device its app-state key and a
history chunk at pairing) and without ``wamd.sandbox.phone_peer`` (no key, no history: Baileys
waits for them). Needs the npm peers (scripts/setup.sh test).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.interop.test_baileys_appstate import BaileysDevice  # noqa: E402
from wamd.sandbox.server import DEFAULT_MODULES  # noqa: E402
from wamd.sandbox.testing import running_sandbox  # noqa: E402

ONLINE = "transitioning to Online state"
PHONE = "15559990000"


async def link_once(modules: tuple[str, ...], limit: float = 120.0) -> tuple[float, float]:
    """Seconds from the scan to 'open' and to Baileys' "online" log line."""
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory() as tmp:
        async with running_sandbox(modules=modules) as sandbox:
            interop = ROOT / "tests" / "interop"
            baileys = await BaileysDevice.start(interop, sandbox, Path(tmp) / "auth")
            try:
                qr = await baileys.wait_for("qr")
                start = loop.time()
                await sandbox.admin.scan_qr(qr["qr"], PHONE)
                await baileys.wait_for("open")
                opened = loop.time() - start
                while ONLINE not in baileys.log.read_text(errors="replace"):
                    if loop.time() - start > limit:
                        return opened, float("inf")
                    await asyncio.sleep(0.1)
                return opened, loop.time() - start
            finally:
                await baileys.stop()


async def main(runs: int) -> None:
    without = tuple(m for m in DEFAULT_MODULES if m != "wamd.sandbox.phone_peer")
    for name, modules in (("default modules", DEFAULT_MODULES), ("without phone_peer", without)):
        for _ in range(runs):
            opened, online = await link_once(modules)
            print(f"{name:20s} open {opened:6.2f} s   online {online:6.2f} s", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    asyncio.run(main(parser.parse_args().runs))
