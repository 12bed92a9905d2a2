"""Baileys rc14 in a group with wamd clients, through the sandbox: the group created by wamd
reaches Baileys (``groups.upsert``), text and an image go both ways (sender keys distributed
pairwise by each side, ``skmsg`` fan-out by the sandbox, media over the sandbox's HTTPS host),
and a group Baileys creates and renames reaches wamd as typed events with Baileys as the actor.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.groups.conftest import Member, pair, text
from tests.interop.baileys_msg_peer import BaileysPeer
from tests.unit.test_media_info import make_image
from wamd.media import MediaClient, MediaType, media_conn_fetcher, media_message
from wamd.messaging import Message
from wamd.sandbox import Sandbox
from wamd.sandbox.groups import group_server_of
from wamd.sandbox.testing import running_sandbox
from wamd.types import JID

pytestmark = pytest.mark.interop


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with running_sandbox(tmp_path / "sandbox") as running:
        yield running


A, B, BAILEYS = "15550001", "15550002", "15550009"


def member_users(group: dict[str, Any]) -> set[str]:
    """The phone numbers of a Baileys group metadata's participants."""
    return {
        (p.get("phoneNumber") or p["id"]).split("@")[0].split(":")[0] for p in group["participants"]
    }


async def test_baileys_in_a_wamd_group(node_peers: Path, sandbox: Sandbox, tmp_path: Path) -> None:
    assert sandbox.media is not None
    baileys = await BaileysPeer.paired(
        node_peers,
        sandbox,
        tmp_path / "baileys-auth",
        BAILEYS,
        env={"NODE_EXTRA_CA_CERTS": str(sandbox.media.ca_file)},
    )
    a: Member | None = None
    b: Member | None = None
    try:
        a, b = await pair(sandbox, A), await pair(sandbox, B)
        baileys_pn = JID(BAILEYS, "s.whatsapp.net")

        # wamd creates the group: Baileys learns it from the <create> notification.
        info = await a.client.create_group("wamd and baileys", [b.pn, baileys_pn])
        gid = info.jid
        upsert = await baileys.wait_for(lambda e: e["event"] == "groups.upsert")
        group = upsert["groups"][0]
        assert (group["id"], group["subject"]) == (str(gid), "wamd and baileys")
        assert member_users(group) == {A, B, BAILEYS}
        assert group["addressingMode"] == "lid"
        meta = (await baileys.command("groupMetadata", jid=str(gid)))["group"]
        assert member_users(meta) == {A, B, BAILEYS}
        assert any(
            p["admin"] == "superadmin" and p["phoneNumber"] == f"{A}@s.whatsapp.net"
            for p in meta["participants"]
        )

        # wamd -> Baileys (and the other wamd member).
        sent = await a.client.send_message(gid, text("hello baileys"))
        got = await baileys.message(lambda e: e["id"] == sent.id)
        assert got["remoteJid"] == str(gid)
        assert got["message"]["conversation"] == "hello baileys"
        assert got["participant"].split("@")[0].split(":")[0] == a.lid.user
        assert not got["fromMe"]
        await b.wait(lambda: "hello baileys" in b.texts(gid))

        # Baileys -> wamd: Baileys distributes its sender key and sends the skmsg.
        answer = await baileys.command("send", to=str(gid), content={"text": "hello wamd"})
        for member in (a, b):
            await member.wait(lambda m=member: "hello wamd" in m.texts(gid))  # type: ignore[misc]
            msg = next(m for m in member.messages if m.id == answer["id"])
            assert (msg.chat, msg.is_group, msg.from_me) == (gid, True, False)
            assert msg.sender.user == baileys.me["lid"].split(":")[0].split("@")[0]
            assert msg.sender_alt is not None
            assert msg.sender_alt.user == BAILEYS
        # A second message from each side (no new key distribution needed) still arrives.
        second = await a.client.send_message(gid, text("again from wamd"))
        assert (await baileys.message(lambda e: e["id"] == second.id))["message"][
            "conversation"
        ] == "again from wamd"
        again = await baileys.command("send", to=str(gid), content={"text": "again from baileys"})
        await a.wait(lambda: any(m.id == again["id"] for m in a.messages))

        # An image from wamd: uploaded to the sandbox's HTTPS host, downloaded by Baileys.
        picture = make_image("JPEG", (96, 64))
        async with MediaClient(
            media_conn_fetcher(a.client.request), ca_file=sandbox.media.ca_file
        ) as media:
            upload = await media.upload(picture, MediaType.IMAGE)
        sent = await a.client.send_message(gid, media_message(upload, caption="from wamd"))
        got = await baileys.message(lambda e: e["id"] == sent.id)
        assert got["type"] == "imageMessage"
        assert got["message"]["imageMessage"]["caption"] == "from wamd"
        downloaded = await baileys.command("download", id=sent.id)
        assert downloaded["sha256"] == hashlib.sha256(picture).hexdigest()

        # An image from Baileys: wamd members get it and download the same bytes.
        theirs = make_image("PNG", (40, 30))
        answer = await baileys.command(
            "send",
            to=str(gid),
            content={
                "image": {"b64": base64.b64encode(theirs).decode()},
                "caption": "from baileys",
            },
        )
        for member in (a, b):
            await member.wait(lambda m=member: any(x.id == answer["id"] for x in m.messages))  # type: ignore[misc]
            msg: Message = next(x for x in member.messages if x.id == answer["id"])
            image = msg.message.image_message
            assert image.caption == "from baileys"
            async with MediaClient(
                media_conn_fetcher(member.client.request), ca_file=sandbox.media.ca_file
            ) as media:
                assert await media.download(msg.message) == theirs

        # B is removed: Baileys sees it; A's next message uses a new sender key, which
        # Baileys accepts (a second key state of the same sender) and B never gets.
        await a.client.groups.remove(gid, [b.pn])
        removal = await baileys.wait_for(lambda e: e["event"] == "group-participants.update")
        assert removal["action"] == "remove"
        rekeyed = await a.client.send_message(gid, text("new key"))
        got = await baileys.message(lambda e: e["id"] == rekeyed.id)
        assert got["message"]["conversation"] == "new key"
        assert "new key" not in b.texts(gid)
        holders = await a.client.device.account.sender_key_distribution.sent_to(str(gid))
        assert holders  # redistributed after the rotation...
        assert not any(h.startswith(b.lid.user) for h in holders)  # ...but not to B
    finally:
        for member in (a, b):
            if member is not None:
                await member.client.close()
        await baileys.close()


