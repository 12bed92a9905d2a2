"""The client side of groups: the :class:`Groups` object a :class:`~wamd.client.Client` owns.

It sends the ``w:g2`` IQs of :mod:`wamd.groups.stanzas` and turns refusals into typed errors
(:class:`~wamd.errors.GroupNotFound` 404, :class:`~wamd.errors.NotInGroup` 403,
:class:`~wamd.errors.NotGroupAdmin` 401, :class:`~wamd.errors.InviteLinkInvalid` 406,
:class:`~wamd.errors.InviteLinkRevoked` 410, else :class:`~wamd.errors.GroupError`); it handles
``<notification type="w:gp2">`` (and group ``picture`` notifications): keeps its group cache
current and records each one in the durable inbox (:mod:`wamd.messaging.notices`); when a
member leaves or is removed, the same transaction drops this device's sender key of the group
and marks it for rotation. Only then is the notification acked and
:class:`~wamd.groups.events.JoinedGroup` / :class:`~wamd.groups.events.GroupInfoChanged`
dispatched (again after a crash, ``redelivered=True``, until a handler finished it).

The rotation mark (:data:`ROTATE_MARK`, a row of the sender-key distribution record) stays
until the next group send drops the key under the group's lock: a send that was encrypting
with the old key while the removal was committed cannot bring it back, even across a kill -9.
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from wamd.binary import Node
from wamd.errors import (
    GroupError,
    GroupNotFound,
    InvalidJID,
    InviteLinkInvalid,
    InviteLinkRevoked,
    IQError,
    MalformedNode,
    NotGroupAdmin,
    NotInGroup,
    SendError,
)
from wamd.groups import stanzas
from wamd.groups.events import (
    GroupInfoChanged,
    JoinedGroup,
    parse_group_notification,
    parse_picture_notification,
)
from wamd.groups.send import GroupLocks, send_group_message
from wamd.groups.types import (
    INVITE_LINK_PREFIX,
    GroupInfo,
    GroupParticipant,
    JoinRequest,
    MemberAddMode,
    ParticipantAction,
    RequestAction,
    SubGroup,
)
from wamd.messaging.notices import StanzaKind
from wamd.messaging.send import SendResult
from wamd.proto import e2e_pb2
from wamd.store import Transaction
from wamd.types import GROUP_SERVER, JID

if TYPE_CHECKING:
    from wamd.client import Client

__all__ = ["GROUP_KIND", "ROTATE_MARK", "GroupCache", "Groups", "invite_message", "typed_error"]

log = logging.getLogger("wamd.groups")

GROUP_KIND = "group"
"""The inbox kind of group notifications."""
ROTATE_MARK = "rotate"
"""A pseudo device in a group's sender-key distribution record: our sender key of the group
must be replaced before the next send (a member left or was removed)."""

_ERRORS: dict[int, type[GroupError]] = {
    401: NotGroupAdmin,
    403: NotInGroup,
    404: GroupNotFound,
    406: InviteLinkInvalid,
    410: InviteLinkRevoked,
}


def typed_error(exc: IQError) -> GroupError:
    """The :class:`~wamd.errors.GroupError` subclass for a refused group IQ."""
    cls = _ERRORS.get(exc.code, GroupError)
    return cls(exc.code, exc.text, exc.node)


class GroupCache:
    """The latest :class:`GroupInfo` seen per group (bounded, least recently used dropped).

    Answers to info requests fill it; notifications that change a group drop its entry so
    the next group send asks the server again.
    """

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._items: OrderedDict[JID, GroupInfo] = OrderedDict()

    def __repr__(self) -> str:
        return f"GroupCache({len(self._items)} groups)"

    def __len__(self) -> int:
        return len(self._items)

    def get(self, group: JID) -> GroupInfo | None:
        """The cached info of ``group``, if any."""
        info = self._items.get(group)
        if info is not None:
            self._items.move_to_end(group)
        return info

    def put(self, info: GroupInfo) -> None:
        """Remember ``info``."""
        self._items[info.jid] = info
        self._items.move_to_end(info.jid)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def forget(self, group: JID) -> None:
        """Drop what is cached about ``group``."""
        self._items.pop(group, None)


class Groups:
    """Group operations of one client (``client.groups``); see the module docstring.

    Every method needs a logged-in connection (:class:`~wamd.errors.NotConnected`) and may
    raise :class:`~wamd.errors.IQTimeout`; refusals raise the typed errors above, malformed
    answers :class:`~wamd.errors.MalformedNode`.
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self.cache = GroupCache()
        """Group infos seen (used by group sends)."""
        self._locks = GroupLocks()
        self.kind = StanzaKind(GROUP_KIND, _parse_notification, self._record_effect)
        """How group notifications go through the durable inbox."""
        client.messaging.register_kind(self.kind)
        client.add_node_handler("notification", self._on_notification, _is_group_notification)

    def __repr__(self) -> str:
        return f"Groups({self.cache!r})"

    async def _request(self, node: Node) -> Node:
        try:
            return await self._client.request(node)
        except GroupError:
            raise
        except IQError as exc:
            raise typed_error(exc) from exc

    # --- creating and reading ----------------------------------------------------------------

    async def create(
        self,
        subject: str,
        participants: Iterable[JID],
        *,
        announce: bool = False,
        locked: bool = False,
        join_approval: bool = False,
        member_add_mode: MemberAddMode = MemberAddMode.ALL_MEMBERS,
        ephemeral_timer: int = 0,
        linked_parent: JID | None = None,
        key: str | None = None,
    ) -> GroupInfo:
        """Create a group with ``participants`` (this account is added as its super admin).

        ``linked_parent`` creates it inside that community. Members the server could not add
        carry an ``error`` in the returned participants.
        """
        answer = await self._request(
            stanzas.create_request(
                subject,
                participants,
                key=key or _new_id(),
                announce=announce,
                locked=locked,
                join_approval=join_approval,
                member_add_mode=member_add_mode,
                ephemeral_timer=ephemeral_timer,
                linked_parent=linked_parent,
            )
        )
        info = stanzas.parse_group_answer(answer)
        self.cache.put(info)
        return info

    async def create_community(
        self,
        subject: str,
        participants: Iterable[JID] = (),
        *,
        default_membership_approval_mode: str = "request_required",
        key: str | None = None,
    ) -> GroupInfo:
        """Create a community (a parent group); link groups into it with :meth:`link`."""
        answer = await self._request(
            stanzas.create_request(
                subject,
                participants,
                key=key or _new_id(),
                community=True,
                default_membership_approval_mode=default_membership_approval_mode,
            )
        )
        info = stanzas.parse_group_answer(answer)
        self.cache.put(info)
        return info

    async def info(self, group: JID) -> GroupInfo:
        """The group's current info: participants with admin flags, subject, description,
        settings (:class:`~wamd.errors.GroupNotFound`, :class:`~wamd.errors.NotInGroup`)."""
        info = stanzas.parse_group_answer(await self._request(stanzas.info_request(group)))
        if info.jid.to_non_ad() != group.to_non_ad():
            raise MalformedNode(f"asked about {group}, the server answered about {info.jid}")
        self.cache.put(info)
        return info

    async def cached_info(self, group: JID) -> GroupInfo:
        """The cached info of ``group``, asking the server when there is none."""
        info = self.cache.get(group)
        return info if info is not None else await self.info(group)

    async def joined(self) -> list[GroupInfo]:
        """Every group this account is in."""
        infos = stanzas.parse_groups(await self._request(stanzas.participating_request()))
        for info in infos:
            self.cache.put(info)
        return infos

    # --- members -----------------------------------------------------------------------------

    async def update_participants(
        self, group: JID, jids: Iterable[JID], action: ParticipantAction | str
    ) -> list[GroupParticipant]:
        """Add, remove, promote or demote members; one result per participant (``error``
        set where it failed: 409 already a member, 404 not a member or no such user, 403
        refused by the user's privacy settings)."""
        kind = ParticipantAction(action)
        answer = await self._request(stanzas.participants_request(group, kind, jids))
        self.cache.forget(group)
        results = stanzas.parse_participant_results(answer, kind.value)
        if kind is ParticipantAction.REMOVE and any(r.ok for r in results):
            await self._drop_sender_key(group)  # the removed devices hold the current one
        return results

    async def add(self, group: JID, jids: Iterable[JID]) -> list[GroupParticipant]:
        """Add members (see :meth:`update_participants`)."""
        return await self.update_participants(group, jids, ParticipantAction.ADD)

    async def remove(self, group: JID, jids: Iterable[JID]) -> list[GroupParticipant]:
        """Remove members (see :meth:`update_participants`)."""
        return await self.update_participants(group, jids, ParticipantAction.REMOVE)

    async def promote(self, group: JID, jids: Iterable[JID]) -> list[GroupParticipant]:
        """Make members admins (see :meth:`update_participants`)."""
        return await self.update_participants(group, jids, ParticipantAction.PROMOTE)

    async def demote(self, group: JID, jids: Iterable[JID]) -> list[GroupParticipant]:
        """Take admin rights away (see :meth:`update_participants`)."""
        return await self.update_participants(group, jids, ParticipantAction.DEMOTE)

    async def leave(self, group: JID) -> None:
        """Leave ``group`` (this device's sender key for it is dropped)."""
        await self._request(stanzas.leave_request([group]))
        self.cache.forget(group)
        await self._drop_sender_key(group)

    # --- info and settings -------------------------------------------------------------------

    async def set_subject(self, group: JID, subject: str) -> None:
        """Rename the group (admins only when the group is locked)."""
        await self._request(stanzas.subject_request(group, subject))
        self.cache.forget(group)

    async def set_description(
        self, group: JID, description: str, *, previous_id: str | None = None
    ) -> str:
        """Set (or, with ``""``, delete) the description; returns its new id. The current
        description's id is asked from the server unless ``previous_id`` is given."""
        if previous_id is None:
            previous_id = (await self.info(group)).description_id
        new_id = _new_id()
        await self._request(
            stanzas.description_request(group, description, new_id=new_id, previous_id=previous_id)
        )
        self.cache.forget(group)
        return new_id

    async def set_photo(self, group: JID, jpeg: bytes | None) -> str:
        """Set the group photo (JPEG bytes) or remove it (``None``); returns the new picture
        id (``""`` after a removal)."""
        answer = await self._request(stanzas.photo_request(group, jpeg))
        return stanzas.parse_picture_id(answer) if jpeg is not None else ""

    async def set_announce(self, group: JID, announce: bool) -> None:
        """Only admins may send (``True``), or everyone (``False``)."""
        await self._setting(group, "announcement" if announce else "not_announcement")

    async def set_locked(self, group: JID, locked: bool) -> None:
        """Only admins may edit the group info (``True``), or everyone (``False``)."""
        await self._setting(group, "locked" if locked else "unlocked")

    async def _setting(self, group: JID, tag: str) -> None:
        await self._request(stanzas.setting_request(group, tag))
        self.cache.forget(group)

    async def set_join_approval(self, group: JID, enabled: bool) -> None:
        """Require an admin's approval for joins by link."""
        await self._request(stanzas.join_approval_request(group, enabled))
        self.cache.forget(group)

    async def set_member_add_mode(self, group: JID, mode: MemberAddMode | str) -> None:
        """Who may add members (:class:`~wamd.groups.types.MemberAddMode`)."""
        await self._request(stanzas.member_add_mode_request(group, MemberAddMode(mode)))
        self.cache.forget(group)

    async def set_ephemeral(self, group: JID, seconds: int) -> None:
        """Set the disappearing-messages timer (0 turns it off)."""
        await self._request(stanzas.ephemeral_request(group, seconds))
        self.cache.forget(group)

    # --- invites and join requests -----------------------------------------------------------

    async def invite_link(self, group: JID, *, reset: bool = False) -> str:
        """The invite link (``https://chat.whatsapp.com/CODE``); ``reset=True`` revokes the
        current one first (admins only: :class:`~wamd.errors.NotGroupAdmin`)."""
        answer = await self._request(stanzas.invite_code_request(group, reset=reset))
        return INVITE_LINK_PREFIX + stanzas.parse_invite_code(answer)

    async def info_from_link(self, link_or_code: str) -> GroupInfo:
        """What group an invite link leads to, without joining
        (:class:`~wamd.errors.InviteLinkInvalid`, :class:`~wamd.errors.InviteLinkRevoked`)."""
        return stanzas.parse_group_answer(
            await self._request(stanzas.invite_info_request(link_or_code))
        )

    async def join_with_link(self, link_or_code: str) -> stanzas.JoinResult:
        """Join by invite link; ``pending_approval`` is set when an admin must approve."""
        result = stanzas.parse_join(await self._request(stanzas.join_request(link_or_code)))
        self.cache.forget(result.jid)
        return result

    async def info_from_invite(self, invite: e2e_pb2.GroupInviteMessage, inviter: JID) -> GroupInfo:
        """What group an invite message (``message.group_invite_message`` received from
        ``inviter``) leads to, without joining."""
        group, code, expiration = _invite_parts(invite)
        return stanzas.parse_group_answer(
            await self._request(
                stanzas.invite_message_info_request(group, inviter, code, expiration)
            )
        )

    async def join_with_invite(self, invite: e2e_pb2.GroupInviteMessage, inviter: JID) -> JID:
        """Join the group of an invite message received from ``inviter``; returns the group
        (:class:`~wamd.errors.NotGroupAdmin` 401 when the code is not valid for this account,
        :class:`~wamd.errors.InviteLinkRevoked` 410 when it expired)."""
        group, code, expiration = _invite_parts(invite)
        await self._request(stanzas.accept_invite_message_request(group, inviter, code, expiration))
        self.cache.forget(group)
        return group

    async def community_participants(self, community: JID) -> list[GroupParticipant]:
        """The members of every group of ``community``."""
        return stanzas.parse_community_participants(
            await self._request(stanzas.community_participants_request(community))
        )

    async def join_requests(self, group: JID) -> list[JoinRequest]:
        """The pending join requests (admins only)."""
        return stanzas.parse_join_requests(
            await self._request(stanzas.join_requests_request(group))
        )

    async def update_join_requests(
        self, group: JID, jids: Iterable[JID], action: RequestAction | str
    ) -> list[GroupParticipant]:
        """Approve or reject pending requests; one result per participant."""
        kind = RequestAction(action)
        answer = await self._request(stanzas.join_requests_action_request(group, kind, jids))
        self.cache.forget(group)
        return stanzas.parse_participant_results(answer, kind.value)

    # --- communities -------------------------------------------------------------------------

    async def link(self, parent: JID, child: JID) -> None:
        """Link the group ``child`` into the community ``parent``."""
        await self._request(stanzas.link_request(parent, child))
        self.cache.forget(child)

    async def unlink(self, parent: JID, child: JID) -> None:
        """Unlink the group ``child`` from the community ``parent``."""
        await self._request(stanzas.unlink_request(parent, child))
        self.cache.forget(child)

    async def subgroups(self, parent: JID) -> list[SubGroup]:
        """The groups linked to the community ``parent``."""
        return stanzas.parse_subgroups(await self._request(stanzas.subgroups_request(parent)))

    # --- messages ----------------------------------------------------------------------------

    async def send_message(
        self, group: JID, message: e2e_pb2.Message, *, id: str | None = None
    ) -> SendResult:
        """Send ``message`` to every member device of ``group`` with this device's sender key
        (see :mod:`wamd.groups.send`). Raises :class:`~wamd.errors.SendError` when the server
        refuses it (403: not a member, or announce mode and not an admin),
        :class:`~wamd.errors.IQTimeout`, :class:`~wamd.errors.NotConnected`, and the group
        errors of :meth:`info` when the members cannot be read."""
        ctx = self._client.messaging.context()
        info = await self.cached_info(group)
        try:
            result = await send_group_message(
                ctx,
                info,
                message,
                self._locks.get(group),
                message_id=id,
                prepare=lambda: self._rotate_if_stale(group),
            )
        except SendError:
            self.cache.forget(group)
            raise
        if result.server_phash is not None:
            self.cache.forget(group)
        return result

    # --- notifications -----------------------------------------------------------------------

    async def _on_notification(self, node: Node) -> None:
        try:
            event = _parse_notification(node)
        except MalformedNode:
            event = None  # the recorder logs it and acks it with an error
        if isinstance(event, JoinedGroup):
            self.cache.put(event.group)
        elif isinstance(event, GroupInfoChanged):
            self.cache.forget(event.group)
        await self._client.messaging.record(node, self.kind)

    async def _record_effect(self, tx: Transaction, event: JoinedGroup | GroupInfoChanged) -> None:
        """In the transaction of the notification's inbox entry: a member left or was
        removed, so its devices hold our current sender key. Drop it and mark the group: the
        next message uses a new key, sent to the remaining devices only."""
        if not isinstance(event, GroupInfoChanged) or not event.removed:
            return
        await self._delete_own_key(tx, event.group)
        await tx.sender_key_distribution.mark_sent(str(event.group), [ROTATE_MARK])

    async def _rotate_if_stale(self, group: JID) -> None:
        """Drop our sender key of ``group`` if a removal marked it (group lock held)."""
        account = self._client.device.account
        if ROTATE_MARK in await account.sender_key_distribution.sent_to(str(group)):
            await self._drop_locked(group)

    async def _drop_sender_key(self, group: JID) -> None:
        """Forget this device's sender key of ``group`` and who received it: the next group
        message creates a new key and distributes it to every member device."""
        async with self._locks.get(group):
            await self._drop_locked(group)

    async def _drop_locked(self, group: JID) -> None:
        device = self._client.device
        if not device.loaded:
            return
        async with device.account.transaction() as tx:
            await self._delete_own_key(tx, group)
            await tx.sender_key_distribution.clear(str(group))

    async def _delete_own_key(self, tx: Transaction, group: JID) -> None:
        creds = self._client.device.credentials
        for jid in (creds.jid, creds.lid):
            if jid:
                await tx.sender_keys.delete(str(group), JID.parse(jid).signal_address)


