"""Value objects of the group API: :class:`GroupInfo`, :class:`GroupParticipant` and friends.

They are frozen dataclasses built by the parsers in :mod:`wamd.groups.stanzas` from the
server's ``<group>`` elements (field names follow what the elements carry; see
docs/groups.md for the wire shapes).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from wamd.types import JID

__all__ = [
    "INVITE_LINK_PREFIX",
    "AddRequest",
    "AddressingMode",
    "GroupInfo",
    "GroupParticipant",
    "JoinRequest",
    "MemberAddMode",
    "ParticipantAction",
    "RequestAction",
    "SubGroup",
]

INVITE_LINK_PREFIX = "https://chat.whatsapp.com/"
"""Invite links are this prefix followed by the invite code."""


class ParticipantAction(enum.StrEnum):
    """What :meth:`~wamd.groups.Groups.update_participants` does (the request's child tag)."""

    ADD = "add"
    REMOVE = "remove"
    PROMOTE = "promote"
    DEMOTE = "demote"


class RequestAction(enum.StrEnum):
    """What to do with pending join requests."""

    APPROVE = "approve"
    REJECT = "reject"


class MemberAddMode(enum.StrEnum):
    """Who may add members: admins only, or every member."""

    ADMIN = "admin_add"
    ALL_MEMBERS = "all_member_add"


class AddressingMode(enum.StrEnum):
    """How a group names its members: phone numbers or LIDs."""

    PN = "pn"
    LID = "lid"


@dataclass(frozen=True, slots=True)
class AddRequest:
    """An invitation the server created when a user could not be added directly."""

    code: str
    expiration: datetime | None = None


@dataclass(frozen=True, slots=True)
class GroupParticipant:
    """A member of a group, or one entry of a per-participant result.

    ``jid`` is the identity the group uses (a LID in LID-addressed groups, else the phone
    number); ``phone_number`` and ``lid`` give both forms when the server said them. In the
    answer to an add/remove/promote/demote or a join-request action, ``error`` is the
    per-participant status (0: done; e.g. 403 the user's privacy settings refuse, 404 not a
    member or unknown user, 409 already a member) and ``add_request`` the invitation the server
    created instead of adding.
    """

    jid: JID
    phone_number: JID | None = None
    lid: JID | None = None
    is_admin: bool = False
    is_super_admin: bool = False
    display_name: str = ""
    error: int = 0
    add_request: AddRequest | None = None

    @property
    def ok(self) -> bool:
        """Whether the action succeeded for this participant (no ``error``)."""
        return self.error == 0

    def is_user(self, jid: JID) -> bool:
        """Whether ``jid`` (any device, phone-number or LID form) names this participant."""
        return any(
            form is not None and form.user == jid.user and form.server == jid.server
            for form in (self.jid, self.phone_number, self.lid)
        )


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """What the server says about a group (``<group>``).

    Attributes:
        jid: the group (``id@g.us``).
        subject: its name; ``subject_owner`` / ``subject_owner_pn`` who set it and
            ``subject_time`` when.
        owner / owner_pn: who created it; ``created`` when.
        description: its description ("topic"); ``description_id`` the id to pass as the
            previous id when changing it; ``description_owner`` / ``description_time``.
        announce: only admins may send messages.
        locked: only admins may edit the group info.
        join_approval: joining by link needs an admin's approval.
        member_add_mode: who may add members (:class:`MemberAddMode`, or the raw string).
        ephemeral_timer: disappearing-messages timer in seconds (0: off).
        addressing_mode: how members are named (:class:`AddressingMode` or the raw string).
        is_community: the group is a community (a parent group);
            ``default_membership_approval_mode`` its default for subgroups.
        linked_parent: the community this group belongs to.
        is_default_subgroup: the community's announcement group.
        participants: the members with their admin flags.
        size: the member count the server said (else the number of participants listed).
        participant_version_id: the version of the member list.
    """

    jid: JID
    subject: str = ""
    subject_owner: JID | None = None
    subject_owner_pn: JID | None = None
    subject_time: datetime | None = None
    owner: JID | None = None
    owner_pn: JID | None = None
    created: datetime | None = None
    description: str = ""
    description_id: str = ""
    description_owner: JID | None = None
    description_time: datetime | None = None
    announce: bool = False
    locked: bool = False
    join_approval: bool = False
    member_add_mode: MemberAddMode | str | None = None
    ephemeral_timer: int = 0
    addressing_mode: AddressingMode | str = AddressingMode.PN
    is_community: bool = False
    default_membership_approval_mode: str = ""
    linked_parent: JID | None = None
    is_default_subgroup: bool = False
    is_incognito: bool = False
    suspended: bool = False
    participants: tuple[GroupParticipant, ...] = field(default=())
    size: int = 0
    participant_version_id: str = ""
    creator_country_code: str = ""

    def participant(self, jid: JID) -> GroupParticipant | None:
        """The member ``jid`` names (any device, either form), or ``None``."""
        for member in self.participants:
            if member.is_user(jid):
                return member
        return None

    @property
    def admins(self) -> tuple[GroupParticipant, ...]:
        """The members that are admins (super admins included)."""
        return tuple(p for p in self.participants if p.is_admin)

    @property
    def is_lid_addressed(self) -> bool:
        """Whether members are named by LID."""
        return self.addressing_mode == AddressingMode.LID


@dataclass(frozen=True, slots=True)
class JoinRequest:
    """A pending request to join a group (join approval mode)."""

    jid: JID
    requested_at: datetime | None = None
    phone_number: JID | None = None


@dataclass(frozen=True, slots=True)
class SubGroup:
    """A group linked to a community."""

    jid: JID
    subject: str = ""
    subject_time: datetime | None = None
    is_default_subgroup: bool = False