async def test_baileys_creates_and_manages_a_group(
    node_peers: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    baileys = await BaileysPeer.paired(node_peers, sandbox, tmp_path / "baileys-auth", BAILEYS)
    a: Member | None = None
    try:
        a = await pair(sandbox, A)
        created = (
            await baileys.command(
                "groupCreate", subject="made by baileys", participants=[f"{A}@s.whatsapp.net"]
            )
        )["group"]
        gid = JID.parse(created["id"])
        await a.wait(lambda: bool(a.joined))
        joined = a.joined[0]
        assert (joined.jid, joined.group.subject, joined.type) == (gid, "made by baileys", "new")
        assert joined.actor_pn == JID(BAILEYS, "s.whatsapp.net")
        owner = joined.group.participant(JID(BAILEYS, "s.whatsapp.net"))
        assert owner is not None
        assert owner.is_super_admin

        await baileys.command("groupSubject", jid=str(gid), subject="renamed by baileys")
        change = await a.change(lambda e: e.subject is not None)
        assert change.subject == "renamed by baileys"
        assert change.actor_pn == JID(BAILEYS, "s.whatsapp.net")

        await a.client.set_group_subject(gid, "renamed by wamd")
        update = await baileys.wait_for(
            lambda e: (
                e["event"] == "groups.update" and e["groups"][0].get("subject") == "renamed by wamd"
            )
        )
        assert update["groups"][0]["id"] == str(gid)

        result = (
            await baileys.command(
                "groupParticipants",
                jid=str(gid),
                participants=[f"{A}@s.whatsapp.net"],
                action="promote",
            )
        )["result"]
        assert [r["status"] for r in result] == ["200"]
        promoted = await a.change(lambda e: bool(e.promoted))
        assert promoted.promoted[0].is_user(a.pn)

        sent = await a.client.send_message(gid, text("thanks for the group"))
        got = await baileys.message(lambda e: e["id"] == sent.id)
        assert got["message"]["conversation"] == "thanks for the group"
    finally:
        if a is not None:
            await a.client.close()
        await baileys.close()


async def test_phone_number_addressed_group_with_baileys(
    node_peers: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    group_server_of(sandbox).addressing_mode = "pn"
    baileys = await BaileysPeer.paired(node_peers, sandbox, tmp_path / "baileys-auth", BAILEYS)
    a: Member | None = None
    try:
        a = await pair(sandbox, A)
        info = await a.client.create_group("pn group", [JID(BAILEYS, "s.whatsapp.net")])
        upsert = await baileys.wait_for(lambda e: e["event"] == "groups.upsert")
        assert upsert["groups"][0]["addressingMode"] == "pn"
        sent = await a.client.send_message(info.jid, text("pn from wamd"))
        got = await baileys.message(lambda e: e["id"] == sent.id)
        assert got["message"]["conversation"] == "pn from wamd"
        assert got["participant"].split("@")[0].split(":")[0] == A
        answer = await baileys.command(
            "send", to=str(info.jid), content={"text": "pn from baileys"}
        )
        await a.wait(lambda: any(m.id == answer["id"] for m in a.messages))
        msg = next(m for m in a.messages if m.id == answer["id"])
        assert msg.text == "pn from baileys"
        assert msg.sender.user == BAILEYS
        assert msg.sender.is_pn
    finally:
        if a is not None:
            await a.client.close()
        await baileys.close()
