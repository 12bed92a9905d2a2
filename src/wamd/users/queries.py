"""User, profile, blocklist and privacy IQs: builders and answer readers (sans-I/O).

Every reader raises :class:`~wamd.errors.MalformedNode` (or an attribute error of the
``wamd.errors`` family) for an answer that lacks what it must hold; entries it cannot use
(e.g. an unparsable JID in a list) are skipped, never fatal.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from wamd.binary import AttrValue, Node
from wamd.errors import AttributeInvalid, InvalidJID, MalformedNode
from wamd.types import JID, LEGACY_USER_SERVER, SERVER_JID

_sids = itertools.count(1)
_SID_PREFIX = os.urandom(4).hex()


def new_sid() -> str:
    """A fresh usync session id."""
    return f"{_SID_PREFIX}.{next(_sids)}"


def _iq(xmlns: str, kind: str, content: list[Node] | None = None, **attrs: AttrValue) -> Node:
    base: dict[str, AttrValue] = {"xmlns": xmlns, "type": kind, "to": SERVER_JID}
    base.update(attrs)
    return Node("iq", base, content)


def _text(node: Node | None) -> str:
    if node is None or node.content is None or isinstance(node.content, list | JID):
        return ""
    if isinstance(node.content, bytes):
        return node.content.decode("utf-8", "replace")
    return str(node.content)


def _jid_attr(node: Node, name: str) -> JID | None:
    try:
        value = node.attr_jid(name, None)
    except (AttributeInvalid, InvalidJID):
        return None
    return value


# --- usync -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UsyncUser:
    """One entry of a usync ``<list>``: a JID, or a phone number to look up (``+`` optional)."""

    jid: JID | None = None
    phone: str | None = None
    tctoken: bytes | None = field(default=None, repr=False)


def usync_request(
    users: Sequence[UsyncUser],
    query: list[Node],
    *,
    mode: str = "query",
    context: str = "interactive",
    sid: str | None = None,
) -> Node:
    """A ``usync`` IQ asking the protocols in ``query`` about ``users``."""
    entries: list[Node] = []
    for user in users:
        if user.phone is not None:
            number = user.phone if user.phone.startswith("+") else "+" + user.phone
            entries.append(Node("user", {}, [Node("contact", {}, number)]))
        elif user.jid is not None:
            content = [Node("tctoken", {}, user.tctoken)] if user.tctoken else None
            entries.append(Node("user", {"jid": user.jid.to_non_ad()}, content))
        else:
            raise ValueError("a usync user needs a jid or a phone number")
    usync = Node(
        "usync",
        {"sid": sid or new_sid(), "mode": mode, "last": "true", "index": "0", "context": context},
        [Node("query", {}, query), Node("list", {}, entries)],
    )
    return _iq("usync", "get", [usync])


def usync_users(answer: Node) -> list[Node]:
    """The ``<user>`` nodes of a usync answer."""
    usync = answer.child("usync")
    if usync is None:
        raise MalformedNode("usync answer has no <usync>")
    listing = usync.child("list")
    if listing is None:
        raise MalformedNode("usync answer has no <list>")
    return listing.children_by_tag("user")


# --- is on WhatsApp --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OnWhatsApp:
    """The answer for one looked-up phone number.

    ``query`` is the number as asked (digits), ``jid`` the account (``None`` when the number
    is not on WhatsApp), ``lid`` its LID when the server told it.
    """

    query: str
    registered: bool
    jid: JID | None
    lid: JID | None = None
    verified_name: bytes | None = field(default=None, repr=False)


def is_on_whatsapp_request(phones: Iterable[str], *, sid: str | None = None) -> Node:
    """Ask whether these phone numbers (digits, ``+`` optional) have WhatsApp accounts."""
    users = [UsyncUser(phone=p) for p in phones]
    query = [
        Node("contact"),
        Node("business", {}, [Node("verified_name")]),
        Node("lid"),
    ]
    return usync_request(users, query, sid=sid)


def parse_is_on_whatsapp(answer: Node) -> list[OnWhatsApp]:
    """Read the answer of :func:`is_on_whatsapp_request`."""
    results: list[OnWhatsApp] = []
    for user in usync_users(answer):
        contact = user.child("contact")
        if contact is None:
            continue
        registered = contact.attr_str("type", "") == "in"
        jid = _jid_attr(user, "jid")
        # WhatsApp echoes the asked number in <contact>; some servers only name the user.
        query = _text(contact).lstrip("+").removesuffix("@" + LEGACY_USER_SERVER)
        if not query and jid is not None:
            query = jid.user
        lid_node = user.child("lid")
        lid = _jid_attr(lid_node, "val") if lid_node is not None else None
        results.append(
            OnWhatsApp(query, registered, jid if registered else None, lid, _verified_name(user))
        )
    return results


def _verified_name(user: Node) -> bytes | None:
    business = user.child("business")
    name = business.child("verified_name") if business is not None else None
    if name is None or not isinstance(name.content, bytes):
        return None
    return name.content


# --- user info -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserInfo:
    """What the server says about a user: status text, picture id, devices and LID."""

    jid: JID
    status: str
    picture_id: str | None
    devices: list[JID]
    lid: JID | None
    verified_name: bytes | None = field(default=None, repr=False)


def user_info_request(jids: Iterable[JID], *, sid: str | None = None) -> Node:
    """Ask for the status, picture id, device list and LID of users."""
    query = [
        Node("business", {}, [Node("verified_name")]),
        Node("status"),
        Node("picture"),
        Node("devices", {"version": "2"}),
        Node("lid"),
    ]
    users = [UsyncUser(jid=j) for j in jids]
    return usync_request(users, query, mode="full", context="background", sid=sid)


def parse_devices(user: JID, devices: Node | None) -> list[JID]:
    """The device JIDs of a ``<devices><device-list><device id>..`` answer."""
    if devices is None:
        return []
    listing = devices.child("device-list")
    if listing is None:
        return []
    result: list[JID] = []
    for device in listing.children_by_tag("device"):
        try:
            device_id = device.attr_int("id")
            result.append(JID(user.user, user.server, device=device_id))
        except (AttributeInvalid, InvalidJID, MalformedNode, KeyError):
            continue
    return result


def parse_user_info(answer: Node) -> dict[JID, UserInfo]:
    """Read the answer of :func:`user_info_request`, by user."""
    infos: dict[JID, UserInfo] = {}
    for user in usync_users(answer):
        jid = _jid_attr(user, "jid")
        if jid is None:
            continue
        picture = user.child("picture")
        lid_node = user.child("lid")
        infos[jid] = UserInfo(
            jid=jid,
            status=_text(user.child("status")),
            picture_id=picture.attr_str("id", None) if picture is not None else None,
            devices=parse_devices(jid, user.child("devices")),
            lid=_jid_attr(lid_node, "val") if lid_node is not None else None,
            verified_name=_verified_name(user),
        )
    return infos


# --- profile picture and status ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProfilePicture:
    """Where a profile picture is: its id, URL, direct path, type and hash."""

    id: str
    url: str
    direct_path: str
    type: str
    hash: bytes = b""


def profile_picture_request(
    jid: JID, *, preview: bool = False, existing_id: str | None = None
) -> Node:
    """Ask where ``jid``'s profile picture (or its small preview) is."""
    attrs: dict[str, AttrValue] = {"query": "url", "type": "preview" if preview else "image"}
    if existing_id:
        attrs["id"] = existing_id
    return _iq("w:profile:picture", "get", [Node("picture", attrs)], target=jid)


