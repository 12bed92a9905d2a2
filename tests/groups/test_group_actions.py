"""Every group action between wamd clients through the sandbox: the answers, the typed events
every other device receives (with the actor), and the refusals with WhatsApp's error codes."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.groups.conftest import Member, pair, text
from wamd.binary import Node
from wamd.errors import (
    GroupError,
    GroupNotFound,
    InviteLinkInvalid,
    InviteLinkRevoked,
    IQError,
    NotGroupAdmin,
    NotInGroup,
    SendError,
)
from wamd.groups import (
    INVITE_LINK_PREFIX,
    MemberAddMode,
    ParticipantAction,
    RequestAction,
    invite_message,
)
from wamd.sandbox import Sandbox
from wamd.types import JID
from wamd.users.client import UsersClient
from wamd.users.queries import PrivacyCategory, PrivacyValue

A, B, C, D = "15550001", "15550002", "15550003", "15550004"


async def close(*members: Member) -> None:
    for member in members:
        await member.client.close()


async def test_settings_permissions_and_events(sandbox: Sandbox) -> None:
    a1, a2 = await pair(sandbox, A), await pair(sandbox, A)
    b, c = await pair(sandbox, B), await pair(sandbox, C)
    try:
        info = await a1.client.create_group("first name", [b.pn, c.pn])
        gid = info.jid
        await c.wait(lambda: bool(c.joined))

        # Subject: any member while unlocked; the others (and A's other device) see who.
        await b.client.set_group_subject(gid, "renamed by b")
        for member in (a1, a2, c):
            change = await member.change(lambda e: e.subject is not None)
            assert (change.subject, change.actor, change.actor_pn) == ("renamed by b", b.lid, b.pn)
            assert change.changes == ("subject",)
        own = await b.change(lambda e: e.subject is not None)  # the actor's device too
        assert own.actor == b.lid
        current = await c.client.get_group_info(gid)
        assert (current.subject, current.subject_owner) == ("renamed by b", b.lid)

        # Locked: only admins edit the info.
        with pytest.raises(NotGroupAdmin) as not_admin:
            await b.client.set_group_locked(gid, True)
        assert (not_admin.value.code, not_admin.value.text) == (401, "not-authorized")
        await a1.client.set_group_locked(gid, True)
        assert (await b.change(lambda e: e.locked is not None)).locked is True
        with pytest.raises(NotGroupAdmin):
            await b.client.set_group_subject(gid, "not allowed")
        with pytest.raises(NotGroupAdmin):
            await c.client.set_group_description(gid, "nope")

        # Description: set, read back, delete; a stale previous id is a conflict.
        desc_id = await a1.client.set_group_description(gid, "what this group is for")
        change = await c.change(lambda e: e.description is not None)
        assert (change.description, change.description_id, change.actor) == (
            "what this group is for",
            desc_id,
            a1.lid,
        )
        current = await b.client.get_group_info(gid)
        assert (current.description, current.description_id) == ("what this group is for", desc_id)
        assert current.locked
        with pytest.raises(GroupError) as conflict:
            await a1.client.groups.set_description(gid, "x", previous_id="stale")
        assert conflict.value.code == 409
        await a1.client.set_group_description(gid, "")
        assert (await c.change(lambda e: e.description == "")).description == ""
        assert (await b.client.get_group_info(gid)).description == ""

        # Announce mode: non-admins cannot send (403); promoted, they can.
        await a1.client.set_group_announce(gid, True)
        assert (await c.change(lambda e: e.announce is not None)).announce is True
        with pytest.raises(SendError) as refused:
            await b.client.send_message(gid, text("may I?"))
        assert "403" in str(refused.value)
        await a1.client.send_message(gid, text("admins only"))
        await b.wait(lambda: "admins only" in b.texts(gid))
        promoted = await a1.client.update_group_participants(gid, [b.pn], ParticipantAction.PROMOTE)
        assert [p.ok for p in promoted] == [True]
        change = await c.change(lambda e: bool(e.promoted))
        assert change.promoted[0].is_user(b.pn)
        assert change.promoted[0].is_admin
        assert change.actor == a1.lid
        await b.wait(lambda: any(e.promoted for e in b.changes))
        await b.client.send_message(gid, text("now I may"))
        await c.wait(lambda: "now I may" in c.texts(gid))
        await a1.client.groups.demote(gid, [b.pn])
        assert (await c.change(lambda e: bool(e.demoted))).demoted[0].is_user(b.lid)
        with pytest.raises(NotGroupAdmin):
            await b.client.set_group_announce(gid, False)
        await a1.client.set_group_announce(gid, False)

        # Disappearing timer, join approval, member-add mode: read back from the info.
        await a1.client.set_group_ephemeral(gid, 86400)
        assert (await c.change(lambda e: e.ephemeral_timer is not None)).ephemeral_timer == 86400
        await a1.client.set_group_join_approval(gid, True)
        assert (await c.change(lambda e: e.join_approval is not None)).join_approval is True
        await a1.client.set_group_member_add_mode(gid, MemberAddMode.ADMIN)
        change = await c.change(lambda e: e.member_add_mode is not None)
        assert change.member_add_mode == MemberAddMode.ADMIN
        current = await c.client.get_group_info(gid)
        assert (
            current.ephemeral_timer,
            current.join_approval,
            current.member_add_mode,
            current.announce,
            current.locked,
        ) == (86400, True, MemberAddMode.ADMIN, False, True)
        assert [p.is_admin for p in current.participants] == [True, False, False]
        with pytest.raises(NotGroupAdmin):
            await c.client.groups.add(gid, [JID(D, "s.whatsapp.net")])
        await a1.client.set_group_ephemeral(gid, 0)
        assert (await c.change(lambda e: e.ephemeral_timer == 0)).ephemeral_timer == 0

        # Photo: the event names the new picture id; members can fetch it.
        photo = b"\xff\xd8\xff\xe0 not really a jpeg"
        picture_id = await a1.client.set_group_photo(gid, photo)
        assert picture_id
        change = await c.change(lambda e: e.picture_id is not None)
        assert (change.picture_id, change.actor) == (picture_id, a1.lid)
        where = await UsersClient(c.client, c.client.device.account).profile_picture(gid)
        assert where is not None
        assert where.id == picture_id
        async with aiohttp.ClientSession() as http, http.get(where.url) as response:
            assert await response.read() == photo
        assert await a1.client.set_group_photo(gid, None) == ""
        assert (await c.change(lambda e: e.picture_removed)).actor == a1.lid

        # Not found, not a member.
        with pytest.raises(GroupNotFound) as missing:
            await b.client.get_group_info(JID("120363000000000000", "g.us"))
        assert (missing.value.code, missing.value.text) == (404, "item-not-found")
        outsider = await pair(sandbox, D)
        try:
            with pytest.raises(NotInGroup) as forbidden:
                await outsider.client.get_group_info(gid)
            assert forbidden.value.code == 403
            assert await outsider.client.get_joined_groups() == []
        finally:
            await close(outsider)
        assert [g.jid for g in await b.client.get_joined_groups()] == [gid]
    finally:
        await close(a1, a2, b, c)


async def test_members_invites_and_join_requests(sandbox: Sandbox) -> None:
    a, b, c = await pair(sandbox, A), await pair(sandbox, B), await pair(sandbox, C)
    try:
        info = await a.client.create_group("members", [b.pn])
        gid = info.jid
        await b.wait(lambda: bool(b.joined))

        # Per-participant results: added, already a member (409), no such user (404).
        nobody = JID("19990000000", "s.whatsapp.net")
        results = await a.client.groups.add(gid, [c.pn, b.pn, nobody])
        assert [(r.ok, r.error) for r in results] == [(True, 0), (False, 409), (False, 404)]
        await c.wait(lambda: bool(c.joined))
        joined = c.joined[0]
        assert (joined.jid, joined.reason, joined.actor) == (gid, "add", a.lid)
        assert {p.phone_number for p in joined.group.participants} == {a.pn, b.pn, c.pn}
        added = await b.change(lambda e: bool(e.added))
        assert added.added[0].is_user(c.pn)
        assert added.actor == a.lid
        results = await a.client.groups.remove(gid, [nobody])
        assert [r.error for r in results] == [404]
        with pytest.raises(NotGroupAdmin):
            await b.client.groups.remove(gid, [c.pn])
        results = await a.client.groups.demote(gid, [a.pn])
        assert [r.error for r in results] == [406]  # the creator stays super admin

        # Invite links: admins only; info without joining; a reset revokes the old code.
        with pytest.raises(NotGroupAdmin):
            await b.client.get_group_invite_link(gid)
        link = await a.client.get_group_invite_link(gid)
        assert link.startswith(INVITE_LINK_PREFIX)
        assert await a.client.get_group_invite_link(gid) == link
        preview = await c.client.get_group_info_from_link(link)
        assert (preview.jid, preview.subject) == (gid, "members")
        new_link = await a.client.get_group_invite_link(gid, reset=True)
        assert new_link != link
        change = await b.change(lambda e: e.invite_code is not None)
        assert change.invite_link == new_link
        with pytest.raises(InviteLinkRevoked) as revoked:
            await c.client.get_group_info_from_link(link)
        assert revoked.value.code == 410
        with pytest.raises(InviteLinkInvalid) as invalid:
            await c.client.get_group_info_from_link(INVITE_LINK_PREFIX + "NoSuchCode123")
        assert invalid.value.code == 406

        # Leaving, then joining back by link.
        await c.client.leave_group(gid)
        left = await b.change(lambda e: bool(e.removed))
        assert left.left
        assert left.actor == c.lid
        with pytest.raises(NotInGroup):
            await c.client.get_group_info(gid)
        joined_result = await c.client.join_group_with_link(new_link)
        assert (joined_result.jid, joined_result.pending_approval) == (gid, False)
        rejoin = await b.change(lambda e: bool(e.added) and e.join_reason == "invite")
        assert rejoin.actor == c.lid
        assert rejoin.added[0].is_user(c.pn)
        with pytest.raises(GroupError) as again:
            await c.client.join_group_with_link(new_link)
        assert again.value.code == 409

        # Join approval: a join by link waits for an admin, who approves or rejects.
        await a.client.set_group_join_approval(gid, True)
        await c.client.leave_group(gid)
        pending = await c.client.join_group_with_link(new_link)
        assert pending.pending_approval
        request = await a.change(lambda e: bool(e.join_requests))
        assert request.join_requests[0].is_user(c.pn)
        assert request.actor == c.lid
        with pytest.raises(NotGroupAdmin):
            await b.client.get_group_join_requests(gid)
        requests = await a.client.get_group_join_requests(gid)
        assert [r.jid for r in requests] == [c.lid]
        assert requests[0].phone_number == c.pn
        results = await a.client.update_group_join_requests(
            gid, [c.pn, b.pn], RequestAction.APPROVE
        )
        assert [r.error for r in results] == [0, 404]
        await c.wait(lambda: any(j.reason == "approval" for j in c.joined))
        assert (await c.client.get_group_info(gid)).participant(c.pn) is not None
        await c.client.leave_group(gid)
        await c.client.join_group_with_link(new_link)
        await a.client.groups.update_join_requests(gid, [c.lid], RequestAction.REJECT)
        rejected = await c.change(lambda e: bool(e.join_requests_revoked))
        assert rejected.actor == a.lid
        assert await a.client.get_group_join_requests(gid) == []
        with pytest.raises(NotInGroup):
            await c.client.get_group_info(gid)

        # The last admin leaving hands the group to the oldest member.
        await a.client.leave_group(gid)
        heir = await b.change(lambda e: bool(e.promoted))
        assert heir.promoted[0].is_user(b.pn)
        assert (await b.client.get_group_info(gid)).participant(b.pn).is_admin  # type: ignore[union-attr]
    finally:
        await close(a, b, c)


async def test_communities(sandbox: Sandbox) -> None:
    a, b = await pair(sandbox, A), await pair(sandbox, B)
    try:
        community = await a.client.create_community("neighbours", [b.pn])
        assert community.is_community
        assert community.default_membership_approval_mode == "request_required"
        subgroups = await a.client.get_subgroups(community.jid)
        assert len(subgroups) == 1
        assert subgroups[0].is_default_subgroup
        announcements = await b.client.get_group_info(subgroups[0].jid)
        assert announcements.announce
        assert announcements.linked_parent == community.jid

        inside = await a.client.create_group("inside", [b.pn], linked_parent=community.jid)
        assert inside.linked_parent == community.jid
        other = await a.client.create_group("elsewhere", [b.pn])
        with pytest.raises(NotGroupAdmin):
            await b.client.link_group(community.jid, other.jid)
        await a.client.link_group(community.jid, other.jid)
        linked = await b.change(lambda e: e.linked is not None)
        assert (linked.group, linked.linked.jid, linked.actor) == (  # type: ignore[union-attr]
            community.jid,
            other.jid,
            a.lid,
        )
        assert {g.jid for g in await b.client.get_subgroups(community.jid)} == {
            subgroups[0].jid,
            inside.jid,
            other.jid,
        }
        assert (await b.client.get_group_info(other.jid)).linked_parent == community.jid
        with pytest.raises(GroupError) as bad:
            await a.client.link_group(other.jid, inside.jid)  # not a community
        assert bad.value.code == 400

        await a.client.unlink_group(community.jid, other.jid)
        unlinked = await b.change(lambda e: e.unlinked is not None)
        assert unlinked.unlinked.jid == other.jid  # type: ignore[union-attr]
        assert (await b.client.get_group_info(other.jid)).linked_parent is None
        with pytest.raises(GroupNotFound):
            await a.client.unlink_group(community.jid, other.jid)
    finally:
        await close(a, b)


async def test_offline_member_gets_changes_later(sandbox: Sandbox) -> None:
    a, b = await pair(sandbox, A), await pair(sandbox, B)
    try:
        info = await a.client.create_group("offline", [b.pn])
        await b.wait(lambda: bool(b.joined))
        await b.client.disconnect()
        await a.client.set_group_subject(info.jid, "while you were away")
        await a.client.send_message(info.jid, text("missed this"))
        await asyncio.sleep(0.1)
        await b.client.connect()
        await b.client.wait_until_connected(timeout=20)
        change = await b.change(lambda e: e.subject is not None)
        assert change.subject == "while you were away"
        await b.wait(lambda: b.texts(info.jid) == ["missed this"])
    finally:
        await close(a, b)


async def test_malformed_requests_are_refused_not_fatal(sandbox: Sandbox) -> None:
    a, b = await pair(sandbox, A), await pair(sandbox, B)
    try:
        info = await a.client.create_group("hostile", [b.pn])
        gid = info.jid

        async def refused(child: Node | None, *, to: JID = gid, kind: str = "set") -> int:
            iq = Node(
                "iq",
                {"xmlns": "w:g2", "type": kind, "to": to},
                [child] if child is not None else None,
            )
            with pytest.raises(IQError) as error:
                await a.client.request(iq)
            return error.value.code

        assert await refused(None) == 400
        assert await refused(Node("teleport")) == 501
        assert await refused(Node("create", {}, []), to=JID("", "g.us")) == 406
        assert await refused(Node("add", {}, [Node("participant", {"jid": "@@"})])) == 400
        assert await refused(Node("add", {}, [Node("participant")])) == 400
        assert await refused(Node("membership_approval_mode")) == 400
        assert await refused(Node("member_add_mode", {}, b"everyone")) == 400
        assert await refused(Node("subject", {}, [Node("x")])) == 400
        assert await refused(Node("query"), to=JID("nope", "s.whatsapp.net"), kind="get") == 400
        assert (
            await refused(Node("leave", {}, [Node("group", {"id": "x@y@z"})]), to=JID("", "g.us"))
            == 400
        )
        too_many = [
            Node("participant", {"jid": JID(str(10**10 + i), "s.whatsapp.net")})
            for i in range(1100)
        ]
        assert await refused(Node("add", {}, too_many)) == 406
        for target in ("x@y@g.us", gid):
            bad_photo = Node(
                "iq",
                {
                    "xmlns": "w:profile:picture",
                    "type": "set",
                    "to": JID("", "s.whatsapp.net"),
                    "target": target,
                },
                [Node("picture", {"type": "image"}, [Node("nested")])],
            )
            with pytest.raises(IQError) as photo_error:
                await a.client.request(bad_photo)
            assert photo_error.value.code == 400

        async def message_ack(content: list[Node]) -> Node:
            return await a.client.request(
                Node("message", {"id": f"M{len(content)}", "to": gid, "type": "text"}, content)
            )

        garbage = [Node("participants", {}, [Node("to", {"jid": "not@a@jid"})])]
        assert (await message_ack(garbage)).attrs.get("error") == "400"
        ghost = await message_ack(
            [
                Node(
                    "participants",
                    {},
                    [
                        Node(
                            "to",
                            {"jid": JID("19990000000", "s.whatsapp.net", device=1)},
                            [Node("enc", {"v": "2", "type": "pkmsg"}, b"x")],
                        )
                    ],
                ),
                Node("enc", {"v": "2", "type": "skmsg"}, b"junk"),
            ]
        )
        assert "error" not in ghost.attrs  # unknown devices are skipped, the rest delivered
        missing = await a.client.request(
            Node(
                "message",
                {"id": "M9", "to": JID("120363000000000000", "g.us"), "type": "text"},
                [Node("enc", {"type": "skmsg"})],
            )
        )
        assert missing.attrs.get("error") == "404"

        # Everything still works afterwards.
        await a.client.set_group_subject(gid, "still fine")
        assert (await b.change(lambda e: e.subject is not None)).subject == "still fine"
        await a.client.send_message(gid, text("after the noise"))
        await b.wait(lambda: "after the noise" in b.texts(gid))
    finally:
        await close(a, b)


async def test_invite_messages_when_adds_are_refused(sandbox: Sandbox) -> None:
    a, b, c = await pair(sandbox, A), await pair(sandbox, B), await pair(sandbox, C)
    try:
        info = await a.client.create_group("invite only", [b.pn])
        gid = info.jid
        users = UsersClient(c.client, c.client.device.account)
        await users.set_privacy(PrivacyCategory.GROUP_ADD, PrivacyValue.NONE)
        (refused,) = await a.client.groups.add(gid, [c.pn])
        assert refused.error == 403
        assert refused.add_request is not None
        assert refused.add_request.code
        assert (await a.client.get_group_info(gid)).participant(c.pn) is None

        # A sends the invite 1:1; C reads the group from it and joins with it.
        await a.client.send_message(c.pn, invite_message(info, refused, caption="join us"))
        await c.wait(lambda: any(m.message.HasField("group_invite_message") for m in c.messages))
        received = next(m for m in c.messages if m.message.HasField("group_invite_message"))
        invite = received.message.group_invite_message
        assert (invite.group_jid, invite.group_name, invite.caption) == (
            str(gid),
            "invite only",
            "join us",
        )
        preview = await c.client.groups.info_from_invite(invite, received.sender)
        assert preview.subject == "invite only"
        with pytest.raises(NotGroupAdmin):  # the code is C's, not B's
            await b.client.groups.info_from_invite(invite, received.sender)
        assert await c.client.groups.join_with_invite(invite, received.sender) == gid
        joined = await b.change(lambda e: bool(e.added))
        assert joined.added[0].is_user(c.pn)
        assert (joined.join_reason, joined.actor) == ("invite", c.lid)
        assert (await c.client.get_group_info(gid)).participant(c.pn) is not None
        with pytest.raises(NotGroupAdmin):  # used up
            await c.client.groups.join_with_invite(invite, received.sender)

        # Community-wide participants: the community's and its groups' members.
        community = await a.client.create_community("all of us", [b.pn])
        await a.client.link_group(community.jid, gid)
        members = await b.client.groups.community_participants(community.jid)
        assert {m.phone_number for m in members} == {a.pn, b.pn, c.pn}
    finally:
        await close(a, b, c)
