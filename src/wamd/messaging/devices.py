"""Device lists: which devices a user has, asked with usync and cached per user.

``<usync context="message" mode="query"><query><devices version="2"/><lid/></query>..`` lists a
user's devices (``<device-list><device id key-index>``) and its LID; the LID pairs go into the
LID map. Lists are cached per user (both forms share one entry) together with their hash (the
``phash`` form of the list); ``devices`` notifications update or drop entries, and a message
ack whose ``phash`` differs from the one sent drops the recipient's entry.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from wamd.binary import Node
from wamd.errors import AttributeInvalid, InvalidJID, MalformedNode
from wamd.messaging.addresses import AddressBook
from wamd.messaging.stanzas import participant_hash
from wamd.types import JID
from wamd.users.queries import UsyncUser, usync_request, usync_users

__all__ = ["DeviceCache", "DeviceList", "devices_request", "parse_devices_answer"]

log = logging.getLogger("wamd.messaging")

Request = Callable[[Node], Awaitable[Node]]

HOSTED_DEVICE = 99
"""Device id of hosted (business API) devices, not reachable with a normal session."""


@dataclass(frozen=True, slots=True)
class DeviceList:
    """A user's devices (device JIDs in the form asked) and their hash."""

    user: JID
    devices: tuple[JID, ...]
    lid: JID | None = None

    @property
    def hash(self) -> str:
        """The list's hash (``phash`` form)."""
        return participant_hash(self.devices)


def devices_request(users: Iterable[JID]) -> Node:
    """The usync IQ asking the devices and LIDs of ``users``."""
    query = [Node("devices", {"version": "2"}), Node("lid")]
    return usync_request([UsyncUser(jid=u.to_non_ad()) for u in users], query, context="message")


def parse_devices_answer(answer: Node) -> dict[JID, DeviceList]:
    """The device lists of a usync answer, by user (non-AD JID)."""
    result: dict[JID, DeviceList] = {}
    for user in usync_users(answer):
        try:
            jid = user.attr_jid("jid").to_non_ad()
        except (AttributeInvalid, InvalidJID, MalformedNode, KeyError):
            continue
        devices_node = user.child("devices")
        listing = devices_node.child("device-list") if devices_node is not None else None
        devices: list[JID] = []
        if listing is not None:
            for device in listing.children_by_tag("device"):
                try:
                    device_id = device.attr_int("id")
                except (AttributeInvalid, MalformedNode, KeyError):
                    continue
                if device_id == HOSTED_DEVICE or device.attrs.get("is_hosted") == "true":
                    continue
                if device_id and "key-index" not in device.attrs:
                    continue  # a companion must be signed into the account's key index
                try:
                    devices.append(jid.with_device(device_id))
                except InvalidJID:
                    continue
        lid_node = user.child("lid")
        lid = None
        if lid_node is not None:
            try:
                lid = lid_node.attr_jid("val", None)
            except (AttributeInvalid, InvalidJID):
                lid = None
        if devices_node is None:
            continue
        result[jid] = DeviceList(jid, tuple(devices), lid if lid and lid.is_lid else None)
    return result


MAX_CACHED_USERS = 10_000
"""Device lists kept by default (the least recently used are dropped, then asked again)."""


class DeviceCache:
    """Device lists by user, fetched with usync when missing (see the module docstring).

    At most ``max_users`` entries are kept (each form of a user counts once); the least
    recently used are dropped beyond that, so the cache cannot grow with every user a hostile
    or huge group answer names.
    """

    def __init__(
        self, request: Request, book: AddressBook, *, max_users: int = MAX_CACHED_USERS
    ) -> None:
        if max_users < 1:
            raise ValueError("max_users must be at least 1")
        self._request = request
        self._book = book
        self.max_users = max_users
        self._lists: OrderedDict[JID, DeviceList] = OrderedDict()

    def __repr__(self) -> str:
        return f"DeviceCache(users={len(self._lists)})"

    def __len__(self) -> int:
        return len(self._lists)

    def _keep(self, user: JID, listing: DeviceList) -> None:
        self._lists[user] = listing
        self._lists.move_to_end(user)
        while len(self._lists) > self.max_users:
            self._lists.popitem(last=False)

    def cached(self, user: JID) -> DeviceList | None:
        """The cached list of ``user`` (non-AD), if any."""
        return self._lists.get(user.to_non_ad())

    def forget(self, user: JID) -> None:
        """Drop the cached list of ``user``."""
        self._lists.pop(user.to_non_ad(), None)

    def clear(self) -> None:
        """Drop every cached list."""
        self._lists.clear()

    async def get(self, users: Iterable[JID], *, refresh: bool = False) -> dict[JID, DeviceList]:
        """The device lists of ``users`` (non-AD), asking the server for those not cached.

        Raises :class:`~wamd.errors.IQError` / :class:`~wamd.errors.IQTimeout` /
        :class:`~wamd.errors.NotConnected` when the query fails.
        """
        wanted = [u.to_non_ad() for u in users]
        result: dict[JID, DeviceList] = {}
        missing: list[JID] = []
        for user in dict.fromkeys(wanted):
            cached = None if refresh else self._lists.get(user)
            if cached is None:
                missing.append(user)
            else:
                self._lists.move_to_end(user)
                result[user] = cached
        if missing:
            answer = await self._request(devices_request(missing))
            found = parse_devices_answer(answer)
            await self._book.remember(
                (dl.lid, dl.user) for dl in found.values() if dl.lid is not None and dl.user.is_pn
            )
            for user in missing:
                listing = found.get(user)
                if listing is None:
                    log.debug("usync answer has no device list for %s", user)
                    listing = DeviceList(user, ())
                result[user] = listing
                self._keep(user, listing)
                if listing.lid is not None:
                    lid_user = listing.lid.to_non_ad()
                    self._keep(
                        lid_user,
                        DeviceList(
                            lid_user, tuple(lid_user.with_device(d.device) for d in listing.devices)
                        ),
                    )
        return {u: result[u] for u in wanted}

    def apply_notification(self, node: Node) -> None:
        """Update the cache from a ``<notification type="devices">``.

        ``<add>`` / ``<remove>`` children list ``<device jid>`` entries; the new list is kept
        when its hash matches the notification's ``device_hash``, else the entry is dropped
        (refetched on the next send). Any other change drops the entry.
        """
        try:
            user = node.attr_jid("from").to_non_ad()
        except (AttributeInvalid, InvalidJID, MalformedNode, KeyError):
            return
        users = [user]
        try:
            lid = node.attr_jid("lid", None)
        except (AttributeInvalid, InvalidJID):
            lid = None
        if lid is not None:
            users.append(lid.to_non_ad())
        for child in node.children:
            for target in users:
                cached = self._lists.get(target)
                if cached is None:
                    continue
                if child.tag not in ("add", "remove"):
                    self._lists.pop(target, None)
                    continue
                changed: set[int] = set()
                for device in child.children_by_tag("device"):
                    try:
                        changed.add(device.attr_jid("jid").device)
                    except (AttributeInvalid, InvalidJID, MalformedNode, KeyError):
                        continue
                keep = [d for d in cached.devices if d.device not in changed]
                if child.tag == "add":
                    keep += [target.with_device(d) for d in sorted(changed)]
                updated = DeviceList(
                    target, tuple(sorted(keep, key=lambda j: j.device)), cached.lid
                )
                expected = child.attr_str("device_hash", "")
                if target is user and expected and expected != updated.hash:
                    self._lists.pop(target, None)
                else:
                    self._keep(target, updated)
