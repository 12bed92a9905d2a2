"""The admin HTTP API exposes the same operations as the Python one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from wamd.sandbox import Sandbox

from .raw import Companion, login, pair_by_qr, start_registration

PHONE = "15550006"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_info_and_accounts(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{sandbox.admin_url}/info") as response:
        info = await response.json()
    assert info["url"] == sandbox.url
    assert info["root_public_key"] == sandbox.root_public_key.hex()
    async with http.post(f"{sandbox.admin_url}/create_account", json={"phone": "+1 555 0006"}) as r:
        created = await r.json()
    assert created["phone"] == PHONE
    assert created["lid"].endswith("@lid")
    async with http.get(f"{sandbox.admin_url}/accounts") as response:
        accounts = await response.json()
    assert [a["phone"] for a in accounts] == [PHONE]


async def test_scan_qr_and_faults_over_http(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    companion = Companion()
    client, refs = await start_registration(sandbox, companion)
    try:
        scan = asyncio.ensure_future(
            http.post(
                f"{sandbox.admin_url}/scan_qr",
                json={"qr": companion.qr_text(refs[0]), "phone": PHONE},
            )
        )
        from .raw import check_pair_success

        answer, jid, _ = check_pair_success(companion, await client.expect("iq"))
        await client.send(answer)
        response = await scan
        assert response.status == 200
        assert (await response.json()) == {"jid": str(jid)}
    finally:
        await client.close()
    companion.jid = jid
    connected = await login(sandbox, companion)
    try:
        async with http.post(
            f"{sandbox.admin_url}/ban", json={"phone": PHONE, "seconds": 60}
        ) as response:
            assert await response.json() == {"closed": 1}
        nodes = await connected.wait_closed()
        assert nodes[0].attrs["reason"] == "402"
    finally:
        await connected.close()
    async with http.post(f"{sandbox.admin_url}/unban", json={"phone": PHONE}) as response:
        assert await response.json() == {"ok": True}
    async with http.post(f"{sandbox.admin_url}/remove_device", json={"jid": str(jid)}) as r:
        assert await r.json() == {"removed": True}


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("scan_qr", {"qr": "nonsense", "phone": PHONE}, "not a WhatsApp companion QR"),
        ("scan_qr", {"phone": PHONE}, "qr"),
        ("ban", {"phone": "19999999"}, "no sandbox account"),
        ("enter_pairing_code", {"phone": PHONE, "code": "ABCD-EFGH"}, "no companion is waiting"),
        ("remove_device", {"jid": "not a jid"}, "not a JID"),
        ("min_version", {"version": "2.3000"}, "three integers"),
        ("kick", [], "JSON object"),
    ],
)
async def test_errors_are_json_400s(
    sandbox: Sandbox, http: aiohttp.ClientSession, path: str, body: object, message: str
) -> None:
    async with http.post(f"{sandbox.admin_url}/{path}", json=body) as response:
        assert response.status == 400
        assert message in (await response.json())["error"]


async def test_min_version_over_http(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    async with http.post(
        f"{sandbox.admin_url}/min_version", json={"version": [2, 3000, 9]}
    ) as response:
        assert await response.json() == {"min_version": [2, 3000, 9]}
    assert sandbox.login.min_version == (2, 3000, 9)


async def test_pairing_then_login_counts_in_info(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    companion = Companion()
    await pair_by_qr(sandbox, companion, PHONE)
    client = await login(sandbox, companion)
    try:
        async with http.get(f"{sandbox.admin_url}/info") as response:
            info = await response.json()
        assert info["logged_in"] == [f"{PHONE}:1@s.whatsapp.net"]
    finally:
        await client.close()
