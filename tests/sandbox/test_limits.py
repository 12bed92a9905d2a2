"""Connection limits: the sandbox refuses connections past ``max_connections`` and closes
connections that stay silent past ``idle_timeout``; everyone else keeps being served."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from wamd.binary import Node
from wamd.sandbox import Sandbox

from .raw import Companion, login, pair_by_qr


async def test_connections_past_the_cap_are_refused(tmp_path: Path) -> None:
    async with (
        Sandbox(state_dir=tmp_path / "sb", port=0, max_connections=2) as sandbox,
        aiohttp.ClientSession() as http,
    ):
        first = await http.ws_connect(sandbox.url)
        second = await http.ws_connect(sandbox.url)
        assert len(sandbox.connections) == 2  # registered before the upgrade was answered
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(sandbox.url)
        assert refused.value.status == 503
        assert sandbox.refused_connections == 1
        sessions = sandbox.connections
        await first.close()
        await second.close()
        async with asyncio.timeout(5):
            for session in sessions:
                await session.closed.wait()
        # room again: a companion pairs and logs in
        companion = Companion()
        await pair_by_qr(sandbox, companion, "15550071")
        client = await login(sandbox, companion)
        await client.close()


async def test_a_silent_logged_in_connection_is_closed(tmp_path: Path) -> None:
    async with Sandbox(state_dir=tmp_path / "sb", port=0, idle_timeout=0.5) as sandbox:
        companion = Companion()
        await pair_by_qr(sandbox, companion, "15550072")
        silent = await login(sandbox, companion)
        (session,) = sandbox.connections
        try:
            await silent.wait_closed(seconds=10)
            async with asyncio.timeout(5):
                await session.closed.wait()
        finally:
            await silent.close()


async def test_a_connection_that_keeps_talking_stays_open(tmp_path: Path) -> None:
    async with Sandbox(state_dir=tmp_path / "sb", port=0, idle_timeout=1.0) as sandbox:
        companion = Companion()
        await pair_by_qr(sandbox, companion, "15550073")
        client = await login(sandbox, companion)
        try:
            for n in range(6):  # 3 s in all, a ping every 0.5 s
                await asyncio.sleep(0.5)
                answer = await client.query(
                    Node(
                        "iq",
                        {"id": f"ping{n}", "type": "get", "xmlns": "w:p", "to": "s.whatsapp.net"},
                        [Node("ping")],
                    )
                )
                assert answer.attrs["type"] == "result"
        finally:
            await client.close()


@pytest.mark.parametrize("kwargs", [{"max_connections": 0}, {"idle_timeout": 0}])
def test_bad_limits_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        Sandbox(**kwargs)  # type: ignore[arg-type]
