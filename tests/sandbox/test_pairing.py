"""Pairing through the sandbox with a raw client: refs, QR scans, the signed identity."""

from __future__ import annotations

import asyncio

import pytest

from wamd.binary import Node
from wamd.errors import PairingError
from wamd.proto import adv_pb2
from wamd.sandbox import Sandbox, SessionState
from wamd.types import JID

from .raw import Companion, check_pair_success, login, pair_by_qr, start_registration

PHONE = "15550001"


async def test_registration_gets_six_refs(sandbox: Sandbox) -> None:
    client, refs = await start_registration(sandbox, Companion())
    try:
        assert len(refs) == 6
        assert len(set(refs)) == 6
        assert all("," not in ref for ref in refs)
        assert [s.state for s in sandbox.connections] == [SessionState.REGISTERING]
    finally:
        await client.close()


async def test_qr_pairing_creates_the_account_and_device(sandbox: Sandbox) -> None:
    companion = Companion()
    jid = await pair_by_qr(sandbox, companion, PHONE)
    assert jid == JID(PHONE, "s.whatsapp.net", device=1)
    account = await sandbox.state.account(PHONE)
    assert account is not None
    assert len(account.lid) == 15
    device = await sandbox.state.device(PHONE, 1)
    assert device is not None
    assert device.noise_public == companion.noise.public
    assert device.identity_public == companion.identity.public
    assert device.registration_id == companion.registration_id
    stored = adv_pb2.ADVSignedDeviceIdentity.FromString(device.device_identity)
    assert stored.HasField("device_signature")
    assert stored.HasField("account_signature_key")
    # a second companion of the same account gets the next device id and key index
    second = Companion()
    assert await pair_by_qr(sandbox, second, PHONE) == JID(PHONE, "s.whatsapp.net", device=2)
    devices = await sandbox.state.devices(PHONE)
    assert [(d.device, d.key_index) for d in devices] == [(1, 1), (2, 2)]


async def test_pair_success_names_the_lid(sandbox: Sandbox) -> None:
    companion = Companion()
    client, refs = await start_registration(sandbox, companion)
    try:
        scan = asyncio.ensure_future(sandbox.admin.scan_qr(companion.qr_text(refs[2]), PHONE))
        iq = await client.expect("iq")
        answer, pn, lid = check_pair_success(companion, iq)
        account = await sandbox.state.account(PHONE)
        assert account is not None
        assert lid == JID(account.lid, "lid", device=1)
        assert pn == JID(PHONE, "s.whatsapp.net", device=1)
        await client.send(answer)
        assert await scan == pn
    finally:
        await client.close()


async def test_bad_countersignature_is_refused_and_nothing_stored(sandbox: Sandbox) -> None:
    companion = Companion()
    client, refs = await start_registration(sandbox, companion)
    try:
        scan = asyncio.ensure_future(sandbox.admin.scan_qr(companion.qr_text(refs[0]), PHONE))
        iq = await client.expect("iq")
        answer, _, _ = check_pair_success(companion, iq)
        identity = answer.find("pair-device-sign", "device-identity")
        assert identity is not None
        signed = adv_pb2.ADVSignedDeviceIdentity.FromString(identity.content_bytes())
        signed.device_signature = bytes(64)
        identity.content = signed.SerializeToString()
        await client.send(answer)
        with pytest.raises(PairingError, match="device signature"):
            await scan
        assert await sandbox.state.devices(PHONE) == []
    finally:
        await client.close()


async def test_companion_rejecting_pair_success(sandbox: Sandbox) -> None:
    companion = Companion()
    client, refs = await start_registration(sandbox, companion)
    try:
        scan = asyncio.ensure_future(sandbox.admin.scan_qr(companion.qr_text(refs[0]), PHONE))
        iq = await client.expect("iq")
        error = Node("error", {"code": "401", "text": "hmac-mismatch"})
        await client.send(Node("iq", {"id": iq.attrs["id"], "type": "error"}, [error]))
        with pytest.raises(PairingError, match="hmac-mismatch"):
            await scan
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda qr: qr.replace("#2@", "#2@x"), "no connected companion"),
        (lambda qr: "hello", "not a WhatsApp companion QR"),
        (lambda qr: qr.rsplit(",", 4)[0] + ",!!,!!,!!,1", "not base64"),
    ],
)
async def test_unusable_qr_texts(sandbox: Sandbox, mutate: object, message: str) -> None:
    companion = Companion()
    client, refs = await start_registration(sandbox, companion)
    try:
        with pytest.raises(PairingError, match=message):
            await sandbox.admin.scan_qr(mutate(companion.qr_text(refs[0])), PHONE)  # type: ignore[operator]
    finally:
        await client.close()


async def test_qr_with_another_companions_keys(sandbox: Sandbox) -> None:
    companion = Companion()
    client, refs = await start_registration(sandbox, companion)
    try:
        impostor = Companion()
        with pytest.raises(PairingError, match="noise key does not match"):
            await sandbox.admin.scan_qr(impostor.qr_text(refs[0]), PHONE)
        impostor.noise = companion.noise
        with pytest.raises(PairingError, match="identity key does not match"):
            await sandbox.admin.scan_qr(impostor.qr_text(refs[0]), PHONE)
    finally:
        await client.close()


async def test_expired_qr(tmp_path: object) -> None:
    now = [1_800_000_000.0]
    async with Sandbox(state_dir=None, port=0, clock=lambda: now[0]) as sandbox:
        companion = Companion()
        client, refs = await start_registration(sandbox, companion)
        try:
            now[0] += 61
            with pytest.raises(PairingError, match="expired"):
                await sandbox.admin.scan_qr(companion.qr_text(refs[0]), PHONE)
            # the second ref lives 20 s longer
            assert await asyncio.wait_for(
                _scan_and_answer(sandbox, companion, client, refs[1]), 10
            ) == JID(PHONE, "s.whatsapp.net", device=1)
        finally:
            await client.close()


async def _scan_and_answer(sandbox: Sandbox, companion: Companion, client: object, ref: str) -> JID:
    from .raw import RawClient

    assert isinstance(client, RawClient)
    scan = asyncio.ensure_future(sandbox.admin.scan_qr(companion.qr_text(ref), PHONE))
    iq = await client.expect("iq")
    answer, _, _ = check_pair_success(companion, iq)
    await client.send(answer)
    return await scan


async def test_paired_companion_logs_in(sandbox: Sandbox) -> None:
    companion = Companion()
    await pair_by_qr(sandbox, companion, PHONE)
    client = await login(sandbox, companion)
    try:
        assert client.handshake is not None
        assert sandbox.sessions[JID(PHONE, "s.whatsapp.net", device=1)] is not None
    finally:
        await client.close()


async def test_invalid_phone_numbers(sandbox: Sandbox) -> None:
    for phone in ("", "abc", "0123456", "1" * 30):
        with pytest.raises(PairingError, match="phone number"):
            await sandbox.admin.create_account(phone)