def invite_message(
    group: GroupInfo | JID,
    participant: GroupParticipant,
    *,
    subject: str = "",
    caption: str = "",
    jpeg_thumbnail: bytes = b"",
) -> e2e_pb2.Message:
    """The ``GroupInviteMessage`` to send (1:1) to a user whose add was refused with an
    ``add_request`` (their privacy settings): they join with :meth:`Groups.join_with_invite`."""
    request = participant.add_request
    if request is None:
        raise ValueError(f"no add request for {participant.jid}: nothing to invite with")
    jid = group.jid if isinstance(group, GroupInfo) else group
    message = e2e_pb2.Message()
    invite = message.group_invite_message
    invite.group_jid = str(jid)
    invite.invite_code = request.code
    invite.invite_expiration = (
        int(request.expiration.timestamp()) if request.expiration is not None else 0
    )
    invite.group_name = subject or (group.subject if isinstance(group, GroupInfo) else "")
    if caption:
        invite.caption = caption
    if jpeg_thumbnail:
        invite.jpeg_thumbnail = jpeg_thumbnail
    return message


def _invite_parts(invite: e2e_pb2.GroupInviteMessage) -> tuple[JID, str, int]:
    try:
        group = JID.parse(invite.group_jid)
    except InvalidJID as exc:
        raise ValueError(f"invite message with a bad group {invite.group_jid!r}") from exc
    if group.server != GROUP_SERVER or not invite.invite_code:
        raise ValueError("not a group invite message")
    return group, invite.invite_code, invite.invite_expiration


def _parse_notification(node: Node) -> JoinedGroup | GroupInfoChanged | None:
    if node.attrs.get("type") == "picture":
        return parse_picture_notification(node)
    return parse_group_notification(node)


def _is_group_notification(node: Node) -> bool:
    kind = node.attrs.get("type")
    if kind == "w:gp2":
        return True
    if kind == "picture":
        origin = node.attrs.get("from")
        return str(origin).endswith("@" + GROUP_SERVER)
    return False


def _new_id() -> str:
    return secrets.token_hex(8).upper()
