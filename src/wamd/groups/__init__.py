"""Groups and communities: the ``w:g2`` requests, group events, and (with
:mod:`wamd.messaging`) sender-key group messages.

Applications use them through the client (``client.groups`` or the ``Client`` shortcuts);
see docs/groups.md.
"""

from __future__ import annotations

from wamd.groups.client import GroupCache, Groups, invite_message
from wamd.groups.events import GroupInfoChanged, JoinedGroup
from wamd.groups.stanzas import JoinResult
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

__all__ = [
    "INVITE_LINK_PREFIX",
    "AddRequest",
    "AddressingMode",
    "GroupCache",
    "GroupInfo",
    "GroupInfoChanged",
    "GroupParticipant",
    "Groups",
    "JoinRequest",
    "JoinResult",
    "JoinedGroup",
    "MemberAddMode",
    "ParticipantAction",
    "RequestAction",
    "SubGroup",
    "invite_message",
]