def parse_profile_picture(answer: Node) -> ProfilePicture | None:
    """Read the answer of :func:`profile_picture_request`.

    ``None`` when the picture is unchanged (``status="304"``, with ``existing_id``) or not set
    (``status="204"``); a 401/404 IQ error (not allowed, no picture) is raised by the sender.
    """
    picture = answer.child("picture")
    if picture is None:
        raise MalformedNode("profile picture answer has no <picture>")
    if picture.attr_int("status", 200) in (204, 304):
        return None
    try:
        digest = base64.b64decode(picture.attr_str("hash", ""), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    return ProfilePicture(
        id=picture.attr_str("id"),
        url=picture.attr_str("url", ""),
        direct_path=picture.attr_str("direct_path", ""),
        type=picture.attr_str("type", ""),
        hash=digest,
    )


def set_status_request(text: str) -> Node:
    """Set one's own status ("about") text."""
    return _iq("status", "set", [Node("status", {}, text.encode())])


def status_request(jids: Iterable[JID], *, sid: str | None = None) -> Node:
    """Ask for the status text of users (answer: :func:`parse_user_info`)."""
    return usync_request(
        [UsyncUser(jid=j) for j in jids],
        [Node("status")],
        mode="query",
        context="interactive",
        sid=sid,
    )


# --- business profile ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BusinessProfile:
    """A business account's public profile."""

    jid: JID
    description: str = ""
    address: str = ""
    email: str = ""
    websites: list[str] = field(default_factory=list)
    categories: list[tuple[str, str]] = field(default_factory=list)
    hours_timezone: str = ""
    hours: list[dict[str, str]] = field(default_factory=list)


def business_profile_request(jid: JID) -> Node:
    """Ask for ``jid``'s business profile."""
    profile = Node("business_profile", {"v": "244"}, [Node("profile", {"jid": jid})])
    return _iq("w:biz", "get", [profile])


def parse_business_profile(answer: Node) -> BusinessProfile | None:
    """Read the answer of :func:`business_profile_request` (``None``: not a business)."""
    container = answer.child("business_profile")
    profile = container.child("profile") if container is not None else None
    if profile is None:
        return None
    jid = _jid_attr(profile, "jid")
    if jid is None:
        raise MalformedNode("business profile without a valid jid")
    hours = profile.child("business_hours")
    categories = profile.child("categories")
    return BusinessProfile(
        jid=jid,
        description=_text(profile.child("description")),
        address=_text(profile.child("address")),
        email=_text(profile.child("email")),
        websites=[_text(w) for w in profile.children_by_tag("website") if _text(w)],
        categories=[
            (c.attr_str("id", ""), _text(c))
            for c in (categories.children_by_tag("category") if categories else [])
        ],
        hours_timezone=hours.attr_str("timezone", "") if hours is not None else "",
        hours=[
            {k: str(v) for k, v in c.attrs.items()}
            for c in (hours.children_by_tag("business_hours_config") if hours else [])
        ],
    )


# --- blocklist -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Blocklist:
    """The users one has blocked, and the list's hash (``dhash``)."""

    jids: list[JID]
    dhash: str = ""


def blocklist_request() -> Node:
    """Ask for one's blocklist."""
    return _iq("blocklist", "get")


def block_request(lid: JID, *, block: bool, pn: JID | None = None) -> Node:
    """Block or unblock a user, named by LID (blocking also names the phone number)."""
    attrs: dict[str, AttrValue] = {
        "jid": lid.to_non_ad(),
        "action": "block" if block else "unblock",
    }
    if block and pn is not None:
        attrs["pn_jid"] = pn.to_non_ad()
    return _iq("blocklist", "set", [Node("item", attrs)])


def parse_blocklist(answer: Node) -> Blocklist:
    """Read the ``<list>`` of a blocklist answer (to a get, or to a change)."""
    listing = answer.child("list")
    if listing is None:
        raise MalformedNode("blocklist answer has no <list>")
    jids = [j for j in (_jid_attr(item, "jid") for item in listing.children_by_tag("item")) if j]
    return Blocklist(jids, listing.attr_str("dhash", ""))


# --- privacy ---------------------------------------------------------------------------------


class PrivacyCategory(StrEnum):
    """A privacy setting (the ``name`` of a ``<category>``)."""

    GROUP_ADD = "groupadd"
    LAST_SEEN = "last"
    STATUS = "status"
    PROFILE = "profile"
    READ_RECEIPTS = "readreceipts"
    ONLINE = "online"
    CALL_ADD = "calladd"
    MESSAGES = "messages"
    DEFENSE = "defense"
    STICKERS = "stickers"


class PrivacyValue(StrEnum):
    """A privacy setting's value (which apply depends on the category)."""

    ALL = "all"
    CONTACTS = "contacts"
    CONTACT_ALLOWLIST = "contact_allowlist"
    CONTACT_BLACKLIST = "contact_blacklist"
    MATCH_LAST_SEEN = "match_last_seen"
    KNOWN = "known"
    NONE = "none"
    ON_STANDARD = "on_standard"
    OFF = "off"


VALID_PRIVACY: dict[PrivacyCategory, frozenset[PrivacyValue]] = {
    PrivacyCategory.GROUP_ADD: frozenset(
        {PrivacyValue.ALL, PrivacyValue.CONTACTS, PrivacyValue.CONTACT_BLACKLIST, PrivacyValue.NONE}
    ),
    PrivacyCategory.LAST_SEEN: frozenset(
        {PrivacyValue.ALL, PrivacyValue.CONTACTS, PrivacyValue.CONTACT_BLACKLIST, PrivacyValue.NONE}
    ),
    PrivacyCategory.STATUS: frozenset(
        {PrivacyValue.ALL, PrivacyValue.CONTACTS, PrivacyValue.CONTACT_BLACKLIST, PrivacyValue.NONE}
    ),
    PrivacyCategory.PROFILE: frozenset(
        {PrivacyValue.ALL, PrivacyValue.CONTACTS, PrivacyValue.CONTACT_BLACKLIST, PrivacyValue.NONE}
    ),
    PrivacyCategory.READ_RECEIPTS: frozenset({PrivacyValue.ALL, PrivacyValue.NONE}),
    PrivacyCategory.ONLINE: frozenset({PrivacyValue.ALL, PrivacyValue.MATCH_LAST_SEEN}),
    PrivacyCategory.CALL_ADD: frozenset({PrivacyValue.ALL, PrivacyValue.KNOWN}),
    PrivacyCategory.MESSAGES: frozenset({PrivacyValue.ALL, PrivacyValue.CONTACTS}),
    PrivacyCategory.DEFENSE: frozenset({PrivacyValue.ON_STANDARD, PrivacyValue.OFF}),
    PrivacyCategory.STICKERS: frozenset(
        {PrivacyValue.CONTACTS, PrivacyValue.CONTACT_ALLOWLIST, PrivacyValue.NONE}
    ),
}
"""Which values each category accepts (as WhatsApp's clients offer them)."""


def privacy_request() -> Node:
    """Ask for one's privacy settings."""
    return _iq("privacy", "get", [Node("privacy")])


def set_privacy_request(category: PrivacyCategory, value: PrivacyValue) -> Node:
    """Change one privacy setting; ``ValueError`` for a value the category does not take."""
    if value not in VALID_PRIVACY[category]:
        raise ValueError(f"privacy {category.value!r} cannot be {value.value!r}")
    category_node = Node("category", {"name": category.value, "value": value.value})
    return _iq("privacy", "set", [Node("privacy", {}, [category_node])])


def parse_privacy(answer: Node) -> dict[str, str]:
    """Read privacy settings (an answer, or a ``<privacy>`` change notification) by name.

    Unknown categories and values are kept as plain strings.
    """
    privacy = answer if answer.tag == "privacy" else answer.child("privacy")
    if privacy is None:
        raise MalformedNode("privacy answer has no <privacy>")
    settings: dict[str, str] = {}
    for category in privacy.children_by_tag("category"):
        name = category.attr_str("name", "")
        if name:
            settings[name] = category.attr_str("value", "")
    return settings
