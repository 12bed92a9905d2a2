"""The group stanzas without I/O: request shapes, answer and notification parsing (shapes as
WhatsApp sends them, from whatsmeow/Baileys and captured logs), hostile input."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wamd.binary import Node, decode_node, encode_node
from wamd.errors import MalformedNode, WamdError
from wamd.groups import invite_message, stanzas
from wamd.groups.events import (
    GroupInfoChanged,
    JoinedGroup,
    parse_group_notification,
    parse_picture_notification,
)
from wamd.groups.types import (
    AddRequest,
    AddressingMode,
    GroupParticipant,
    MemberAddMode,
    ParticipantAction,
    RequestAction,
)
from wamd.types import JID

GID = JID("120363012345678901", "g.us")
PN1, PN2 = JID("34678622605", "s.whatsapp.net"), JID("34651878415", "s.whatsapp.net")
LID1 = JID("111856868340387", "lid")


def roundtrip(node: Node) -> Node:
    return decode_node(encode_node(node))


# --- requests -----------------------------------------------------------------------------------


def test_create_request_shape() -> None:
    iq = stanzas.create_request(
        "Plus pirata",
        [PN1, PN2.with_device(3)],
        key="KEY1",
        locked=True,
        join_approval=True,
        ephemeral_timer=604800,
        member_add_mode=MemberAddMode.ADMIN,
    )
    assert iq.attrs == {"xmlns": "w:g2", "type": "set", "to": JID("", "g.us")}
    create = iq.children[0]
    assert create.tag == "create"
    assert create.attrs == {"key": "KEY1", "subject": "Plus pirata"}
    tags = [c.tag for c in create.children]
    assert tags == [
        "participant",
        "participant",
        "member_add_mode",
        "locked",
        "ephemeral",
        "membership_approval_mode",
    ]
    assert create.children[1].attrs["jid"] == PN2  # devices are dropped
    assert create.children[2].content == b"admin_add"
    assert create.children[4].attrs == {"expiration": "604800", "trigger": "1"}
    assert create.children[5].children[0].attrs == {"state": "on"}
    assert roundtrip(iq).children[0].attrs["subject"] == "Plus pirata"

    community = stanzas.create_request("c", [], key="K", community=True)
    assert community.children[0].child("parent").attrs == {  # type: ignore[union-attr]
        "default_membership_approval_mode": "request_required"
    }
    inside = stanzas.create_request("s", [], key="K", linked_parent=GID)
    assert inside.children[0].child("linked_parent").attrs == {"jid": GID}  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="subject"):
        stanzas.create_request("x" * 101, [], key="K")


def test_request_shapes() -> None:
    assert stanzas.info_request(GID).children[0] == Node("query", {"request": "interactive"})
    assert stanzas.info_request(GID).attrs["type"] == "get"
    listing = stanzas.participating_request()
    assert [c.tag for c in listing.children[0].children] == ["participants", "description"]
    promote = stanzas.participants_request(GID, ParticipantAction.PROMOTE, [PN1, LID1])
    assert promote.children[0] == Node(
        "promote", {}, [Node("participant", {"jid": PN1}), Node("participant", {"jid": LID1})]
    )
    assert stanzas.leave_request([GID]).children[0] == Node(
        "leave", {}, [Node("group", {"id": GID})]
    )
    assert stanzas.subject_request(GID, "ü").children[0] == Node("subject", {}, "ü".encode())
    desc = stanzas.description_request(GID, "about", new_id="N", previous_id="P")
    assert desc.children[0] == Node(
        "description", {"id": "N", "prev": "P"}, [Node("body", {}, b"about")]
    )
    delete = stanzas.description_request(GID, "", new_id="N")
    assert delete.children[0] == Node("description", {"id": "N", "delete": "true"})
    assert stanzas.setting_request(GID, "announcement").children[0] == Node("announcement")
    assert stanzas.ephemeral_request(GID, 0).children[0] == Node("not_ephemeral")
    assert stanzas.ephemeral_request(GID, 90).children[0] == Node("ephemeral", {"expiration": "90"})
    assert stanzas.join_approval_request(GID, False).children[0].children[0].attrs == {
        "state": "off"
    }
    assert stanzas.member_add_mode_request(GID, MemberAddMode.ALL_MEMBERS).children[0] == Node(
        "member_add_mode", {}, b"all_member_add"
    )
    assert stanzas.invite_code_request(GID).attrs["type"] == "get"
    assert stanzas.invite_code_request(GID, reset=True).attrs["type"] == "set"
    assert stanzas.join_request("https://chat.whatsapp.com/AbC123").children[0].attrs == {
        "code": "AbC123"
    }
    assert stanzas.invite_info_request("AbC123").attrs["type"] == "get"
    action = stanzas.join_requests_action_request(GID, RequestAction.REJECT, [LID1])
    assert action.children[0] == Node(
        "membership_requests_action", {}, [Node("reject", {}, [Node("participant", {"jid": LID1})])]
    )
    link = stanzas.link_request(GID, JID("120363999", "g.us"))
    assert link.children[0].children[0].attrs == {"link_type": "sub_group"}
    unlink = stanzas.unlink_request(GID, JID("120363999", "g.us"))
    assert unlink.children[0].attrs == {"unlink_type": "sub_group"}
    photo = stanzas.photo_request(GID, b"jpeg")
    assert photo.attrs == {
        "xmlns": "w:profile:picture",
        "type": "set",
        "to": JID("", "s.whatsapp.net"),
        "target": GID,
    }
    assert photo.children[0] == Node("picture", {"type": "image"}, b"jpeg")
    assert stanzas.photo_request(GID, None).content is None
    for bad in (
        lambda: stanzas.info_request(PN1),
        lambda: stanzas.participants_request(GID, ParticipantAction.ADD, []),
        lambda: stanzas.setting_request(GID, "frozen"),
        lambda: stanzas.invite_code("https://chat.whatsapp.com/"),
        lambda: stanzas.subject_request(GID, ""),
    ):
        with pytest.raises(ValueError):  # noqa: PT011 - several messages
            bad()


# --- answers ------------------------------------------------------------------------------------


def pn_group() -> Node:
    """A phone-number addressed group as WhatsApp sent it (yowsup issue #1126 log)."""
    return Node(
        "group",
        {
            "s_t": "1439305804",
            "creator": PN1,
            "creation": "1439305804",
            "id": "34678622605-1439305804",
            "s_o": PN1,
            "subject": "Plus pirata",
        },
        [
            Node("participant", {"jid": PN2}),
            Node("participant", {"jid": PN1, "type": "admin"}),
        ],
    )


def test_parse_phone_number_group() -> None:
    info = stanzas.parse_group(pn_group())
    assert info.jid == JID("34678622605-1439305804", "g.us")
    assert (info.subject, info.owner, info.subject_owner) == ("Plus pirata", PN1, PN1)
    assert info.created == datetime(2015, 8, 11, 15, 10, 4, tzinfo=UTC)
    assert info.addressing_mode == AddressingMode.PN
    assert not info.is_lid_addressed
    assert [p.is_admin for p in info.participants] == [False, True]
    assert info.participants[1].phone_number == PN1
    assert info.participants[1].lid is None
    assert info.size == 2
    assert info.participant(PN1.with_device(7)) is info.participants[1]
    assert info.admins == (info.participants[1],)


def test_parse_lid_group_with_settings() -> None:
    node = Node(
        "group",
        {
            "id": "120363012345678901",
            "subject": "s",
            "s_t": "1700000000",
            "s_o": LID1,
            "s_o_pn": PN1,
            "creator": LID1,
            "creator_pn": PN1,
            "creation": "1700000000",
            "addressing_mode": "lid",
            "size": "7",
            "p_v_id": "42",
        },
        [
            Node("participant", {"jid": LID1, "phone_number": PN1, "type": "superadmin"}),
            Node(
                "description",
                {"id": "D1", "t": "1700000001", "participant": LID1},
                [Node("body", {}, "Grüße".encode())],
            ),
            Node("announcement"),
            Node("locked"),
            Node("ephemeral", {"expiration": "86400"}),
            Node("member_add_mode", {}, "admin_add"),
            Node("membership_approval_mode", {}, [Node("group_join", {"state": "on"})]),
            Node("linked_parent", {"jid": JID("120363000000000001", "g.us")}),
            Node("incognito"),
            Node("unknown_future_thing"),
        ],
    )
    info = stanzas.parse_group(roundtrip(node))
    assert info.jid == GID
    assert info.is_lid_addressed
    assert (info.owner, info.owner_pn, info.subject_owner_pn) == (LID1, PN1, PN1)
    member = info.participants[0]
    assert (member.jid, member.lid, member.phone_number) == (LID1, LID1, PN1)
    assert member.is_admin
    assert member.is_super_admin
    assert (info.description, info.description_id, info.description_owner) == ("Grüße", "D1", LID1)
    assert (info.announce, info.locked, info.ephemeral_timer, info.join_approval) == (
        True,
        True,
        86400,
        True,
    )
    assert info.member_add_mode == MemberAddMode.ADMIN
    assert info.linked_parent == JID("120363000000000001", "g.us")
    assert info.is_incognito
    assert info.size == 7
    assert info.participant_version_id == "42"


def test_parse_results() -> None:
    answer = Node(
        "iq",
        {"type": "result"},
        [
            Node(
                "add",
                {},
                [
                    Node("participant", {"jid": PN1}),
                    Node(
                        "participant",
                        {"jid": PN2, "error": "403"},
                        [
                            Node(
                                "add_request",
                                {"code": "cV0oyyBsD49e6Plw", "expiration": "1759028118"},
                            )
                        ],
                    ),
                ],
            )
        ],
    )
    ok, refused = stanzas.parse_participant_results(answer, "add")
    assert ok.ok
    assert not refused.ok
    assert refused.error == 403
    assert refused.add_request is not None
    assert refused.add_request.code == "cV0oyyBsD49e6Plw"
    assert refused.add_request.expiration == datetime.fromtimestamp(1759028118, UTC)
    wrapped = Node(
        "iq",
        {},
        [
            Node(
                "membership_requests_action",
                {},
                [Node("approve", {}, [Node("participant", {"jid": LID1, "error": "404"})])],
            )
        ],
    )
    assert stanzas.parse_participant_results(wrapped, "approve")[0].error == 404
    with pytest.raises(MalformedNode):
        stanzas.parse_participant_results(Node("iq"), "remove")
    assert stanzas.parse_invite_code(Node("iq", {}, [Node("invite", {"code": "C"})])) == "C"
    pending = stanzas.parse_join(
        Node("iq", {}, [Node("membership_approval_request", {"jid": GID})])
    )
    assert pending.pending_approval
    assert pending.jid == GID
    assert stanzas.parse_join(Node("iq", {}, [Node("group", {"jid": GID})])).jid == GID
    requests = stanzas.parse_join_requests(
        Node(
            "iq",
            {},
            [
                Node(
                    "membership_approval_requests",
                    {},
                    [
                        Node(
                            "membership_approval_request",
                            {"jid": LID1, "request_time": "1700000000", "phone_number": PN1},
                        )
                    ],
                )
            ],
        )
    )
    assert (requests[0].jid, requests[0].phone_number) == (LID1, PN1)
    subs = stanzas.parse_subgroups(
        Node(
            "iq",
            {},
            [
                Node(
                    "sub_groups",
                    {},
                    [
                        Node(
                            "group",
                            {"id": "120363000000000002", "subject": "ann", "s_t": "5"},
                            [Node("default_sub_group")],
                        )
                    ],
                )
            ],
        )
    )
    assert subs[0].jid == JID("120363000000000002", "g.us")
    assert subs[0].is_default_subgroup
    groups = stanzas.parse_groups(Node("iq", {}, [Node("groups", {}, [pn_group()])]))
    assert groups[0].subject == "Plus pirata"
    assert stanzas.parse_picture_id(Node("iq", {}, [Node("picture", {"id": "77"})])) == "77"


# --- notifications ------------------------------------------------------------------------------


def notification(*children: Node, **attrs: str | JID) -> Node:
    base: dict[str, str | JID] = {
        "from": GID,
        "type": "w:gp2",
        "id": "1723090759",
        "participant": PN1,
        "t": "1454953696",
        "notify": "Krishan",
    }
    base.update(attrs)
    return Node("notification", base, list(children))


def test_create_notification() -> None:
    event = parse_group_notification(
        roundtrip(notification(Node("create", {"type": "new", "key": "K"}, [pn_group()])))
    )
    assert isinstance(event, JoinedGroup)
    assert (event.type, event.create_key, event.actor, event.notify) == ("new", "K", PN1, "Krishan")
    assert event.group.subject == "Plus pirata"
    assert event.jid == event.group.jid
    assert event.timestamp == datetime.fromtimestamp(1454953696, UTC)


def test_change_notifications() -> None:
    member = Node("participant", {"jid": LID1, "phone_number": PN2})
    cases: list[tuple[Node, dict[str, object]]] = [
        (Node("add", {"reason": "invite"}, [member]), {"join_reason": "invite"}),
        (Node("remove", {}, [member]), {}),
        (Node("promote", {}, [member]), {}),
        (Node("subject", {"subject": "new", "s_t": "1", "s_o": PN1}), {"subject": "new"}),
        (
            Node("description", {"id": "D"}, [Node("body", {}, b"text")]),
            {"description": "text", "description_id": "D"},
        ),
        (Node("description", {"id": "D2"}, [Node("delete")]), {"description": ""}),
        (Node("announcement", {"v_id": "1"}), {"announce": True}),
        (Node("not_announcement", {"v_id": "2"}), {"announce": False}),
        (Node("locked"), {"locked": True}),
        (Node("unlocked"), {"locked": False}),
        (Node("ephemeral", {"expiration": "7"}), {"ephemeral_timer": 7}),
        (Node("not_ephemeral"), {"ephemeral_timer": 0}),
        (
            Node("membership_approval_mode", {}, [Node("group_join", {"state": "off"})]),
            {"join_approval": False},
        ),
        (
            Node("member_add_mode", {}, b"all_member_add"),
            {"member_add_mode": MemberAddMode.ALL_MEMBERS},
        ),
        (Node("invite", {"code": "XYZ"}), {"invite_code": "XYZ"}),
        (Node("delete", {"reason": "admin"}), {"deleted": True, "delete_reason": "admin"}),
        (Node("created_membership_requests", {}, [member]), {}),
        (Node("something_new"), {"unknown": ("something_new",)}),
    ]
    for child, expected in cases:
        event = parse_group_notification(roundtrip(notification(child)))
        assert isinstance(event, GroupInfoChanged), child
        assert (event.group, event.actor) == (GID, PN1)
        for name, value in expected.items():
            assert getattr(event, name) == value, (child.tag, name)
    removed = parse_group_notification(
        notification(Node("remove", {}, [Node("participant", {"jid": PN1})]))
    )
    assert isinstance(removed, GroupInfoChanged)
    assert removed.left
    assert removed.changes == ("removed",)
    assert removed.affects(PN1)
    link = parse_group_notification(
        notification(
            Node(
                "link",
                {"link_type": "sub_group"},
                [Node("group", {"jid": JID("120363999", "g.us"), "subject": "sub"})],
            )
        )
    )
    assert isinstance(link, GroupInfoChanged)
    assert link.linked is not None
    assert link.linked.subject == "sub"
    invite = parse_group_notification(notification(Node("invite", {"code": "XYZ"})))
    assert isinstance(invite, GroupInfoChanged)
    assert invite.invite_link == "https://chat.whatsapp.com/XYZ"


def test_picture_notifications() -> None:
    set_node = Node(
        "notification",
        {"from": GID, "type": "picture", "id": "1", "t": "2"},
        [Node("set", {"jid": GID, "id": "99", "author": PN1})],
    )
    event = parse_picture_notification(set_node)
    assert event is not None
    assert (event.picture_id, event.actor) == ("99", PN1)
    removed = parse_picture_notification(
        Node(
            "notification",
            {"from": GID, "type": "picture"},
            [Node("delete", {"jid": GID, "author": PN1})],
        )
    )
    assert removed is not None
    assert removed.picture_removed
    user = Node("notification", {"from": PN1, "type": "picture"}, [Node("set", {"jid": PN1})])
    assert parse_picture_notification(user) is None


@pytest.mark.parametrize(
    "bad",
    [
        Node("notification", {"type": "w:gp2"}),
        Node("notification", {"type": "w:gp2", "from": PN1}),
        Node("notification", {"type": "devices", "from": GID}),
        Node("notification", {"type": "w:gp2", "from": GID}, [Node("create")]),
        Node("notification", {"type": "w:gp2", "from": GID}, [Node("create", {}, [Node("group")])]),
        Node("notification", {"type": "w:gp2", "from": GID}, [Node("invite")]),
        Node("notification", {"type": "w:gp2", "from": GID, "t": "soon"}, []),
        Node(
            "notification",
            {"type": "w:gp2", "from": GID},
            [Node("add", {}, [Node("participant", {"jid": "not a jid"})])],
        ),
        Node("notification", {"type": "w:gp2", "from": GID}, [Node("link")]),
    ],
)
def test_malformed_notifications(bad: Node) -> None:
    with pytest.raises(MalformedNode):
        parse_group_notification(bad)


# --- hostile input ------------------------------------------------------------------------------

_TAGS = st.sampled_from(
    [
        "group",
        "participant",
        "description",
        "body",
        "add",
        "remove",
        "create",
        "subject",
        "ephemeral",
        "invite",
        "link",
        "unlink",
        "membership_approval_mode",
        "group_join",
        "member_add_mode",
        "add_request",
        "linked_parent",
        "groups",
        "sub_groups",
        "x",
    ]
)
_KEYS = st.sampled_from(
    [
        "id",
        "jid",
        "type",
        "subject",
        "s_t",
        "creation",
        "creator",
        "t",
        "expiration",
        "error",
        "code",
        "phone_number",
        "lid",
        "size",
        "addressing_mode",
        "state",
        "from",
        "participant",
        "request_time",
    ]
)
_VALUES = st.one_of(
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "99999999999999999999999",
            "lid",
            "admin",
            "superadmin",
            "120363@g.us",
            "1@s.whatsapp.net",
            "@",
            "a@b@c",
            "1:99999@lid",
            "w:gp2",
            "on",
            "off",
        ]
    ),
    st.text(max_size=12),
    st.sampled_from([GID, PN1, LID1, JID("", "g.us")]),
)
_NODES = st.recursive(
    st.builds(
        Node,
        _TAGS,
        st.dictionaries(_KEYS, _VALUES, max_size=5),
        st.one_of(st.none(), st.binary(max_size=8), st.text(max_size=8)),
    ),
    lambda children: st.builds(
        Node, _TAGS, st.dictionaries(_KEYS, _VALUES, max_size=5), st.lists(children, max_size=4)
    ),
    max_leaves=12,
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(_NODES)
def test_hostile_answers_raise_typed_errors(node: Node) -> None:
    answer = Node("iq", {"type": "result"}, [node])
    for parse in (
        stanzas.parse_group_answer,
        stanzas.parse_groups,
        stanzas.parse_invite_code,
        stanzas.parse_join,
        stanzas.parse_join_requests,
        stanzas.parse_subgroups,
        stanzas.parse_picture_id,
        lambda a: stanzas.parse_participant_results(a, "add"),
    ):
        with contextlib.suppress(WamdError):
            parse(answer)
    note = Node("notification", {"type": "w:gp2", "from": GID}, [node])
    with contextlib.suppress(MalformedNode):
        parse_group_notification(note)
    with contextlib.suppress(MalformedNode):
        parse_picture_notification(Node("notification", {"type": "picture", "from": GID}, [node]))


def test_invite_message_requests_and_builder() -> None:
    query = stanzas.invite_message_info_request(GID, PN1.with_device(2), "CODE", 1700000000)
    assert query.attrs["type"] == "get"
    assert query.children[0] == Node(
        "query",
        {},
        [Node("add_request", {"code": "CODE", "expiration": "1700000000", "admin": PN1})],
    )
    accept = stanzas.accept_invite_message_request(GID, PN1, "CODE", 5)
    assert accept.attrs["type"] == "set"
    assert accept.children[0] == Node("accept", {"code": "CODE", "expiration": "5", "admin": PN1})
    assert stanzas.community_participants_request(GID).children[0].tag == (
        "linked_groups_participants"
    )
    listed = stanzas.parse_community_participants(
        Node(
            "iq",
            {},
            [
                Node(
                    "linked_groups_participants",
                    {},
                    [Node("participant", {"jid": LID1, "phone_number": PN1})],
                )
            ],
        )
    )
    assert (listed[0].lid, listed[0].phone_number) == (LID1, PN1)

    refused = GroupParticipant(
        PN2, error=403, add_request=AddRequest("CODE", datetime.fromtimestamp(1700000000, UTC))
    )
    message = invite_message(GID, refused, subject="Plus pirata", caption="come")
    invite = message.group_invite_message
    assert (
        invite.group_jid,
        invite.invite_code,
        invite.invite_expiration,
        invite.group_name,
        invite.caption,
    ) == (str(GID), "CODE", 1700000000, "Plus pirata", "come")
    with pytest.raises(ValueError, match="no add request"):
        invite_message(GID, GroupParticipant(PN2))
