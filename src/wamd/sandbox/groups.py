"""Groups and communities in the sandbox (``xmlns="w:g2"``, group photos, group messages).

Group state lives in the sandbox's SQLite file (:mod:`wamd.sandbox.group_state`). Every
request is checked the way WhatsApp answers it:

* 404 ``item-not-found``: no such group (or subgroup, or invite code for links: 406);
* 403 ``forbidden``: the requester is not a member;
* 401 ``not-authorized``: an admin-only action by a non-admin (settings, invite link,
  removing/promoting/demoting, join requests, linking; adding when the member-add mode is
  ``admin_add``; subject, description, photo and timer when the group is locked);
* 409 ``conflict``: joining a group one is in, a stale description id, linking a linked group;
* 400 ``bad-request``: malformed requests; 406 / 410 for invalid / revoked invite codes.

Per-participant results (add/remove/promote/demote, join-request actions) carry ``error`` on
each ``<participant>``: 409 already a member, 404 not a member / no such user / no request,
406 the super admin cannot be removed or demoted.

Every change is told to every device of every member (the members before the change for
removals, after it for additions), the device that made it included (as WhatsApp does: the
creator's device sees its ``create`` key come back), as
``<notification type="w:gp2" from=gid participant=actor [participant_pn] t id>``; a member
who is added, or joins, gets ``<create reason>`` with the whole ``<group>``. Deliveries go
through the message router's durable offline queue when it is installed
(:mod:`wamd.sandbox.messaging`), so members that are offline get them when they come back.

Groups are LID-addressed by default (members named ``lid@lid`` with ``phone_number``), as
WhatsApp's are now; :attr:`GroupServer.addressing_mode` switches new groups to phone numbers.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from aiohttp import web

from wamd.binary import AttrValue, Node
from wamd.errors import (
    AttributeInvalid,
    AttributeMissing,
    InvalidJID,
    MalformedNode,
    NotConnected,
)
from wamd.messaging.stanzas import participant_hash
from wamd.sandbox import group_state as gs
from wamd.sandbox.group_state import Group, Member
from wamd.sandbox.messaging import Target, router_of
from wamd.sandbox.router import IQFailure, IQHandler, IQResult
from wamd.sandbox.session import Session
from wamd.sandbox.state import Account, account_by_phone, devices_of
from wamd.types import GROUP_SERVER, JID, LID_SERVER, USER_SERVER

if TYPE_CHECKING:
    from wamd.sandbox.server import Sandbox

__all__ = ["GroupServer", "group_server_of", "install"]

log = logging.getLogger("wamd.sandbox")

XMLNS = "w:g2"
MAX_PARTICIPANTS = 1024
MAX_SUBJECT = 100
MAX_DESCRIPTION = 2048
MAX_PICTURE = 1 << 20
PICTURE_PATH = "/groups/picture"

T = TypeVar("T")


def _bad(text: str = "bad-request") -> IQFailure:
    return IQFailure(400, text)


NOT_FOUND = (404, "item-not-found")
FORBIDDEN = (403, "forbidden")
NOT_AUTHORIZED = (401, "not-authorized")
CONFLICT = (409, "conflict")


def _fail(pair: tuple[int, str]) -> IQFailure:
    return IQFailure(*pair)


@dataclass(slots=True)
class _Notice:
    """A notification for every companion device of ``phones``."""

    phones: list[str]
    node: Node


@dataclass(slots=True)
class _Op:
    """What a request's database work needs and produces."""

    actor: Account
    device: int
    now: int
    lid_default: bool
    ids: Callable[[], str]
    notices: list[_Notice] = field(default_factory=list)


def _text(node: Node) -> str:
    content = node.content
    if content is None:
        return ""
    if isinstance(content, (bytes, str)):
        return node.content_bytes().decode("utf-8", errors="replace")
    raise _bad()


def _account_for(db: sqlite3.Connection, jid: JID) -> Account | None:
    if jid.server == USER_SERVER:
        return account_by_phone(db, jid.user)
    if jid.server == LID_SERVER:
        row = db.execute("SELECT phone FROM accounts WHERE lid = ?", (jid.user,)).fetchone()
        return None if row is None else account_by_phone(db, row[0])
    return None


def _accounts(db: sqlite3.Connection, group: Group, members: list[Member]) -> dict[str, Account]:
    accounts = {m.account.phone: m.account for m in members}
    for phone in (group.creator, group.subject_owner, group.description_owner):
        if phone and phone not in accounts:
            account = account_by_phone(db, phone)
            if account is not None:
                accounts[phone] = account
    return accounts


def _render(
    db: sqlite3.Connection, group: Group, members: list[Member] | None = None, **options: bool
) -> Node:
    members = gs.members_of(db, group.id) if members is None else members
    return gs.render_group(group, members, _accounts(db, group, members), **options)


_Work = Callable[[sqlite3.Connection, _Op, JID, Node], "Node | None"]


