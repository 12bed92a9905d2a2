"""Group events, and the parser of the ``<notification type="w:gp2">`` (and group
``type="picture"``) stanzas they come from.

A notification whose only child is ``<create>`` means this account joined a group (it created
it, was added, or joined by link): :class:`JoinedGroup`. Anything else changes a group this
account is in: :class:`GroupInfoChanged`, with who made the change (``actor``) and one field
per kind of change (``None`` / empty when that did not change).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from wamd.binary import Node
from wamd.errors import AttributeInvalid, AttributeMissing, InvalidJID, MalformedNode
from wamd.events import Event
from wamd.groups.stanzas import parse_group, parse_participant, parse_subgroup
from wamd.groups.types import (
    INVITE_LINK_PREFIX,
    GroupInfo,
    GroupParticipant,
    MemberAddMode,
    SubGroup,
)
from wamd.types import GROUP_SERVER, JID

__all__ = [
    "GroupInfoChanged",
    "JoinedGroup",
    "parse_group_notification",
    "parse_picture_notification",
]


@dataclass(frozen=True, slots=True)
class JoinedGroup(Event):
    """This account is now in ``group``: it created it, was added, or joined by link.

    ``actor`` (and ``actor_pn``) made it happen (the creator, the admin who added us);
    ``reason`` is ``"invite"`` after joining by link; ``type`` is ``"new"`` for a group just
    created; ``create_key`` echoes the key of :meth:`~wamd.groups.Groups.create` on the
    creator's devices.

    Both group events come from the durable inbox: ``seq`` is the entry's number (finish it
    with ``client.inbox_transaction(evt)`` to act exactly once), ``redelivered`` is true when
    it is dispatched again after a crash or restart.
    """

    group: GroupInfo
    actor: JID | None = None
    actor_pn: JID | None = None
    reason: str = ""
    type: str = ""
    create_key: str = ""
    timestamp: datetime | None = None
    notify: str = ""
    raw: Node | None = field(default=None, repr=False, compare=False)
    redelivered: bool = False
    seq: int = 0

    @property
    def jid(self) -> JID:
        """The group."""
        return self.group.jid


@dataclass(frozen=True, slots=True)
class GroupInfoChanged(Event):
    """Something changed in ``group``; ``actor`` (``actor_pn``) did it at ``timestamp``.

    Participant changes carry :class:`~wamd.groups.types.GroupParticipant` entries (with both
    JID forms when the server gave them). ``removed`` includes members who left by themselves
    (:attr:`left` tells). Settings are ``None`` when unchanged, else their new value
    (``description`` is ``""`` when it was deleted). ``changes`` names what changed.
    """

    group: JID
    actor: JID | None = None
    actor_pn: JID | None = None
    timestamp: datetime | None = None
    notify: str = ""
    added: tuple[GroupParticipant, ...] = ()
    removed: tuple[GroupParticipant, ...] = ()
    promoted: tuple[GroupParticipant, ...] = ()
    demoted: tuple[GroupParticipant, ...] = ()
    join_reason: str = ""
    subject: str | None = None
    description: str | None = None
    description_id: str = ""
    announce: bool | None = None
    locked: bool | None = None
    ephemeral_timer: int | None = None
    join_approval: bool | None = None
    member_add_mode: MemberAddMode | str | None = None
    invite_code: str | None = None
    linked: SubGroup | None = None
    unlinked: SubGroup | None = None
    unlink_reason: str = ""
    deleted: bool = False
    delete_reason: str = ""
    suspended: bool | None = None
    picture_id: str | None = None
    picture_removed: bool = False
    join_requests: tuple[GroupParticipant, ...] = ()
    join_requests_revoked: tuple[GroupParticipant, ...] = ()
    unknown: tuple[str, ...] = ()
    raw: Node | None = field(default=None, repr=False, compare=False)
    redelivered: bool = False
    seq: int = 0

    @property
    def invite_link(self) -> str | None:
        """The new invite link, when it was reset."""
        return None if self.invite_code is None else INVITE_LINK_PREFIX + self.invite_code

    @property
    def left(self) -> bool:
        """Whether the actor removed themselves (left the group)."""
        actor = self.actor
        return actor is not None and any(p.is_user(actor) for p in self.removed)

    @property
    def changes(self) -> tuple[str, ...]:
        """The names of the fields that changed (``"added"``, ``"subject"``, ...)."""
        names: list[str] = []
        for name in (
            "added",
            "removed",
            "promoted",
            "demoted",
            "join_requests",
            "join_requests_revoked",
        ):
            if getattr(self, name):
                names.append(name)
        for name in (
            "subject",
            "description",
            "announce",
            "locked",
            "ephemeral_timer",
            "join_approval",
            "member_add_mode",
            "invite_code",
            "linked",
            "unlinked",
            "suspended",
            "picture_id",
        ):
            if getattr(self, name) is not None:
                names.append(name)
        if self.deleted:
            names.append("deleted")
        if self.picture_removed:
            names.append("picture_removed")
        return tuple(names)

    def affects(self, jid: JID) -> bool:
        """Whether ``jid`` (a user, either form) was added, removed, promoted or demoted."""
        return any(
            p.is_user(jid) for p in (*self.added, *self.removed, *self.promoted, *self.demoted)
        )


def _time(node: Node) -> datetime | None:
    seconds = node.attr_int("t", 0)
    return datetime.fromtimestamp(seconds, UTC) if 0 < seconds < 1 << 40 else None


def _jid(node: Node, name: str) -> JID | None:
    value = node.attr_jid(name, None)
    return value if value is not None and value.user else None


def _text(node: Node | None) -> str:
    if node is None:
        return ""
    content = node.content
    if isinstance(content, bytes):
        return content.decode("utf-8", errors="replace")
    return content if isinstance(content, str) else ""


def parse_group_notification(node: Node) -> JoinedGroup | GroupInfoChanged:
    """Read a ``<notification type="w:gp2">``; :class:`~wamd.errors.MalformedNode` when it
    is not one or lacks what it must hold."""
    try:
        return _parse(node)
    except MalformedNode:
        raise
    except (AttributeMissing, AttributeInvalid, InvalidJID, ValueError) as exc:
        raise MalformedNode(f"bad group notification: {exc}") from exc


def _parse(node: Node) -> JoinedGroup | GroupInfoChanged:
    if node.tag != "notification" or node.attr_str("type", "") != "w:gp2":
        raise MalformedNode(f"<{node.tag}> is not a w:gp2 notification")
    group = node.attr_jid("from")
    if group.server != GROUP_SERVER:
        raise MalformedNode(f"group notification from {group}")
    children = node.children
    actor = _jid(node, "participant")
    actor_pn = _jid(node, "participant_pn")
    when = _time(node)
    notify = node.attr_str("notify", "")
    if len(children) == 1 and children[0].tag == "create":
        create = children[0]
        info = parse_group(create.require_child("group"))
        return JoinedGroup(
            info,
            actor,
            actor_pn,
            create.attr_str("reason", ""),
            create.attr_str("type", ""),
            create.attr_str("key", ""),
            when,
            notify,
            node,
        )
    values: dict[str, object] = {}
    unknown: list[str] = []
    for child in children:
        tag = child.tag
        members = tuple(parse_participant(p) for p in child.children_by_tag("participant"))
        if tag in ("add", "remove", "promote", "demote"):
            name = {
                "add": "added",
                "remove": "removed",
                "promote": "promoted",
                "demote": "demoted",
            }[tag]
            values[name] = members
            if tag == "add":
                values["join_reason"] = child.attr_str("reason", "")
        elif tag == "leave":
            values["removed"] = members or ((GroupParticipant(actor),) if actor else ())
        elif tag == "subject":
            values["subject"] = child.attr_str("subject", "") or _text(child)
        elif tag == "description":
            deleted = child.child("delete") is not None or child.attr_str("delete", "") == "true"
            values["description"] = "" if deleted else _text(child.child("body"))
            values["description_id"] = child.attr_str("id", "")
        elif tag in ("announcement", "not_announcement"):
            values["announce"] = tag == "announcement"
        elif tag in ("locked", "unlocked"):
            values["locked"] = tag == "locked"
        elif tag == "ephemeral":
            values["ephemeral_timer"] = child.attr_int("expiration", 0)
        elif tag == "not_ephemeral":
            values["ephemeral_timer"] = 0
        elif tag == "membership_approval_mode":
            join = child.child("group_join")
            values["join_approval"] = join is None or join.attr_str("state", "on") == "on"
        elif tag == "member_add_mode":
            mode = _text(child)
            try:
                values["member_add_mode"] = MemberAddMode(mode)
            except ValueError:
                values["member_add_mode"] = mode
        elif tag == "invite":
            values["invite_code"] = child.attr_str("code")
        elif tag == "link":
            values["linked"] = parse_subgroup(child.require_child("group"))
        elif tag == "unlink":
            values["unlinked"] = parse_subgroup(child.require_child("group"))
            values["unlink_reason"] = child.attr_str("unlink_reason", "")
        elif tag == "delete":
            values["deleted"] = True
            values["delete_reason"] = child.attr_str("reason", "")
        elif tag in ("suspended", "unsuspended"):
            values["suspended"] = tag == "suspended"
        elif tag == "created_membership_requests":
            values["join_requests"] = members or ((GroupParticipant(actor),) if actor else ())
        elif tag == "revoked_membership_requests":
            values["join_requests_revoked"] = members or (
                (GroupParticipant(actor),) if actor else ()
            )
        else:
            unknown.append(tag)
    return GroupInfoChanged(
        group,
        actor,
        actor_pn,
        when,
        notify,
        unknown=tuple(unknown),
        raw=node,
        **values,  # type: ignore[arg-type]
    )


def parse_picture_notification(node: Node) -> GroupInfoChanged | None:
    """Read a ``<notification type="picture">`` about a group (``None`` when it is about a
    user: not ours to handle)."""
    try:
        group = node.attr_jid("from")
        if group.server != GROUP_SERVER:
            return None
        for child in node.children:
            target = child.attr_jid("jid", group)
            if target != group:
                continue
            author = _jid(child, "author")
            if child.tag == "delete":
                return GroupInfoChanged(
                    group, author, None, _time(node), picture_removed=True, raw=node
                )
            if child.tag in ("set", "add"):
                return GroupInfoChanged(
                    group, author, None, _time(node), picture_id=child.attr_str("id"), raw=node
                )
    except (AttributeMissing, AttributeInvalid, InvalidJID) as exc:
        raise MalformedNode(f"bad picture notification: {exc}") from exc
    return None
