"""The group IQs (``xmlns="w:g2"``, and ``w:profile:picture`` for the photo), built and read
without I/O.

Builders return an ``<iq>`` without an id (the client adds one); readers take the server's
``type="result"`` answer and raise :class:`~wamd.errors.MalformedNode` when it lacks what it
must hold — never an ``IndexError`` or a bare ``KeyError``. Shapes follow WhatsApp Web as
whatsmeow (``group.go``) and Baileys (``Socket/groups.js``) speak it; docs/groups.md lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from wamd.binary import AttrValue, Node
from wamd.errors import AttributeInvalid, AttributeMissing, InvalidJID, MalformedNode
from wamd.groups.types import (
    INVITE_LINK_PREFIX,
    AddRequest,
    AddressingMode,
    GroupInfo,
    GroupParticipant,
    JoinRequest,
    MemberAddMode,
    ParticipantAction,
    RequestAction,
    SubGroup,
)
from wamd.types import GROUP_SERVER, GROUP_SERVER_JID, JID, LID_SERVER, SERVER_JID, USER_SERVER

__all__ = [
    "MAX_SUBJECT",
    "XMLNS",
    "JoinResult",
    "accept_invite_message_request",
    "community_participants_request",
    "create_request",
    "description_request",
    "ephemeral_request",
    "info_request",
    "invite_code",
    "invite_code_request",
    "invite_info_request",
    "invite_message_info_request",
    "join_approval_request",
    "join_request",
    "join_requests_action_request",
    "join_requests_request",
    "leave_request",
    "link_request",
    "member_add_mode_request",
    "parse_community_participants",
    "parse_group",
    "parse_group_answer",
    "parse_groups",
    "parse_invite_code",
    "parse_join",
    "parse_join_requests",
    "parse_participant",
    "parse_participant_results",
    "parse_picture_id",
    "parse_subgroup",
    "parse_subgroups",
    "participants_request",
    "participating_request",
    "photo_request",
    "setting_request",
    "subgroups_request",
    "subject_request",
    "unlink_request",
]

XMLNS = "w:g2"
MAX_SUBJECT = 100
"""Longest subject (characters) the builders accept (WhatsApp's limit is lower; the server
answers 406 when it is exceeded)."""

T = TypeVar("T")


def _iq(kind: str, to: JID, child: Node, *, xmlns: str = XMLNS) -> Node:
    return Node("iq", {"xmlns": xmlns, "type": kind, "to": to}, [child])


def _group_jid(jid: JID) -> JID:
    if jid.server != GROUP_SERVER or not jid.user:
        raise ValueError(f"{jid} is not a group JID")
    return jid


def _participants(jids: Iterable[JID]) -> list[Node]:
    nodes = [Node("participant", {"jid": jid.to_non_ad()}) for jid in jids]
    if not nodes:
        raise ValueError("no participants given")
    return nodes


def invite_code(link_or_code: str) -> str:
    """The invite code of an invite link (``https://chat.whatsapp.com/CODE``) or of a code."""
    text = link_or_code.strip()
    if text.startswith(INVITE_LINK_PREFIX):
        text = text[len(INVITE_LINK_PREFIX) :]
    if not text or "/" in text or any(c.isspace() for c in text):
        raise ValueError(f"not an invite code or link: {link_or_code!r}")
    return text


# --- requests --------------------------------------------------------------------------------


def create_request(
    subject: str,
    participants: Iterable[JID],
    *,
    key: str,
    announce: bool = False,
    locked: bool = False,
    join_approval: bool = False,
    member_add_mode: MemberAddMode = MemberAddMode.ALL_MEMBERS,
    ephemeral_timer: int = 0,
    community: bool = False,
    default_membership_approval_mode: str = "request_required",
    linked_parent: JID | None = None,
) -> Node:
    """Create a group (or, with ``community=True``, a community; with ``linked_parent``, a
    group inside that community). ``key`` is an id the creator's ``JoinedGroup`` event echoes.
    """
    if len(subject) > MAX_SUBJECT:
        raise ValueError(f"subject longer than {MAX_SUBJECT} characters")
    children = [Node("participant", {"jid": j.to_non_ad()}) for j in participants]
    children.append(Node("member_add_mode", {}, member_add_mode.value.encode()))
    if community:
        children.append(
            Node("parent", {"default_membership_approval_mode": default_membership_approval_mode})
        )
    elif linked_parent is not None:
        children.append(Node("linked_parent", {"jid": _group_jid(linked_parent)}))
    if locked:
        children.append(Node("locked"))
    if announce:
        children.append(Node("announcement"))
    if ephemeral_timer:
        children.append(Node("ephemeral", {"expiration": str(ephemeral_timer), "trigger": "1"}))
    children.append(
        Node(
            "membership_approval_mode",
            {},
            [Node("group_join", {"state": "on" if join_approval else "off"})],
        )
    )
    attrs: dict[str, AttrValue] = {"key": key}
    if subject:
        attrs["subject"] = subject
    return _iq("set", GROUP_SERVER_JID, Node("create", attrs, children))


def info_request(group: JID) -> Node:
    """Ask for a group's info (``<query request="interactive"/>``)."""
    return _iq("get", _group_jid(group), Node("query", {"request": "interactive"}))


def participating_request() -> Node:
    """List the groups this account is in, with participants and descriptions."""
    return _iq(
        "get",
        GROUP_SERVER_JID,
        Node("participating", {}, [Node("participants"), Node("description")]),
    )


def participants_request(group: JID, action: ParticipantAction, jids: Iterable[JID]) -> Node:
    """Add, remove, promote or demote members."""
    return _iq(
        "set", _group_jid(group), Node(ParticipantAction(action).value, {}, _participants(jids))
    )


def leave_request(groups: Iterable[JID]) -> Node:
    """Leave one or more groups."""
    nodes = [Node("group", {"id": _group_jid(g)}) for g in groups]
    if not nodes:
        raise ValueError("no groups given")
    return _iq("set", GROUP_SERVER_JID, Node("leave", {}, nodes))


def subject_request(group: JID, subject: str) -> Node:
    """Change the subject (name)."""
    if not subject or len(subject) > MAX_SUBJECT:
        raise ValueError(f"a subject has 1 to {MAX_SUBJECT} characters")
    return _iq("set", _group_jid(group), Node("subject", {}, subject.encode()))


def description_request(
    group: JID, description: str, *, new_id: str, previous_id: str = ""
) -> Node:
    """Change the description (an empty one deletes it). ``previous_id`` is the current
    description's id (:attr:`GroupInfo.description_id`), ``new_id`` a fresh id."""
    attrs: dict[str, AttrValue] = {"id": new_id}
    if previous_id:
        attrs["prev"] = previous_id
    if not description:
        attrs["delete"] = "true"
        return _iq("set", _group_jid(group), Node("description", attrs))
    return _iq(
        "set",
        _group_jid(group),
        Node("description", attrs, [Node("body", {}, description.encode())]),
    )


_SETTINGS = frozenset({"locked", "unlocked", "announcement", "not_announcement"})


def setting_request(group: JID, setting: str) -> Node:
    """``locked``/``unlocked`` (who edits the info), ``announcement``/``not_announcement``
    (who sends)."""
    if setting not in _SETTINGS:
        raise ValueError(f"unknown group setting {setting!r}")
    return _iq("set", _group_jid(group), Node(setting))


def ephemeral_request(group: JID, seconds: int) -> Node:
    """Set the disappearing-messages timer (0 turns it off)."""
    if seconds < 0:
        raise ValueError("a timer cannot be negative")
    child = Node("ephemeral", {"expiration": str(seconds)}) if seconds else Node("not_ephemeral")
    return _iq("set", _group_jid(group), child)


def join_approval_request(group: JID, enabled: bool) -> Node:
    """Turn join approval (admins approve joins by link) on or off."""
    return _iq(
        "set",
        _group_jid(group),
        Node(
            "membership_approval_mode",
            {},
            [Node("group_join", {"state": "on" if enabled else "off"})],
        ),
    )


def member_add_mode_request(group: JID, mode: MemberAddMode) -> Node:
    """Set who may add members."""
    return _iq(
        "set", _group_jid(group), Node("member_add_mode", {}, MemberAddMode(mode).value.encode())
    )


def invite_code_request(group: JID, *, reset: bool = False) -> Node:
    """Get the invite code, or (``reset=True``) revoke it and get a new one."""
    return _iq("set" if reset else "get", _group_jid(group), Node("invite"))


def invite_info_request(code: str) -> Node:
    """Ask what group an invite code (or link) leads to, without joining."""
    return _iq("get", GROUP_SERVER_JID, Node("invite", {"code": invite_code(code)}))


def join_request(code: str) -> Node:
    """Join a group by invite code (or link)."""
    return _iq("set", GROUP_SERVER_JID, Node("invite", {"code": invite_code(code)}))


def _invite_attrs(code: str, expiration: int, inviter: JID) -> dict[str, AttrValue]:
    return {"code": code, "expiration": str(expiration), "admin": inviter.to_non_ad()}


def invite_message_info_request(group: JID, inviter: JID, code: str, expiration: int) -> Node:
    """Ask about the group an invite *message* (``GroupInviteMessage``) leads to."""
    return _iq(
        "get",
        _group_jid(group),
        Node("query", {}, [Node("add_request", _invite_attrs(code, expiration, inviter))]),
    )


def accept_invite_message_request(group: JID, inviter: JID, code: str, expiration: int) -> Node:
    """Join the group of an invite message."""
    return _iq("set", _group_jid(group), Node("accept", _invite_attrs(code, expiration, inviter)))


def community_participants_request(community: JID) -> Node:
    """List the members of every group of a community."""
    return _iq("get", _group_jid(community), Node("linked_groups_participants"))


def parse_community_participants(answer: Node) -> list[GroupParticipant]:
    """The answer to :func:`community_participants_request`."""
    node = answer.require_child("linked_groups_participants")
    return [parse_participant(child) for child in node.children_by_tag("participant")]


def join_requests_request(group: JID) -> Node:
    """List the pending join requests."""
    return _iq("get", _group_jid(group), Node("membership_approval_requests"))


def join_requests_action_request(group: JID, action: RequestAction, jids: Iterable[JID]) -> Node:
    """Approve or reject pending join requests."""
    return _iq(
        "set",
        _group_jid(group),
        Node(
            "membership_requests_action",
            {},
            [Node(RequestAction(action).value, {}, _participants(jids))],
        ),
    )


def link_request(parent: JID, child: JID) -> Node:
    """Link an existing group into a community."""
    return _iq(
        "set",
        _group_jid(parent),
        Node(
            "links",
            {},
            [Node("link", {"link_type": "sub_group"}, [Node("group", {"jid": _group_jid(child)})])],
        ),
    )


def unlink_request(parent: JID, child: JID) -> Node:
    """Unlink a group from a community."""
    return _iq(
        "set",
        _group_jid(parent),
        Node("unlink", {"unlink_type": "sub_group"}, [Node("group", {"jid": _group_jid(child)})]),
    )


def subgroups_request(parent: JID) -> Node:
    """List the groups linked to a community."""
    return _iq("get", _group_jid(parent), Node("sub_groups"))


def photo_request(group: JID, jpeg: bytes | None) -> Node:
    """Set the group photo (a JPEG), or remove it with ``None``."""
    content = None if jpeg is None else [Node("picture", {"type": "image"}, jpeg)]
    return Node(
        "iq",
        {
            "xmlns": "w:profile:picture",
            "type": "set",
            "to": SERVER_JID,
            "target": _group_jid(group),
        },
        content,
    )


# --- answers ---------------------------------------------------------------------------------


def _guard(what: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except MalformedNode:
        raise
    except (AttributeMissing, AttributeInvalid, InvalidJID, ValueError) as exc:
        raise MalformedNode(f"bad {what}: {exc}") from exc


def _time(node: Node, name: str) -> datetime | None:
    seconds = node.attr_int(name, 0)
    if seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise AttributeInvalid(f"<{node.tag}> attribute {name!r} is not a valid time") from None


def _opt_jid(node: Node, name: str) -> JID | None:
    value = node.attr_jid(name, None)
    return value if value is not None and (value.user or value.server) else None


def _text(node: Node) -> str:
    content = node.content
    if content is None:
        return ""
    if isinstance(content, bytes):
        return content.decode("utf-8", errors="replace")
    if isinstance(content, str):
        return content
    raise MalformedNode(f"<{node.tag}> has no text content")


def _group_id(node: Node, name: str = "id") -> JID:
    raw = node.attr_str(name)
    jid = JID.parse(raw) if "@" in raw else JID(raw, GROUP_SERVER)
    if jid.server != GROUP_SERVER or not jid.user:
        raise MalformedNode(f"<{node.tag}> {name}={raw!r} is not a group")
    return jid


def parse_participant(node: Node) -> GroupParticipant:
    """A ``<participant jid [type] [phone_number|lid] [error]>`` element."""
    return _guard("participant", lambda: _participant(node))


def _participant(node: Node) -> GroupParticipant:
    jid = node.attr_jid("jid")
    kind = node.attr_str("type", "")
    phone: JID | None = None
    lid: JID | None = None
    if jid.server == LID_SERVER:
        lid = jid
        phone = _opt_jid(node, "phone_number")
    elif jid.server == USER_SERVER:
        phone = jid
        lid = _opt_jid(node, "lid")
    error = node.attr_int("error", 0)
    add_request = None
    if error:
        request = node.child("add_request")
        if request is not None:
            add_request = AddRequest(request.attr_str("code"), _time(request, "expiration"))
    return GroupParticipant(
        jid=jid,
        phone_number=phone,
        lid=lid,
        is_admin=kind in ("admin", "superadmin"),
        is_super_admin=kind == "superadmin",
        display_name=node.attr_str("display_name", ""),
        error=error,
        add_request=add_request,
    )


def parse_group(node: Node) -> GroupInfo:
    """A ``<group>`` element (info, create answer, list entry, notification)."""
    return _guard("group", lambda: _group(node))


def _group(node: Node) -> GroupInfo:
    if node.tag != "group":
        raise MalformedNode(f"<{node.tag}> is not a group")
    values: dict[str, object] = {
        "jid": _group_id(node),
        "subject": node.attr_str("subject", ""),
        "subject_owner": _opt_jid(node, "s_o"),
        "subject_owner_pn": _opt_jid(node, "s_o_pn"),
        "subject_time": _time(node, "s_t"),
        "owner": _opt_jid(node, "creator"),
        "owner_pn": _opt_jid(node, "creator_pn"),
        "created": _time(node, "creation"),
        "participant_version_id": node.attr_str("p_v_id", ""),
        "creator_country_code": node.attr_str("creator_country_code", ""),
        "addressing_mode": _addressing(node.attr_str("addressing_mode", "pn")),
    }
    participants: list[GroupParticipant] = []
    for child in node.children:
        tag = child.tag
        if tag == "participant":
            participants.append(_participant(child))
        elif tag == "description":
            body = child.child("body")
            if body is not None:
                values["description"] = _text(body)
                values["description_id"] = child.attr_str("id", "")
                values["description_owner"] = _opt_jid(child, "participant")
                values["description_time"] = _time(child, "t")
        elif tag == "announcement":
            values["announce"] = True
        elif tag == "locked":
            values["locked"] = True
        elif tag == "ephemeral":
            values["ephemeral_timer"] = child.attr_int("expiration", 0)
        elif tag == "member_add_mode":
            values["member_add_mode"] = _member_add_mode(_text(child))
        elif tag == "membership_approval_mode":
            join = child.child("group_join")
            values["join_approval"] = join is None or join.attr_str("state", "on") == "on"
        elif tag == "linked_parent":
            values["linked_parent"] = _group_id(child, "jid")
        elif tag == "default_sub_group":
            values["is_default_subgroup"] = True
        elif tag == "parent":
            values["is_community"] = True
            values["default_membership_approval_mode"] = child.attr_str(
                "default_membership_approval_mode", ""
            )
        elif tag == "incognito":
            values["is_incognito"] = True
        elif tag == "suspended":
            values["suspended"] = True
    values["participants"] = tuple(participants)
    values["size"] = node.attr_int("size", len(participants))
    return GroupInfo(**values)  # type: ignore[arg-type]


def _addressing(value: str) -> AddressingMode | str:
    try:
        return AddressingMode(value)
    except ValueError:
        return value


def _member_add_mode(value: str) -> MemberAddMode | str:
    try:
        return MemberAddMode(value)
    except ValueError:
        return value


def parse_group_answer(answer: Node) -> GroupInfo:
    """The ``<group>`` of an answer (create, info, invite info)."""
    return parse_group(answer.require_child("group"))


def parse_groups(answer: Node) -> list[GroupInfo]:
    """The answer to :func:`participating_request`."""
    groups = answer.require_child("groups")
    return [parse_group(child) for child in groups.children_by_tag("group")]


def parse_participant_results(answer: Node, action: str) -> list[GroupParticipant]:
    """Per-participant results of a participants or join-requests action."""
    node = answer.child(action)
    if node is None:
        wrapper = answer.child("membership_requests_action")
        node = wrapper.child(action) if wrapper is not None else None
    if node is None:
        raise MalformedNode(f"answer has no <{action}> results")
    return [parse_participant(child) for child in node.children_by_tag("participant")]


def parse_invite_code(answer: Node) -> str:
    """The code of an ``<invite code>`` answer."""
    return _guard("invite", lambda: answer.require_child("invite").attr_str("code"))


@dataclass(frozen=True, slots=True)
class JoinResult:
    """The outcome of joining by link: the group, and whether an admin must approve first."""

    jid: JID
    pending_approval: bool = False


def parse_join(answer: Node) -> JoinResult:
    """The answer to :func:`join_request`."""

    def read() -> JoinResult:
        pending = answer.child("membership_approval_request")
        if pending is not None:
            return JoinResult(_group_id(pending, "jid"), True)
        return JoinResult(_group_id(answer.require_child("group"), "jid"))

    return _guard("join answer", read)


def parse_join_requests(answer: Node) -> list[JoinRequest]:
    """The answer to :func:`join_requests_request`."""

    def read() -> list[JoinRequest]:
        node = answer.require_child("membership_approval_requests")
        return [
            JoinRequest(
                jid=child.attr_jid("jid"),
                requested_at=_time(child, "request_time"),
                phone_number=_opt_jid(child, "phone_number"),
            )
            for child in node.children_by_tag("membership_approval_request")
        ]

    return _guard("join requests", read)


def parse_subgroup(node: Node) -> SubGroup:
    """A ``<group>`` of a community's subgroup list or of a link/unlink change."""

    def read() -> SubGroup:
        jid = _opt_jid(node, "jid") if "jid" in node.attrs else None
        return SubGroup(
            jid=jid if jid is not None else _group_id(node),
            subject=node.attr_str("subject", ""),
            subject_time=_time(node, "s_t"),
            is_default_subgroup=node.child("default_sub_group") is not None,
        )

    return _guard("subgroup", read)


def parse_subgroups(answer: Node) -> list[SubGroup]:
    """The answer to :func:`subgroups_request`."""
    node = answer.require_child("sub_groups")
    return [parse_subgroup(child) for child in node.children_by_tag("group")]


def parse_picture_id(answer: Node) -> str:
    """The new picture id of a :func:`photo_request` answer (``""`` after a removal)."""
    picture = answer.child("picture")
    if picture is None:
        return ""
    return _guard("picture", lambda: picture.attr_str("id"))
