"""Sending the user queries through a client, keeping the LID <-> phone-number map current.

Every answer that pairs a phone-number account with its LID (is-on-WhatsApp, user info, history
sync, app-state contacts) goes into the store's LID map, so that one contact is known under one
identity: the messaging layer takes its per-identity locks through that map and never mutates
two sessions of one contact concurrently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from wamd.binary import Node
from wamd.store import Account
from wamd.types import JID, LID_SERVER, USER_SERVER
from wamd.users import queries as q


class Requester(Protocol):
    """What :class:`UsersClient` needs: sending an IQ and getting its answer."""

    async def request(self, node: Node, *, timeout: float | None = None) -> Node: ...  # noqa: ASYNC109


async def remember_lid_pairs(account: Account, pairs: Iterable[tuple[JID, JID]]) -> int:
    """Store ``(lid, pn)`` pairs in the LID map (user parts only); returns how many."""
    rows = [
        (lid.user, pn.user) for lid, pn in pairs if lid.is_lid and pn.is_pn and lid.user and pn.user
    ]
    if rows:
        await account.lid_map.put_many(rows)
    return len(rows)


class UsersClient:
    """User, profile, blocklist and privacy operations for one account."""

    def __init__(self, client: Requester, account: Account | Callable[[], Account]) -> None:
        self._client = client
        self._get_account = account if callable(account) else (lambda: account)

    @property
    def _account(self) -> Account:
        # a client's account is loaded at connect: ask for it on every use
        return self._get_account()

    async def is_on_whatsapp(self, phones: Iterable[str]) -> list[q.OnWhatsApp]:
        """Which of these phone numbers have WhatsApp accounts (and their LIDs)."""
        phones = list(phones)
        if not phones:
            return []
        results = q.parse_is_on_whatsapp(
            await self._client.request(q.is_on_whatsapp_request(phones))
        )
        await remember_lid_pairs(
            self._account, [(r.lid, r.jid) for r in results if r.lid and r.jid]
        )
        return results

    async def user_info(self, jids: Iterable[JID]) -> dict[JID, q.UserInfo]:
        """Status text, picture id, devices and LID of users."""
        jids = list(jids)
        if not jids:
            return {}
        infos = q.parse_user_info(await self._client.request(q.user_info_request(jids)))
        await remember_lid_pairs(
            self._account, [(i.lid, i.jid) for i in infos.values() if i.lid is not None]
        )
        return infos

    async def lid_for(self, pn: JID) -> JID | None:
        """The LID of a phone-number user: from the store, else asked from the server."""
        known = await self._account.lid_map.lid_for_pn(pn.user)
        if known is not None:
            return JID(known, LID_SERVER)
        info = (await self.user_info([pn])).get(pn.to_non_ad())
        return info.lid if info is not None else None

    async def profile_picture(
        self, jid: JID, *, preview: bool = False, existing_id: str | None = None
    ) -> q.ProfilePicture | None:
        """Where ``jid``'s profile picture is (``None``: unchanged or not set).

        Raises :class:`~wamd.errors.IQError` 401 (not allowed to see it) or 404.
        """
        request = q.profile_picture_request(jid, preview=preview, existing_id=existing_id)
        return q.parse_profile_picture(await self._client.request(request))

    async def set_status(self, text: str) -> None:
        """Set one's own status ("about") text."""
        await self._client.request(q.set_status_request(text))

    async def business_profile(self, jid: JID) -> q.BusinessProfile | None:
        """``jid``'s business profile (``None`` when it is not a business)."""
        return q.parse_business_profile(await self._client.request(q.business_profile_request(jid)))

    async def blocklist(self) -> q.Blocklist:
        """The users one has blocked."""
        return q.parse_blocklist(await self._client.request(q.blocklist_request()))

    async def set_blocked(self, jid: JID, blocked: bool) -> q.Blocklist:
        """Block or unblock ``jid`` (a phone-number or LID user); returns the new list.

        The server names blocked users by LID; a phone number is translated through the LID
        map (asking the server when it is not known).
        """
        if jid.is_lid:
            lid = jid.to_non_ad()
            pn_user = await self._account.lid_map.pn_for_lid(lid.user)
            pn = JID(pn_user, USER_SERVER) if pn_user else None
        else:
            pn = jid.to_non_ad()
            found = await self.lid_for(pn)
            if found is None:
                raise ValueError(f"no LID known for {pn}: cannot change its block status")
            lid = found
        answer = await self._client.request(q.block_request(lid, block=blocked, pn=pn))
        return q.parse_blocklist(answer)

    async def privacy(self) -> dict[str, str]:
        """One's privacy settings, by category name."""
        return q.parse_privacy(await self._client.request(q.privacy_request()))

    async def set_privacy(self, category: q.PrivacyCategory, value: q.PrivacyValue) -> None:
        """Change one privacy setting."""
        await self._client.request(q.set_privacy_request(category, value))
