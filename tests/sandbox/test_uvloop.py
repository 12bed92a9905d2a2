"""wamd on uvloop (the ``speed`` extra): the same exchange as on asyncio's loop, through the
sandbox, with ``wamd.loop.run``; and how the loop is chosen."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.sandbox.routing_helpers import pair, reconnect
from wamd.loop import LOOP_ENV, loop_factory, run
from wamd.messaging import ReceiptType
from wamd.proto import e2e_pb2
from wamd.sandbox import Sandbox
from wamd.types import JID

uvloop = pytest.importorskip("uvloop")

A, B = "15550071", "15550072"


async def exchange(state_dir: Path) -> str:
    async with Sandbox(state_dir=state_dir, port=0) as sandbox:
        alice = await pair(sandbox, A)
        bob = await pair(sandbox, B)
        try:
            sent = await alice.client.send_message(
                JID(B, "s.whatsapp.net"), e2e_pb2.Message(conversation="on uvloop")
            )
            await bob.wait(lambda: bob.texts == ["on uvloop"])
            await alice.wait(lambda: any(sent.id in r.ids for r in alice.receipts))
            first = bob.messages[0]
            await bob.client.mark_read(first.chat, [first.id])
            await alice.wait(
                lambda: any(r.type is ReceiptType.READ and sent.id in r.ids for r in alice.receipts)
            )
            await alice.client.disconnect()
            for i in range(5):  # queued while alice is offline, delivered at her next login
                await bob.client.send_message(
                    JID(A, "s.whatsapp.net"), e2e_pb2.Message(conversation=f"offline {i}")
                )
            await reconnect(alice)
            await alice.wait(lambda: alice.texts == [f"offline {i}" for i in range(5)])
        finally:
            await alice.client.close()
            await bob.client.close()
        return type(asyncio.get_running_loop()).__module__


def test_two_clients_exchange_on_uvloop(tmp_path: Path) -> None:
    loop_module = run(exchange(tmp_path / "sandbox"), loop="uvloop")
    assert loop_module.startswith("uvloop")


def test_the_loop_is_chosen_by_name_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert loop_factory("uvloop") is uvloop.new_event_loop
    assert loop_factory("asyncio") is None
    monkeypatch.delenv(LOOP_ENV, raising=False)
    assert loop_factory() is uvloop.new_event_loop  # installed: taken
    monkeypatch.setenv(LOOP_ENV, "asyncio")
    assert loop_factory() is None
    monkeypatch.setenv(LOOP_ENV, "tokio")
    with pytest.raises(ValueError, match=LOOP_ENV):
        loop_factory()
    with pytest.raises(ValueError, match="unknown event loop"):
        loop_factory("trio")  # type: ignore[arg-type]


def test_run_returns_the_result_on_asyncio_too() -> None:
    async def main() -> str:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()).__module__

    assert run(main(), loop="asyncio").startswith("asyncio")