class GroupServer:
    """The group area of one sandbox (see the module docstring)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.addressing_mode = "lid"
        """How new groups name their members: ``"lid"`` or ``"pn"``."""
        self._counter = itertools.count(1)
        self.messages: GroupMessages | None = None
        """Group message fan-out (set by :func:`install`)."""

    def __repr__(self) -> str:
        return f"GroupServer(addressing_mode={self.addressing_mode!r})"

    # --- plumbing ----------------------------------------------------------------------------

    def _next_id(self) -> str:
        return f"{int(self.sandbox.clock())}{next(self._counter):06d}"

    async def _run(self, session: Session, work: Callable[[sqlite3.Connection, _Op], T]) -> T:
        device, account = session.device, session.account
        if device is None or account is None:
            raise _fail(NOT_AUTHORIZED)
        op = _Op(
            account,
            device.device,
            int(self.sandbox.clock()),
            self.addressing_mode == "lid",
            self._next_id,
        )
        try:
            result = await self.sandbox.state.run(lambda db: work(db, op))
        except (AttributeMissing, AttributeInvalid, InvalidJID, MalformedNode) as exc:
            log.info("%s: bad group request: %s", session, exc)
            raise _bad() from exc
        await self._deliver_notices(op)
        return result

    async def _deliver_notices(self, op: _Op) -> None:
        deliveries: list[tuple[str, int, str, Node]] = []
        for notice in op.notices:
            stanza_id = str(notice.node.attrs.get("id", ""))
            for phone in dict.fromkeys(notice.phones):
                for device in await self.sandbox.state.devices(phone):
                    deliveries.append((phone, device.device, stanza_id, notice.node))
        await deliver(self.sandbox, "notification", deliveries)

    def _notification(
        self, op: _Op, group: Group, children: list[Node], *, kind: str = "w:gp2"
    ) -> Node:
        lid = group.lid_addressed
        attrs: dict[str, AttrValue] = {
            "from": group.jid,
            "type": kind,
            "id": op.ids(),
            "t": str(op.now),
            "participant": gs.user_jid(op.actor, lid),
        }
        if lid:
            attrs["participant_pn"] = gs.user_jid(op.actor, False)
        name = op.actor.push_name
        if name:
            attrs["notify"] = name
        return Node("notification", attrs, children)

    def _notify(self, op: _Op, group: Group, phones: list[str], children: list[Node]) -> None:
        if phones and children:
            op.notices.append(_Notice(phones, self._notification(op, group, children)))

    def _notify_joined(
        self,
        db: sqlite3.Connection,
        op: _Op,
        group: Group,
        phones: list[str],
        reason: str,
        *,
        key: str = "",
        kind: str = "",
    ) -> None:
        """New members get ``<create>`` with the whole group."""
        if not phones:
            return
        attrs: dict[str, AttrValue] = {}
        if reason:
            attrs["reason"] = reason
        if kind:
            attrs["type"] = kind
        if key:
            attrs["key"] = key
        self._notify(op, group, phones, [Node("create", attrs, [_render(db, group)])])

    # --- lookups -----------------------------------------------------------------------------

    @staticmethod
    def _group(db: sqlite3.Connection, jid: JID) -> Group:
        if jid.server != GROUP_SERVER or not jid.user:
            raise _bad()
        group = gs.get_group(db, jid.user)
        if group is None:
            raise _fail(NOT_FOUND)
        return group

    @staticmethod
    def _member(db: sqlite3.Connection, group: Group, op: _Op) -> Member:
        member = gs.member(db, group.id, op.actor.phone)
        if member is None:
            raise _fail(FORBIDDEN)
        return member

    def _admin(self, db: sqlite3.Connection, group: Group, op: _Op) -> Member:
        member = self._member(db, group, op)
        if not member.is_admin:
            raise _fail(NOT_AUTHORIZED)
        return member

    def _editor(self, db: sqlite3.Connection, group: Group, op: _Op) -> Member:
        """Members may edit the info unless the group is locked (then admins only)."""
        member = self._member(db, group, op)
        if group.locked and not member.is_admin:
            raise _fail(NOT_AUTHORIZED)
        return member

    @staticmethod
    def _participants(node: Node) -> list[JID]:
        jids = [p.attr_jid("jid") for p in node.children_by_tag("participant")]
        if len(jids) > MAX_PARTICIPANTS:
            raise IQFailure(406, "not-acceptable")
        return jids

    # --- the IQ entry point ------------------------------------------------------------------

    async def handle(self, session: Session, iq: Node) -> IQResult:
        """Answer one ``w:g2`` IQ."""
        children = iq.children
        if not children:
            raise _bad()
        child = children[0]
        kind = iq.attrs.get("type")
        try:
            to = iq.attr_jid("to")
        except (AttributeMissing, AttributeInvalid, InvalidJID) as exc:
            raise _bad() from exc
        if to.server != GROUP_SERVER:
            raise _bad()
        on_server = not to.user
        handler = self._handlers(on_server, kind, child)
        if handler is None:
            raise IQFailure(501, "feature-not-implemented")
        return await self._run(session, lambda db, op: handler(db, op, to, child))

    def _handlers(self, on_server: bool, kind: object, child: Node) -> _Work | None:
        tag = child.tag
        table: dict[tuple[str, str], _Work]
        if on_server:
            table = {
                ("set", "create"): self._create,
                ("get", "participating"): self._participating,
                ("set", "leave"): self._leave,
                ("get", "invite"): self._invite_info,
                ("set", "invite"): self._join,
            }
        else:
            table = {
                ("get", "query"): self._query,
                ("set", "add"): self._add,
                ("set", "remove"): self._remove,
                ("set", "promote"): self._promote_demote,
                ("set", "demote"): self._promote_demote,
                ("set", "subject"): self._subject,
                ("set", "description"): self._description,
                ("set", "locked"): self._setting,
                ("set", "unlocked"): self._setting,
                ("set", "announcement"): self._setting,
                ("set", "not_announcement"): self._setting,
                ("set", "ephemeral"): self._ephemeral,
                ("set", "not_ephemeral"): self._ephemeral,
                ("set", "membership_approval_mode"): self._approval_mode,
                ("set", "member_add_mode"): self._member_add_mode,
                ("get", "invite"): self._invite_code,
                ("set", "invite"): self._reset_invite,
                ("get", "membership_approval_requests"): self._requests,
                ("set", "membership_requests_action"): self._requests_action,
                ("set", "links"): self._link,
                ("set", "unlink"): self._unlink,
                ("get", "sub_groups"): self._subgroups,
                ("get", "linked_groups_participants"): self._community_participants,
                ("set", "accept"): self._accept,
            }
        return table.get((str(kind), tag))

    # --- create, read, list ------------------------------------------------------------------

    def _create(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> Node:
        subject = node.attr_str("subject", "")
        if not subject or len(subject) > MAX_SUBJECT:
            raise IQFailure(406, "not-acceptable")
        key = node.attr_str("key", "")
        others: list[Account] = []
        for jid in self._participants(node):
            account = _account_for(db, jid)
            if account is None:
                log.info("create: no account for %s (skipped)", jid)
            elif account.phone != op.actor.phone and account not in others:
                others.append(account)
        options = {c.tag: c for c in node.children}
        parent: Group | None = None
        linked = options.get("linked_parent")
        if linked is not None:
            parent = self._group(db, linked.attr_jid("jid"))
            if not parent.is_parent:
                raise _bad()
            self._admin(db, parent, op)
        approval = options.get("membership_approval_mode")
        join = approval.child("group_join") if approval is not None else None
        add_mode = options.get("member_add_mode")
        mode = _text(add_mode) if add_mode is not None else "all_member_add"
        if mode not in ("admin_add", "all_member_add"):
            raise _bad()
        ephemeral = options.get("ephemeral")
        community = options.get("parent")
        group = Group(
            id=gs.new_group_id(),
            subject=subject,
            subject_owner=op.actor.phone,
            subject_time=op.now,
            creator=op.actor.phone,
            created=op.now,
            announce="announcement" in options,
            locked="locked" in options,
            join_approval=join is not None and join.attr_str("state", "off") == "on",
            member_add_mode=mode,
            ephemeral=ephemeral.attr_int("expiration", 0) if ephemeral is not None else 0,
            addressing_mode="lid" if op.lid_default else "pn",
            is_parent=community is not None,
            default_approval=(
                community.attr_str("default_membership_approval_mode", "request_required")
                if community is not None
                else ""
            ),
            parent=parent.id if parent is not None else "",
        )
        gs.insert_group(db, group)
        gs.add_member(db, group.id, op.actor.phone, gs.ROLE_SUPERADMIN, op.now)
        for account in others:
            gs.add_member(db, group.id, account.phone, gs.ROLE_MEMBER, op.now)
        group = gs.get_group(db, group.id) or group
        phones = [op.actor.phone] + [a.phone for a in others]
        if community is not None:
            announcements = Group(
                id=gs.new_group_id(),
                subject=subject,
                subject_owner=op.actor.phone,
                subject_time=op.now,
                creator=op.actor.phone,
                created=op.now,
                announce=True,
                addressing_mode=group.addressing_mode,
                parent=group.id,
                is_default_subgroup=True,
            )
            gs.insert_group(db, announcements)
            for phone in phones:
                role = gs.ROLE_SUPERADMIN if phone == op.actor.phone else gs.ROLE_MEMBER
                gs.add_member(db, announcements.id, phone, role, op.now)
        self._notify_joined(db, op, group, phones, "", key=key, kind="new")
        return _render(db, group)

    def _query(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> Node:
        group = self._group(db, to)
        request = node.child("add_request")
        if request is None:
            self._member(db, group, op)
        else:
            self._add_request(db, op, group, request)
        return _render(db, group)

    @staticmethod
    def _add_request(db: sqlite3.Connection, op: _Op, group: Group, node: Node) -> None:
        """Check an invite-message code (``<add_request|accept code expiration admin>``)."""
        found = gs.add_request_of(db, group.id, node.attr_str("code"), op.actor.phone)
        if found is None:
            raise _fail(NOT_AUTHORIZED)
        if found[1] <= op.now:
            raise IQFailure(410, "gone")

    def _accept(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> None:
        group = self._group(db, to)
        self._add_request(db, op, group, node)
        if gs.member(db, group.id, op.actor.phone) is not None:
            raise _fail(CONFLICT)
        self._join_member(db, op, group, "invite")
        gs.drop_add_requests(db, group.id, op.actor.phone)

    def _community_participants(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> Node:
        parent = self._group(db, to)
        self._member(db, parent, op)
        seen: dict[str, Member] = {}
        for group in [parent, *gs.subgroups_of(db, parent.id)]:
            for member in gs.members_of(db, group.id):
                seen.setdefault(member.account.phone, member)
        return Node(
            "linked_groups_participants",
            {},
            [
                gs.render_participant(m, parent.lid_addressed, with_role=False)
                for m in seen.values()
            ],
        )

    def _participating(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> Node:
        with_participants = node.child("participants") is not None
        with_description = node.child("description") is not None
        groups = [
            _render(db, g, participants=with_participants, description=with_description)
            for g in gs.groups_of(db, op.actor.phone)
        ]
        return Node("groups", {}, groups)

    # --- members -----------------------------------------------------------------------------

    def _add(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> Node:
        group = self._group(db, to)
        actor = self._member(db, group, op)
        if group.member_add_mode == "admin_add" and not actor.is_admin:
            raise _fail(NOT_AUTHORIZED)
        before = [m.account.phone for m in gs.members_of(db, group.id)]
        results: list[Node] = []
        added: list[Member] = []
        for jid in self._participants(node):
            account = _account_for(db, jid)
            attrs: dict[str, AttrValue] = {"jid": jid}
            if account is None:
                attrs["error"] = "404"
            elif gs.member(db, group.id, account.phone) is not None:
                attrs["error"] = "409"
            elif gs.refuses_adds(db, account.phone):
                attrs["error"] = "403"
                code, expiration = gs.new_add_request(
                    db, group.id, account.phone, op.actor.phone, op.now
                )
                results.append(
                    Node(
                        "participant",
                        attrs,
                        [Node("add_request", {"code": code, "expiration": str(expiration)})],
                    )
                )
                continue
            else:
                gs.add_member(db, group.id, account.phone, gs.ROLE_MEMBER, op.now)
                added.append(Member(account))
                attrs = gs.person_attrs(account, jid.server == LID_SERVER)
            results.append(Node("participant", attrs))
        if added:
            lid = group.lid_addressed
            self._notify(
                op, group, before, [Node("add", {}, [gs.render_participant(m, lid) for m in added])]
            )
            group = gs.get_group(db, group.id) or group
            self._notify_joined(db, op, group, [m.account.phone for m in added], "add")
        return Node("add", {}, results)

    def _per_member(
        self, db: sqlite3.Connection, group: Group, node: Node, act: Callable[[Member], str]
    ) -> tuple[list[Node], list[Member]]:
        """Apply ``act`` to each named member (it returns an error code, ``""`` when done);
        non-members get 404. Returns the per-participant results and the members done."""
        results: list[Node] = []
        done: list[Member] = []
        for jid in self._participants(node):
            account = _account_for(db, jid)
            target = gs.member(db, group.id, account.phone) if account is not None else None
            error = "404" if target is None else act(target)
            attrs: dict[str, AttrValue] = {"jid": jid}
            if error:
                attrs["error"] = error
            elif target is not None:
                done.append(target)
            results.append(Node("participant", attrs))
        return results, done

    def _remove(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> Node:
        group = self._group(db, to)
        self._admin(db, group, op)
        before = self._phones(db, group)

        def remove(target: Member) -> str:
            if target.role == gs.ROLE_SUPERADMIN and target.account.phone != op.actor.phone:
                return "406"
            gs.remove_member(db, group.id, target.account.phone)
            return ""

        results, removed = self._per_member(db, group, node, remove)
        if removed:
            self._notify(
                op,
                group,
                before,
                [
                    Node(
                        "remove",
                        {},
                        [
                            gs.render_participant(m, group.lid_addressed, with_role=False)
                            for m in removed
                        ],
                    )
                ],
            )
            self._ensure_admin(db, op, group)
        return Node("remove", {}, results)

    def _promote_demote(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> Node:
        group = self._group(db, to)
        self._admin(db, group, op)
        role = gs.ROLE_ADMIN if node.tag == "promote" else gs.ROLE_MEMBER

        def change(target: Member) -> str:
            if target.role == gs.ROLE_SUPERADMIN:
                return "406" if role == gs.ROLE_MEMBER else ""
            gs.set_role(db, group.id, target.account.phone, role)
            return ""

        results, changed = self._per_member(db, group, node, change)
        if changed:
            shown = [
                m if m.role == gs.ROLE_SUPERADMIN else Member(m.account, role, m.added)
                for m in changed
            ]
            self._notify(
                op,
                group,
                self._phones(db, group),
                [
                    Node(
                        node.tag, {}, [gs.render_participant(m, group.lid_addressed) for m in shown]
                    )
                ],
            )
        return Node(node.tag, {}, results)

    def _ensure_admin(self, db: sqlite3.Connection, op: _Op, group: Group) -> None:
        """A group left without admins gets its oldest member promoted (as WhatsApp does)."""
        members = gs.members_of(db, group.id)
        if not members or any(m.is_admin for m in members):
            return
        heir = members[0]
        gs.set_role(db, group.id, heir.account.phone, gs.ROLE_ADMIN)
        self._notify(
            op,
            group,
            [m.account.phone for m in members],
            [
                Node(
                    "promote",
                    {},
                    [
                        gs.render_participant(
                            Member(heir.account, gs.ROLE_ADMIN), group.lid_addressed
                        )
                    ],
                )
            ],
        )

    def _leave(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> Node:
        entries = node.children_by_tag("group")
        if not entries:
            raise _bad()
        left: list[Node] = []
        for entry in entries:
            group = self._group(db, entry.attr_jid("id"))
            me = self._member(db, group, op)
            before = [m.account.phone for m in gs.members_of(db, group.id)]
            gs.remove_member(db, group.id, op.actor.phone)
            self._notify(
                op,
                group,
                before,
                [
                    Node(
                        "remove",
                        {},
                        [gs.render_participant(me, group.lid_addressed, with_role=False)],
                    )
                ],
            )
            self._ensure_admin(db, op, group)
            left.append(Node("group", {"id": group.jid}))
        return Node("leave", {}, left)

    # --- info and settings -------------------------------------------------------------------

    def _phones(self, db: sqlite3.Connection, group: Group) -> list[str]:
        return [m.account.phone for m in gs.members_of(db, group.id)]

    def _subject(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> None:
        group = self._group(db, to)
        self._editor(db, group, op)
        subject = _text(node)
        if not subject or len(subject) > MAX_SUBJECT:
            raise IQFailure(406, "not-acceptable")
        group = gs.update_group(
            db, group, subject=subject, subject_owner=op.actor.phone, subject_time=op.now
        )
        attrs: dict[str, AttrValue] = {
            "subject": subject,
            "s_t": str(op.now),
            "s_o": gs.user_jid(op.actor, group.lid_addressed),
        }
        if group.lid_addressed:
            attrs["s_o_pn"] = gs.user_jid(op.actor, False)
        self._notify(op, group, self._phones(db, group), [Node("subject", attrs)])

    def _description(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> None:
        group = self._group(db, to)
        self._editor(db, group, op)
        previous = node.attr_str("prev", "")
        if group.description_id and previous and previous != group.description_id:
            raise _fail(CONFLICT)
        new_id = node.attr_str("id", "") or op.ids()
        deleting = node.attr_str("delete", "") == "true"
        body = node.child("body")
        text = "" if deleting or body is None else _text(body)
        if len(text) > MAX_DESCRIPTION:
            raise IQFailure(406, "not-acceptable")
        group = gs.update_group(
            db,
            group,
            description=text,
            description_id=new_id,
            description_owner=op.actor.phone,
            description_time=op.now,
        )
        content = [Node("delete")] if not text else [Node("body", {}, text.encode())]
        self._notify(
            op, group, self._phones(db, group), [Node("description", {"id": new_id}, content)]
        )

    def _setting(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> None:
        group = self._group(db, to)
        self._admin(db, group, op)
        tag = node.tag
        if tag in ("locked", "unlocked"):
            group = gs.update_group(db, group, locked=tag == "locked")
            change = Node(tag)
        else:
            group = gs.update_group(db, group, announce=tag == "announcement")
            change = Node(tag, {"v_id": str(op.now)})
        self._notify(op, group, self._phones(db, group), [change])

    def _ephemeral(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> None:
        group = self._group(db, to)
        self._editor(db, group, op)
        seconds = node.attr_int("expiration", 0) if node.tag == "ephemeral" else 0
        if seconds < 0:
            raise _bad()
        group = gs.update_group(db, group, ephemeral=seconds)
        change = (
            Node("ephemeral", {"expiration": str(seconds)}) if seconds else Node("not_ephemeral")
        )
        self._notify(op, group, self._phones(db, group), [change])

    def _approval_mode(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> None:
        group = self._group(db, to)
        self._admin(db, group, op)
        join = node.child("group_join")
        if join is None:
            raise _bad()
        state = join.attr_str("state")
        if state not in ("on", "off"):
            raise _bad()
        group = gs.update_group(db, group, join_approval=state == "on")
        self._notify(
            op,
            group,
            self._phones(db, group),
            [Node("membership_approval_mode", {}, [Node("group_join", {"state": state})])],
        )

    def _member_add_mode(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> None:
        group = self._group(db, to)
        self._admin(db, group, op)
        mode = _text(node)
        if mode not in ("admin_add", "all_member_add"):
            raise _bad()
        group = gs.update_group(db, group, member_add_mode=mode)
        self._notify(
            op, group, self._phones(db, group), [Node("member_add_mode", {}, mode.encode())]
        )

    # --- invites and join requests -----------------------------------------------------------

    def _invite_code(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> Node:
        group = self._group(db, to)
        self._admin(db, group, op)
        return Node("invite", {"code": group.invite_code})

    def _reset_invite(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> Node:
        group = self._group(db, to)
        self._admin(db, group, op)
        group = gs.update_group(db, group, invite_code=gs.new_invite_code())
        self._notify(
            op, group, self._phones(db, group), [Node("invite", {"code": group.invite_code})]
        )
        return Node("invite", {"code": group.invite_code})

    @staticmethod
    def _by_code(db: sqlite3.Connection, node: Node) -> Group:
        code = node.attr_str("code")
        group = gs.group_by_invite(db, code)
        if group is None:
            if gs.revoked_invite(db, code):
                raise IQFailure(410, "gone")
            raise IQFailure(406, "not-acceptable")
        return group

    def _invite_info(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> Node:
        return _render(db, self._by_code(db, node))

    def _join(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> Node:
        group = self._by_code(db, node)
        if gs.member(db, group.id, op.actor.phone) is not None:
            raise _fail(CONFLICT)
        lid = group.lid_addressed
        if group.join_approval:
            if gs.add_request(db, group.id, op.actor.phone, op.now):
                admins = [m.account.phone for m in gs.members_of(db, group.id) if m.is_admin]
                self._notify(
                    op,
                    group,
                    admins,
                    [
                        Node(
                            "created_membership_requests",
                            {"request_method": "invite_link"},
                            [Node("participant", gs.person_attrs(op.actor, lid))],
                        )
                    ],
                )
            return Node("membership_approval_request", {"jid": group.jid})
        self._join_member(db, op, group, "invite")
        return Node("group", {"jid": group.jid})

    def _join_member(self, db: sqlite3.Connection, op: _Op, group: Group, reason: str) -> None:
        """The requester joins by itself (link or invite message): the others see an
        ``<add reason>`` by the joiner, the joiner's other devices a ``<create reason>``."""
        before = self._phones(db, group)
        gs.add_member(db, group.id, op.actor.phone, gs.ROLE_MEMBER, op.now)
        self._notify(
            op,
            group,
            before,
            [
                Node(
                    "add",
                    {"reason": reason},
                    [gs.render_participant(Member(op.actor), group.lid_addressed)],
                )
            ],
        )
        group = gs.get_group(db, group.id) or group
        self._notify_joined(db, op, group, [op.actor.phone], reason)

    def _requests(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> Node:
        group = self._group(db, to)
        self._admin(db, group, op)
        entries = []
        for account, requested in gs.requests_of(db, group.id):
            attrs = gs.person_attrs(account, group.lid_addressed)
            attrs["request_time"] = str(requested)
            entries.append(Node("membership_approval_request", attrs))
        return Node("membership_approval_requests", {}, entries)

    def _requests_action(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> Node:
        group = self._group(db, to)
        self._admin(db, group, op)
        action = node.children[0] if node.children else None
        if action is None or action.tag not in ("approve", "reject"):
            raise _bad()
        lid = group.lid_addressed
        before = self._phones(db, group)
        results: list[Node] = []
        done: list[Account] = []
        for jid in self._participants(action):
            account = _account_for(db, jid)
            attrs: dict[str, AttrValue] = {"jid": jid}
            if account is None or not gs.delete_request(db, group.id, account.phone):
                attrs["error"] = "404"
            else:
                done.append(account)
                if action.tag == "approve":
                    gs.add_member(db, group.id, account.phone, gs.ROLE_MEMBER, op.now)
            results.append(Node("participant", attrs))
        if done and action.tag == "approve":
            self._notify(
                op,
                group,
                before,
                [
                    Node(
                        "add",
                        {"reason": "approval"},
                        [gs.render_participant(Member(a), lid) for a in done],
                    )
                ],
            )
            group = gs.get_group(db, group.id) or group
            self._notify_joined(db, op, group, [a.phone for a in done], "approval")
        elif done:
            admins = [m.account.phone for m in gs.members_of(db, group.id) if m.is_admin]
            self._notify(
                op,
                group,
                admins + [a.phone for a in done],
                [
                    Node(
                        "revoked_membership_requests",
                        {},
                        [Node("participant", gs.person_attrs(a, lid)) for a in done],
                    )
                ],
            )
        return Node("membership_requests_action", {}, [Node(action.tag, {}, results)])

    # --- communities -------------------------------------------------------------------------

    def _link_target(
        self, db: sqlite3.Connection, op: _Op, to: JID, node: Node
    ) -> tuple[Group, Group]:
        parent = self._group(db, to)
        if not parent.is_parent:
            raise _bad()
        self._admin(db, parent, op)
        entry = node.child("group")
        if entry is None:
            raise _bad()
        child = self._group(db, entry.attr_jid("jid"))
        self._admin(db, child, op)
        return parent, child

    def _link(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> Node:
        link = node.child("link")
        if link is None:
            raise _bad()
        parent, child = self._link_target(db, op, to, link)
        if child.parent and child.parent != parent.id:
            raise _fail(CONFLICT)
        if child.is_parent or child.id == parent.id:
            raise _bad()
        child = gs.update_group(db, child, parent=parent.id)
        change = Node(
            "link",
            {"link_type": "sub_group"},
            [
                Node(
                    "group",
                    {"jid": child.jid, "subject": child.subject, "s_t": str(child.subject_time)},
                )
            ],
        )
        phones = self._phones(db, parent) + self._phones(db, child)
        self._notify(op, parent, phones, [change])
        return Node(
            "links",
            {},
            [Node("link", {"link_type": "sub_group"}, [Node("group", {"jid": child.jid})])],
        )

    def _unlink(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> Node:
        parent, child = self._link_target(db, op, to, node)
        if child.parent != parent.id or child.is_default_subgroup:
            raise _fail(NOT_FOUND)
        child = gs.update_group(db, child, parent="")
        change = Node(
            "unlink",
            {"unlink_type": "sub_group", "unlink_reason": "unlink_group"},
            [
                Node(
                    "group",
                    {"jid": child.jid, "subject": child.subject, "s_t": str(child.subject_time)},
                )
            ],
        )
        phones = self._phones(db, parent) + self._phones(db, child)
        self._notify(op, parent, phones, [change])
        return Node("unlink", {"unlink_type": "sub_group"}, [Node("group", {"jid": child.jid})])

    def _subgroups(self, db: sqlite3.Connection, op: _Op, to: JID, node: Node) -> Node:
        parent = self._group(db, to)
        self._member(db, parent, op)
        entries = []
        for child in gs.subgroups_of(db, parent.id):
            extra = [Node("default_sub_group")] if child.is_default_subgroup else []
            entries.append(
                Node(
                    "group",
                    {"id": child.id, "subject": child.subject, "s_t": str(child.subject_time)},
                    extra,
                )
            )
        return Node("sub_groups", {}, entries)

    # --- photos ------------------------------------------------------------------------------

    async def picture(self, session: Session, iq: Node) -> IQResult:
        """``w:profile:picture`` with a group ``target``: set, remove or get the photo."""
        try:
            target = iq.attr_jid("target")
        except (AttributeMissing, AttributeInvalid, InvalidJID) as exc:
            raise _bad() from exc
        kind = iq.attrs.get("type")

        def work(db: sqlite3.Connection, op: _Op) -> Node | None:
            group = self._group(db, target)
            if kind == "get":
                self._member(db, group, op)
                stored = gs.picture_of(db, group.id)
                if stored is None:
                    raise _fail(NOT_FOUND)
                path = f"{PICTURE_PATH}/{group.id}/{stored[0]}"
                return Node(
                    "picture",
                    {
                        "id": stored[0],
                        "type": "image",
                        "direct_path": path,
                        "url": self.sandbox.url.replace("ws://", "http://").rsplit("/ws/", 1)[0]
                        + path,
                    },
                )
            if kind != "set":
                raise _bad()
            self._editor(db, group, op)
            picture = iq.child("picture")
            if picture is None:
                gs.set_picture(db, group, "", None)
                author = gs.user_jid(op.actor, group.lid_addressed)
                change = Node("delete", {"jid": group.jid, "author": author})
                answer = None
            else:
                data = picture.content_bytes()
                if not data or len(data) > MAX_PICTURE:
                    raise IQFailure(406, "not-acceptable")
                picture_id = str(op.now * 1000 + len(data) % 1000)
                gs.set_picture(db, group, picture_id, data)
                change = Node(
                    "set",
                    {
                        "jid": group.jid,
                        "id": picture_id,
                        "author": gs.user_jid(op.actor, group.lid_addressed),
                    },
                )
                answer = Node("picture", {"id": picture_id})
            node = self._notification(op, group, [change], kind="picture")
            node.attrs.pop("participant", None)
            node.attrs.pop("participant_pn", None)
            op.notices.append(_Notice(self._phones(db, group), node))
            return answer

        return await self._run(session, work)

    async def serve_picture(self, request: web.Request) -> web.StreamResponse:
        """``GET /groups/picture/{group}/{id}``: the photo bytes."""
        group_id = request.match_info["group"]
        picture_id = request.match_info["id"]
        stored = await self.sandbox.state.run(lambda db: gs.picture_of(db, group_id))
        if stored is None or stored[0] != picture_id:
            raise web.HTTPNotFound()
        return web.Response(body=stored[1], content_type="image/jpeg")


# --- group messages --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Fanout:
    group: Group
    members: list[Member]
    devices: dict[str, list[int]]
    error: str = ""


def _device_form(account: Account, device: int, lid: bool) -> JID:
    return gs.user_jid(account, lid).with_device(device)


class GroupMessages:
    """Fans group messages out (see :meth:`on_message`) and routes group receipts."""

    def __init__(self, server: GroupServer) -> None:
        self.server = server
        self.sandbox = server.sandbox
        self.routed = 0

    def __repr__(self) -> str:
        return f"GroupMessages(routed={self.routed})"

    async def _members(self, group_id: str, phone: str) -> _Fanout | None:
        def read(db: sqlite3.Connection) -> _Fanout | None:
            group = gs.get_group(db, group_id)
            if group is None:
                return None
            members = gs.members_of(db, group.id)
            devices = {
                m.account.phone: [d.device for d in devices_of(db, m.account.phone)]
                for m in members
            }
            me = next((m for m in members if m.account.phone == phone), None)
            error = ""
            if me is None or (group.announce and not me.is_admin):
                error = "403"
            return _Fanout(group, members, devices, error)

        return await self.sandbox.state.run(read)

    async def on_message(self, session: Session, node: Node) -> None:
        """``<message to=gid>``: every device of every member (but the sending one) gets
        ``<message from=gid participant=sender>`` with the ``skmsg`` and, when the sender
        addressed it in ``<participants>``, its own pairwise ``<enc>`` (the sender key);
        the sender gets ``<ack phash>``. Non-members and non-admins of announce groups get
        ``<ack error="403">``, unknown groups ``error="404"``."""
        device, account = session.device, session.account
        msg_id = node.attrs.get("id")
        if device is None or account is None or not isinstance(msg_id, str) or not msg_id:
            return
        try:
            to = node.attr_jid("to")
            fanout = await self._members(to.user, account.phone)
            if fanout is None:
                await session.send(_message_ack(node, error="404"))
                return
            if fanout.error:
                await session.send(_message_ack(node, error=fanout.error))
                return
            pairwise = await self._pairwise(node, fanout)
            retried = node.attr_jid("participant", None)
        except (AttributeMissing, AttributeInvalid, InvalidJID, MalformedNode, ValueError) as exc:
            log.info("%s: refusing group message %s: %s", session, msg_id, exc)
            await session.send(_message_ack(node, error="400"))
            return
        group = fanout.group
        lid = group.lid_addressed
        t = str(int(self.sandbox.clock()))
        group_encs = [c for c in node.children_by_tag("enc") if c.attrs.get("type") == "skmsg"]
        if retried is not None:  # a message sent again to the one device that asked
            phone = self._member_phone(fanout, retried)
            direct = [c for c in node.children_by_tag("enc") if c.attrs.get("type") != "skmsg"]
            pairwise = {(phone, retried.device): direct} if phone is not None else {}
            group_encs = []
        identity = node.child("device-identity")
        attrs: dict[str, AttrValue] = {
            "id": msg_id,
            "from": group.jid,
            "t": t,
            "participant": _device_form(account, device.device, lid),
            "type": node.attrs.get("type", "text"),
            "notify": device.push_name or account.push_name or "",
            "addressing_mode": group.addressing_mode,
        }
        if lid:
            attrs["participant_pn"] = gs.user_jid(account, False)
        else:
            attrs["participant_lid"] = gs.user_jid(account, True)
        for name in ("edit", "category"):
            value = node.attrs.get(name)
            if value is not None:
                attrs[name] = value
        deliveries: list[tuple[str, int, str, Node]] = []
        for member in fanout.members:
            phone = member.account.phone
            for device_id in fanout.devices.get(phone, []):
                if phone == account.phone and device_id == device.device:
                    continue
                own = pairwise.get((phone, device_id), [])
                encs = own + group_encs
                if not encs:
                    continue
                content = encs + ([identity] if own and identity is not None else [])
                deliveries.append((phone, device_id, msg_id, Node("message", dict(attrs), content)))
        await deliver(self.sandbox, "message", deliveries)
        self.routed += 1
        everyone = [
            _device_form(m.account, d, lid)
            for m in fanout.members
            for d in [0, *fanout.devices.get(m.account.phone, [])]
            if not (m.account.phone == account.phone and d == device.device)
        ]
        await session.send(_message_ack(node, t=t, phash=participant_hash(everyone)))

    async def _pairwise(self, node: Node, fanout: _Fanout) -> dict[tuple[str, int], list[Node]]:
        """The sender's ``<participants><to jid><enc>`` entries for member devices."""
        participants = node.child("participants")
        if participants is None:
            return {}
        entries = participants.children_by_tag("to")
        if len(entries) > MAX_PARTICIPANTS * 8:
            raise ValueError("too many participants")
        out: dict[tuple[str, int], list[Node]] = {}
        for entry in entries:
            jid = entry.attr_jid("jid")
            phone = self._member_phone(fanout, jid)
            if phone is None or jid.device not in fanout.devices.get(phone, []):
                continue  # not a member (any more), or no such device
            encs = entry.children_by_tag("enc")
            if encs:
                out[(phone, jid.device)] = encs
        return out

    @staticmethod
    def _member_phone(fanout: _Fanout, jid: JID) -> str | None:
        """The phone of the member ``jid`` (either form) names, if it is one."""
        for member in fanout.members:
            account = member.account
            if (jid.server == LID_SERVER and jid.user == account.lid) or (
                jid.server == USER_SERVER and jid.user == account.phone
            ):
                return account.phone
        return None

    async def on_receipt(self, session: Session, node: Node) -> None:
        """``<receipt to=gid participant=sender>``: tell the sender's devices."""
        device, account = session.device, session.account
        receipt_id = node.attrs.get("id")
        if device is None or account is None or not isinstance(receipt_id, str):
            return
        try:
            to = node.attr_jid("to")
            sender = node.attr_jid("participant", None)
        except (AttributeInvalid, InvalidJID):
            return
        if sender is None:
            return
        fanout = await self._members(to.user, account.phone)
        if fanout is None:
            return
        phone = self._member_phone(fanout, sender)
        if phone is None or phone == account.phone:
            return
        lid = fanout.group.lid_addressed
        attrs: dict[str, AttrValue] = {
            "id": receipt_id,
            "from": fanout.group.jid,
            "t": str(int(self.sandbox.clock())),
            "participant": _device_form(account, device.device, lid),
        }
        kind = node.attrs.get("type")
        if kind is not None:
            attrs["type"] = kind
        content = node.content if isinstance(node.content, list) else None
        targets = fanout.devices.get(phone) or [
            d.device for d in await self.sandbox.state.devices(phone)
        ]
        await deliver(
            self.sandbox,
            "receipt",
            [(phone, d, receipt_id, Node("receipt", dict(attrs), content)) for d in targets],
        )


def _message_ack(
    node: Node, *, t: str | None = None, error: str | None = None, phash: str | None = None
) -> Node:
    attrs: dict[str, AttrValue] = {
        "id": node.attrs.get("id", ""),
        "class": "message",
        "from": node.attrs.get("to", ""),
    }
    for name, value in (("t", t), ("error", error), ("phash", phash)):
        if value is not None:
            attrs[name] = value
    return Node("ack", attrs)


# --- delivery --------------------------------------------------------------------------------


async def deliver(
    sandbox: Sandbox, kind: str, deliveries: list[tuple[str, int, str, Node]]
) -> None:
    """Deliver ``(phone, device, stanza id, node)``: through the message router's durable
    queue when it is installed, else straight to the device's session when it is active."""
    if not deliveries:
        return
    try:
        router = router_of(sandbox)
    except KeyError:
        router = None
    if router is not None:
        await router.deliver([(Target(p, d), kind, i, n) for p, d, i, n in deliveries])
        return
    for phone, device, _, node in deliveries:
        session = sandbox.session_for(JID(phone, USER_SERVER, device=device))
        if session is not None and session.is_open:
            try:
                await session.send(node)
            except NotConnected:
                log.debug("could not deliver to %s", session)


_servers: weakref.WeakKeyDictionary[Sandbox, GroupServer] = weakref.WeakKeyDictionary()


def group_server_of(sandbox: Sandbox) -> GroupServer:
    """The group area installed in ``sandbox`` (KeyError when not installed)."""
    return _servers[sandbox]


def install(sandbox: Sandbox) -> None:
    """Register the group IQs, group photos and (with the message router) group messages."""
    sandbox.state.register_schema("groups", gs.MIGRATIONS)
    server = GroupServer(sandbox)
    _servers[sandbox] = server
    sandbox.router.add_iq(XMLNS, "*", server.handle)
    previous: dict[str, IQHandler | None] = {
        child: sandbox.router.iq_handler("w:profile:picture", child) for child in ("picture", "*")
    }

    def picture_handler(child: str) -> IQHandler:
        async def handle(session: Session, iq: Node) -> IQResult:
            target = iq.attrs.get("target")
            if str(target).endswith("@" + GROUP_SERVER):
                return await server.picture(session, iq)
            fallback = previous[child] or previous["*"]
            if fallback is None:
                raise IQFailure(404, "item-not-found")
            return await fallback(session, iq)

        return handle

    sandbox.router.add_iq("w:profile:picture", "picture", picture_handler("picture"))
    sandbox.router.add_iq("w:profile:picture", "*", picture_handler("*"))
    sandbox.app.router.add_get(PICTURE_PATH + "/{group}/{id}", server.serve_picture)

    messages = GroupMessages(server)
    server.messages = messages
    user_messages = sandbox.router.stanza_handler("message", None)
    user_receipts = sandbox.router.stanza_handler("receipt", None)

    async def on_message(session: Session, node: Node) -> None:
        if str(node.attrs.get("to", "")).endswith("@" + GROUP_SERVER):
            await messages.on_message(session, node)
        elif user_messages is not None:
            await user_messages(session, node)

    async def on_receipt(session: Session, node: Node) -> None:
        if user_receipts is not None:
            await user_receipts(session, node)  # confirms the delivery in the offline queue
        if str(node.attrs.get("to", "")).endswith("@" + GROUP_SERVER):
            await messages.on_receipt(session, node)

    sandbox.router.add_stanza("message", "*", on_message)
    sandbox.router.add_stanza("receipt", "*", on_receipt)
