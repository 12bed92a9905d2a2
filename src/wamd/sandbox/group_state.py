"""The sandbox's group tables and the plain functions that read and write them.

Everything here takes a ``sqlite3.Connection`` and runs inside ``SandboxState.run`` (one
transaction per call of the handler's work function); nothing awaits. Members are kept by
account phone number; how they are shown (LID or phone number) is decided when a ``<group>``
is rendered for the wire (:func:`render_group`).
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
from dataclasses import dataclass, field, replace
from typing import Any

from wamd.binary import AttrValue, Node
from wamd.sandbox.state import Account, account_by_phone
from wamd.types import GROUP_SERVER, JID, LID_SERVER, USER_SERVER

__all__ = [
    "MIGRATIONS",
    "ROLE_ADMIN",
    "ROLE_MEMBER",
    "ROLE_SUPERADMIN",
    "Group",
    "Member",
    "add_member",
    "add_request",
    "delete_request",
    "get_group",
    "groups_of",
    "insert_group",
    "members_of",
    "new_group_id",
    "new_invite_code",
    "remove_member",
    "render_group",
    "render_participant",
    "requests_of",
    "revoked_invite",
    "set_role",
    "subgroups_of",
    "update_group",
    "user_jid",
]

MIGRATIONS = (
    """
    CREATE TABLE groups (
        id TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        subject_owner TEXT NOT NULL,
        subject_time INTEGER NOT NULL,
        creator TEXT NOT NULL,
        created INTEGER NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        description_id TEXT NOT NULL DEFAULT '',
        description_owner TEXT NOT NULL DEFAULT '',
        description_time INTEGER NOT NULL DEFAULT 0,
        announce INTEGER NOT NULL DEFAULT 0,
        locked INTEGER NOT NULL DEFAULT 0,
        join_approval INTEGER NOT NULL DEFAULT 0,
        member_add_mode TEXT NOT NULL DEFAULT 'all_member_add',
        ephemeral INTEGER NOT NULL DEFAULT 0,
        addressing_mode TEXT NOT NULL DEFAULT 'lid',
        invite_code TEXT NOT NULL,
        is_parent INTEGER NOT NULL DEFAULT 0,
        default_approval TEXT NOT NULL DEFAULT '',
        parent TEXT NOT NULL DEFAULT '',
        is_default_subgroup INTEGER NOT NULL DEFAULT 0,
        picture_id TEXT NOT NULL DEFAULT '',
        picture BLOB,
        version INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX groups_invite ON groups (invite_code);
    CREATE INDEX groups_parent ON groups (parent);
    CREATE TABLE group_members (
        group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
        phone TEXT NOT NULL,
        role TEXT NOT NULL DEFAULT '',
        added INTEGER NOT NULL,
        PRIMARY KEY (group_id, phone)
    );
    CREATE INDEX group_members_phone ON group_members (phone);
    CREATE TABLE group_requests (
        group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
        phone TEXT NOT NULL,
        requested INTEGER NOT NULL,
        PRIMARY KEY (group_id, phone)
    );
    CREATE TABLE group_revoked_invites (
        code TEXT PRIMARY KEY,
        group_id TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE group_add_requests (
        code TEXT PRIMARY KEY,
        group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
        phone TEXT NOT NULL,
        inviter TEXT NOT NULL,
        expiration INTEGER NOT NULL
    )
    """,
)

ROLE_MEMBER = ""
ROLE_ADMIN = "admin"
ROLE_SUPERADMIN = "superadmin"

_COLUMNS = (
    "id",
    "subject",
    "subject_owner",
    "subject_time",
    "creator",
    "created",
    "description",
    "description_id",
    "description_owner",
    "description_time",
    "announce",
    "locked",
    "join_approval",
    "member_add_mode",
    "ephemeral",
    "addressing_mode",
    "invite_code",
    "is_parent",
    "default_approval",
    "parent",
    "is_default_subgroup",
    "picture_id",
    "version",
)
_BOOLS = frozenset({"announce", "locked", "join_approval", "is_parent", "is_default_subgroup"})


@dataclass(frozen=True, slots=True)
class Group:
    """A group row (``id`` is the user part of ``id@g.us``; people are account phones)."""

    id: str
    subject: str
    subject_owner: str
    subject_time: int
    creator: str
    created: int
    description: str = ""
    description_id: str = ""
    description_owner: str = ""
    description_time: int = 0
    announce: bool = False
    locked: bool = False
    join_approval: bool = False
    member_add_mode: str = "all_member_add"
    ephemeral: int = 0
    addressing_mode: str = "lid"
    invite_code: str = field(default_factory=lambda: new_invite_code())
    is_parent: bool = False
    default_approval: str = ""
    parent: str = ""
    is_default_subgroup: bool = False
    picture_id: str = ""
    version: int = 0

    @property
    def jid(self) -> JID:
        """``id@g.us``."""
        return JID(self.id, GROUP_SERVER)

    @property
    def lid_addressed(self) -> bool:
        """Whether members are shown by LID."""
        return self.addressing_mode == "lid"


@dataclass(frozen=True, slots=True)
class Member:
    """A member of a group with its role and account."""

    account: Account
    role: str = ROLE_MEMBER
    added: int = 0

    @property
    def is_admin(self) -> bool:
        """Admin or super admin."""
        return self.role in (ROLE_ADMIN, ROLE_SUPERADMIN)


def new_group_id() -> str:
    """A fresh group id in WhatsApp's current form (18 digits starting ``120363``)."""
    return "120363" + "".join(str(secrets.randbelow(10)) for _ in range(12))


def new_invite_code() -> str:
    """A fresh invite code (22 URL-safe characters)."""
    return secrets.token_urlsafe(16)[:22]


def _group(row: sqlite3.Row | tuple[object, ...] | None) -> Group | None:
    if row is None:
        return None
    values = dict(zip(_COLUMNS, row, strict=True))
    for name in _BOOLS:
        values[name] = bool(values[name])
    return Group(**values)


def get_group(db: sqlite3.Connection, group_id: str) -> Group | None:
    """The group ``group_id``, or ``None``."""
    return _group(
        db.execute(f"SELECT {', '.join(_COLUMNS)} FROM groups WHERE id = ?", (group_id,)).fetchone()
    )


def group_by_invite(db: sqlite3.Connection, code: str) -> Group | None:
    """The group whose current invite code is ``code``."""
    return _group(
        db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM groups WHERE invite_code = ?", (code,)
        ).fetchone()
    )


def revoked_invite(db: sqlite3.Connection, code: str) -> bool:
    """Whether ``code`` was an invite code that has since been reset."""
    return (
        db.execute("SELECT 1 FROM group_revoked_invites WHERE code = ?", (code,)).fetchone()
        is not None
    )


def insert_group(db: sqlite3.Connection, group: Group) -> None:
    """Store a new group."""
    values = [getattr(group, c) for c in _COLUMNS]
    values = [int(v) if isinstance(v, bool) else v for v in values]
    db.execute(
        f"INSERT INTO groups ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
        values,
    )


def update_group(db: sqlite3.Connection, group: Group, **changes: Any) -> Group:
    """Change columns of ``group`` (a reset invite code is remembered as revoked)."""
    if "invite_code" in changes and changes["invite_code"] != group.invite_code:
        db.execute(
            "INSERT OR REPLACE INTO group_revoked_invites (code, group_id) VALUES (?, ?)",
            (group.invite_code, group.id),
        )
    new = replace(group, **changes)
    names = list(changes)
    values = [int(v) if isinstance(v, bool) else v for v in (getattr(new, n) for n in names)]
    db.execute(
        f"UPDATE groups SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?",
        [*values, group.id],
    )
    return new


def set_picture(
    db: sqlite3.Connection, group: Group, picture_id: str, picture: bytes | None
) -> Group:
    """Store (or clear) the group photo."""
    db.execute(
        "UPDATE groups SET picture_id = ?, picture = ? WHERE id = ?",
        (picture_id, picture, group.id),
    )
    return replace(group, picture_id=picture_id)


def picture_of(db: sqlite3.Connection, group_id: str) -> tuple[str, bytes] | None:
    """The photo id and bytes of a group, when it has one."""
    row = db.execute("SELECT picture_id, picture FROM groups WHERE id = ?", (group_id,)).fetchone()
    if row is None or not row[0] or row[1] is None:
        return None
    return str(row[0]), bytes(row[1])


def members_of(db: sqlite3.Connection, group_id: str) -> list[Member]:
    """The members of a group, oldest first."""
    members: list[Member] = []
    for phone, role, added in db.execute(
        "SELECT phone, role, added FROM group_members WHERE group_id = ? ORDER BY added, rowid",
        (group_id,),
    ).fetchall():
        account = account_by_phone(db, phone)
        if account is not None:
            members.append(Member(account, role, added))
    return members


def member(db: sqlite3.Connection, group_id: str, phone: str) -> Member | None:
    """The membership of ``phone`` in a group, or ``None``."""
    row = db.execute(
        "SELECT role, added FROM group_members WHERE group_id = ? AND phone = ?", (group_id, phone)
    ).fetchone()
    account = account_by_phone(db, phone) if row is not None else None
    return None if row is None or account is None else Member(account, row[0], row[1])


def add_member(db: sqlite3.Connection, group_id: str, phone: str, role: str, now: int) -> None:
    """Make ``phone`` a member (or change its role)."""
    db.execute(
        "INSERT OR REPLACE INTO group_members (group_id, phone, role, added) VALUES (?, ?, ?, ?)",
        (group_id, phone, role, now),
    )
    db.execute("DELETE FROM group_requests WHERE group_id = ? AND phone = ?", (group_id, phone))
    db.execute("UPDATE groups SET version = version + 1 WHERE id = ?", (group_id,))
    _remember_peers(db, group_id, phone)


def _remember_peers(db: sqlite3.Connection, group_id: str, phone: str) -> None:
    """Record the new member and the others as chat peers of each other in the message
    router's ``chat_peers`` table, so a device one of them pairs later is announced to the
    others (``<notification type="devices">``) and gets their sender keys."""
    others = [
        r[0]
        for r in db.execute(
            "SELECT phone FROM group_members WHERE group_id = ? AND phone != ?", (group_id, phone)
        )
    ]
    pairs = [(phone, o) for o in others] + [(o, phone) for o in others]
    with contextlib.suppress(sqlite3.OperationalError):  # no message router (no table)
        db.executemany("INSERT OR IGNORE INTO chat_peers (phone, peer) VALUES (?, ?)", pairs)


def refuses_adds(db: sqlite3.Connection, phone: str) -> bool:
    """Whether the account's ``groupadd`` privacy setting is ``none`` (nobody may add it:
    admins get an ``add_request`` to send as an invite message instead)."""
    try:
        row = db.execute(
            "SELECT value FROM users_privacy WHERE phone = ? AND name = 'groupadd'", (phone,)
        ).fetchone()
    except sqlite3.OperationalError:  # the users area (its table) is not installed
        return False
    return row is not None and row[0] == "none"


INVITE_SECONDS = 3 * 24 * 3600
"""How long an ``add_request`` (invite message) code stays valid."""


def new_add_request(
    db: sqlite3.Connection, group_id: str, phone: str, inviter: str, now: int
) -> tuple[str, int]:
    """An invite-message code for ``phone`` to join; returns the code and its expiration."""
    code = new_invite_code()
    expiration = now + INVITE_SECONDS
    db.execute(
        "INSERT INTO group_add_requests (code, group_id, phone, inviter, expiration) "
        "VALUES (?, ?, ?, ?, ?)",
        (code, group_id, phone, inviter, expiration),
    )
    return code, expiration


def add_request_of(
    db: sqlite3.Connection, group_id: str, code: str, phone: str
) -> tuple[str, int] | None:
    """The inviter and expiration of ``phone``'s invite-message code for a group."""
    row = db.execute(
        "SELECT inviter, expiration FROM group_add_requests WHERE code = ? AND "
        "group_id = ? AND phone = ?",
        (code, group_id, phone),
    ).fetchone()
    return None if row is None else (str(row[0]), int(row[1]))


def drop_add_requests(db: sqlite3.Connection, group_id: str, phone: str) -> None:
    """Forget the invite-message codes of ``phone`` for a group (it joined)."""
    db.execute("DELETE FROM group_add_requests WHERE group_id = ? AND phone = ?", (group_id, phone))


def remove_member(db: sqlite3.Connection, group_id: str, phone: str) -> bool:
    """Remove ``phone`` from a group; whether it was a member."""
    cursor = db.execute(
        "DELETE FROM group_members WHERE group_id = ? AND phone = ?", (group_id, phone)
    )
    db.execute("UPDATE groups SET version = version + 1 WHERE id = ?", (group_id,))
    return cursor.rowcount > 0


def set_role(db: sqlite3.Connection, group_id: str, phone: str, role: str) -> None:
    """Change a member's role."""
    db.execute(
        "UPDATE group_members SET role = ? WHERE group_id = ? AND phone = ?",
        (role, group_id, phone),
    )


def groups_of(db: sqlite3.Connection, phone: str) -> list[Group]:
    """The groups ``phone`` is a member of."""
    rows = db.execute(
        f"SELECT {', '.join('g.' + c for c in _COLUMNS)} FROM groups g JOIN group_members m "
        "ON m.group_id = g.id WHERE m.phone = ? ORDER BY g.created, g.id",
        (phone,),
    ).fetchall()
    return [g for g in map(_group, rows) if g is not None]


def subgroups_of(db: sqlite3.Connection, parent: str) -> list[Group]:
    """The groups linked to the community ``parent``."""
    rows = db.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM groups WHERE parent = ? ORDER BY created, id", (parent,)
    ).fetchall()
    return [g for g in map(_group, rows) if g is not None]


def add_request(db: sqlite3.Connection, group_id: str, phone: str, now: int) -> bool:
    """Record a join request; whether it is new."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO group_requests (group_id, phone, requested) VALUES (?, ?, ?)",
        (group_id, phone, now),
    )
    return cursor.rowcount > 0


def delete_request(db: sqlite3.Connection, group_id: str, phone: str) -> bool:
    """Drop a join request; whether there was one."""
    cursor = db.execute(
        "DELETE FROM group_requests WHERE group_id = ? AND phone = ?", (group_id, phone)
    )
    return cursor.rowcount > 0


def requests_of(db: sqlite3.Connection, group_id: str) -> list[tuple[Account, int]]:
    """Pending join requests with their times, oldest first."""
    out: list[tuple[Account, int]] = []
    for phone, requested in db.execute(
        "SELECT phone, requested FROM group_requests WHERE group_id = ? ORDER BY requested, rowid",
        (group_id,),
    ).fetchall():
        account = account_by_phone(db, phone)
        if account is not None:
            out.append((account, requested))
    return out


# --- rendering -------------------------------------------------------------------------------


def user_jid(account: Account, lid: bool) -> JID:
    """An account's user JID in LID or phone-number form."""
    return JID(account.lid, LID_SERVER) if lid else JID(account.phone, USER_SERVER)


def person_attrs(account: Account, lid: bool, name: str = "jid") -> dict[str, AttrValue]:
    """``jid`` plus the other form (``phone_number`` or ``lid``), as group elements carry."""
    if lid:
        return {name: user_jid(account, True), "phone_number": user_jid(account, False)}
    return {name: user_jid(account, False), "lid": user_jid(account, True)}


def render_participant(member: Member, lid: bool, *, with_role: bool = True) -> Node:
    """``<participant jid [phone_number|lid] [type]>``."""
    attrs = person_attrs(member.account, lid)
    if with_role and member.role:
        attrs["type"] = member.role
    return Node("participant", attrs)


def render_group(
    group: Group,
    members: list[Member],
    accounts: dict[str, Account],
    *,
    participants: bool = True,
    description: bool = True,
) -> Node:
    """The ``<group>`` element of ``group``; ``accounts`` resolves the phones it names."""
    lid = group.lid_addressed
    attrs: dict[str, AttrValue] = {
        "id": group.id,
        "subject": group.subject,
        "s_t": str(group.subject_time),
        "creation": str(group.created),
        "size": str(len(members)),
        "p_v_id": str(group.version),
        "addressing_mode": group.addressing_mode,
    }
    for prefix, phone in (("s_o", group.subject_owner), ("creator", group.creator)):
        account = accounts.get(phone)
        if account is not None:
            attrs[prefix] = user_jid(account, lid)
            if lid:
                attrs[f"{prefix}_pn"] = user_jid(account, False)
    children: list[Node] = []
    if participants:
        children += [render_participant(m, lid) for m in members]
    if description and group.description:
        desc_attrs: dict[str, AttrValue] = {
            "id": group.description_id,
            "t": str(group.description_time),
        }
        owner = accounts.get(group.description_owner)
        if owner is not None:
            desc_attrs["participant"] = user_jid(owner, lid)
            if lid:
                desc_attrs["participant_pn"] = user_jid(owner, False)
        children.append(
            Node("description", desc_attrs, [Node("body", {}, group.description.encode())])
        )
    if group.announce:
        children.append(Node("announcement"))
    if group.locked:
        children.append(Node("locked"))
    if group.ephemeral:
        children.append(Node("ephemeral", {"expiration": str(group.ephemeral)}))
    children.append(Node("member_add_mode", {}, group.member_add_mode.encode()))
    if group.join_approval:
        children.append(Node("membership_approval_mode", {}, [Node("group_join", {"state": "on"})]))
    if group.is_parent:
        children.append(
            Node(
                "parent",
                {"default_membership_approval_mode": group.default_approval or "request_required"},
            )
        )
    if group.parent:
        children.append(Node("linked_parent", {"jid": JID(group.parent, GROUP_SERVER)}))
    if group.is_default_subgroup:
        children.append(Node("default_sub_group"))
    return Node("group", attrs, children)
