"""WhatsApp JIDs (Jabber IDs): who or what a stanza is from or to.

A JID is ``user@server`` with, for the servers that address devices, an optional device
(``user:device@server``) and, rarely, a raw agent (``user.agent:device@s.whatsapp.net``).
Interop JIDs also carry an integrator id (``integrator-user:device@interop``).

Phone-number identities (``@s.whatsapp.net``) and LID identities (``@lid``) are different
JIDs even when they belong to the same account: they never compare equal.

On the wire a device JID is an AD-JID whose "agent" byte is a *domain type*: 0 for
``s.whatsapp.net``, 1 for ``lid``, 128 for ``hosted`` and 129 for ``hosted.lid``; the server is
implied by it. :attr:`JID.domain` returns that number; it is also what the Signal address
form ``user[_domain].device`` uses.
"""

from __future__ import annotations

import re
from typing import Any, Final

from wamd.errors import InvalidJID

# --- servers ---------------------------------------------------------------------------------
USER_SERVER: Final = "s.whatsapp.net"
"""Phone-number users and their devices."""
LEGACY_USER_SERVER: Final = "c.us"
"""Legacy form of the user server (still used for a few official accounts)."""
GROUP_SERVER: Final = "g.us"
BROADCAST_SERVER: Final = "broadcast"
LID_SERVER: Final = "lid"
"""LID ("hidden user") identities: the privacy-preserving id of an account."""
MESSENGER_SERVER: Final = "msgr"
INTEROP_SERVER: Final = "interop"
NEWSLETTER_SERVER: Final = "newsletter"
HOSTED_SERVER: Final = "hosted"
HOSTED_LID_SERVER: Final = "hosted.lid"
BOT_SERVER: Final = "bot"

KNOWN_SERVERS: Final = frozenset(
    {
        USER_SERVER,
        LEGACY_USER_SERVER,
        GROUP_SERVER,
        BROADCAST_SERVER,
        LID_SERVER,
        MESSENGER_SERVER,
        INTEROP_SERVER,
        NEWSLETTER_SERVER,
        HOSTED_SERVER,
        HOSTED_LID_SERVER,
        BOT_SERVER,
    }
)

# --- AD-JID domain types ---------------------------------------------------------------------
DOMAIN_WHATSAPP: Final = 0
DOMAIN_LID: Final = 1
DOMAIN_HOSTED: Final = 128
DOMAIN_HOSTED_LID: Final = 129

DOMAIN_OF_SERVER: Final[dict[str, int]] = {
    USER_SERVER: DOMAIN_WHATSAPP,
    LID_SERVER: DOMAIN_LID,
    HOSTED_SERVER: DOMAIN_HOSTED,
    HOSTED_LID_SERVER: DOMAIN_HOSTED_LID,
}
"""Servers whose device JIDs are written as AD-JIDs, with the domain byte of each."""

SERVER_OF_DOMAIN: Final[dict[int, str]] = {v: k for k, v in DOMAIN_OF_SERVER.items()}

_IMPLIED_DOMAIN_SERVERS: Final = frozenset({LID_SERVER, HOSTED_SERVER, HOSTED_LID_SERVER})
_BOT_USER = re.compile(r"1313555\d{4}|131655500\d{2}")
_DIGITS = re.compile(r"[0-9]{1,5}")

_new = object.__new__
_set = object.__setattr__


def _small_int(text: str, what: str, source: str, maximum: int) -> int:
    if not _DIGITS.fullmatch(text):
        raise InvalidJID(f"invalid {what} {text!r} in JID {source!r}")
    value = int(text)
    if value > maximum:
        raise InvalidJID(f"{what} {value} out of range in JID {source!r}")
    return value


class JID:
    """An immutable, hashable WhatsApp JID.

    ``JID("15551234567", "s.whatsapp.net", device=3)`` is device 3 of a phone-number user;
    :meth:`parse` reads the string form and ``str(jid)`` writes it. ``agent`` is the raw agent
    of an ``s.whatsapp.net`` AD-JID (almost always 0); the LID and hosted servers imply their
    domain, so their ``agent`` is always 0 (see :attr:`domain`).
    """

    __slots__ = ("_wire", "agent", "device", "integrator", "server", "user")

    user: str
    server: str
    agent: int
    device: int
    integrator: int
    _wire: bytes | None  # memo of the binary encoding, filled by wamd.binary's encoder

    def __init__(
        self,
        user: str,
        server: str,
        *,
        agent: int = 0,
        device: int = 0,
        integrator: int = 0,
    ) -> None:
        if not isinstance(user, str) or not isinstance(server, str):
            raise InvalidJID("JID user and server must be strings")
        if not server or "@" in server or ":" in server:
            raise InvalidJID(f"invalid JID server {server!r}")
        if "@" in user or ":" in user:
            raise InvalidJID(f"invalid JID user {user!r}")
        for name, value, maximum in (
            ("agent", agent, 255),
            ("device", device, 65535),
            ("integrator", integrator, 65535),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
                raise InvalidJID(f"JID {name} must be an int in 0..{maximum}, not {value!r}")
        if agent and server != USER_SERVER:
            raise InvalidJID(f"a raw agent is only valid on {USER_SERVER}, not on {server!r}")
        if agent and agent in SERVER_OF_DOMAIN:
            raise InvalidJID(
                f"agent {agent} is the domain of @{SERVER_OF_DOMAIN[agent]}: use that server"
            )
        if "." in user and server == USER_SERVER:
            raise InvalidJID(f"invalid JID user {user!r}")
        if not user and (agent or device):
            raise InvalidJID("a JID with a device or agent needs a user")
        _set(self, "user", user)
        _set(self, "server", server)
        _set(self, "agent", agent)
        _set(self, "device", device)
        _set(self, "integrator", integrator)
        _set(self, "_wire", None)

    @classmethod
    def _make(
        cls,
        user: str,
        server: str,
        agent: int = 0,
        device: int = 0,
        integrator: int = 0,
    ) -> JID:
        """Build without validation (for the decoder, whose inputs are already checked)."""
        jid = _new(cls)
        _set(jid, "user", user)
        _set(jid, "server", server)
        _set(jid, "agent", agent)
        _set(jid, "device", device)
        _set(jid, "integrator", integrator)
        _set(jid, "_wire", None)
        return jid

    # --- parsing and formatting -------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> JID:
        """Parse the string form (``user[.agent][:device]@server``, ``@server`` or a bare
        known server name). Raises :class:`~wamd.errors.InvalidJID` on anything else."""
        if not isinstance(text, str):
            raise InvalidJID(f"a JID must be a string, not {type(text).__name__}")
        user, sep, server = text.partition("@")
        if not sep:
            if text in KNOWN_SERVERS:
                return cls._make("", text)
            raise InvalidJID(f"not a JID: {text!r}")
        if "@" in server:
            raise InvalidJID(f"more than one '@' in JID {text!r}")
        agent = device = integrator = 0
        if ":" in user:
            user, _, device_text = user.partition(":")
            device = _small_int(device_text, "device", text, 65535)
        if server == USER_SERVER and "." in user:
            user, _, agent_text = user.partition(".")
            agent = _small_int(agent_text, "agent", text, 255)
        elif server == INTEROP_SERVER and "-" in user:
            integrator_text, _, user = user.partition("-")
            integrator = _small_int(integrator_text, "integrator", text, 65535)
        return cls(user, server, agent=agent, device=device, integrator=integrator)

    def __str__(self) -> str:
        user = self.user
        if self.server == INTEROP_SERVER:
            return f"{self.integrator}-{user}:{self.device}@{INTEROP_SERVER}"
        if self.agent:
            return f"{user}.{self.agent}:{self.device}@{self.server}"
        if self.device:
            return f"{user}:{self.device}@{self.server}"
        return f"{user}@{self.server}"

    def __repr__(self) -> str:
        return f"JID({str(self)!r})"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    # --- value semantics --------------------------------------------------------------------

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"JID is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"JID is immutable (cannot delete {name!r})")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not JID:
            return NotImplemented
        assert isinstance(other, JID)
        return (
            self.user == other.user
            and self.server == other.server
            and self.device == other.device
            and self.agent == other.agent
            and self.integrator == other.integrator
        )

    def __hash__(self) -> int:
        return hash((self.user, self.server, self.device, self.agent, self.integrator))

    def __reduce__(self) -> tuple[Any, ...]:
        return (JID._make, (self.user, self.server, self.agent, self.device, self.integrator))

    # --- derived forms ----------------------------------------------------------------------

    @property
    def domain(self) -> int:
        """The AD-JID domain type: 1 for ``lid``, 128 ``hosted``, 129 ``hosted.lid``, else the
        raw agent (0 for ordinary phone-number JIDs)."""
        return DOMAIN_OF_SERVER.get(self.server, 0) or self.agent

    def to_non_ad(self) -> JID:
        """The same user without agent and device (``user@server``)."""
        if not self.device and not self.agent:
            return self
        return JID._make(self.user, self.server, 0, 0, self.integrator)

    def with_device(self, device: int) -> JID:
        """The same user's device ``device`` (agent dropped)."""
        return JID(self.user, self.server, device=device, integrator=self.integrator)

    @property
    def signal_address(self) -> str:
        """The Signal protocol address ``user[_domain].device`` (``"155512.0"``, ``"8812_1.3"``),
        exactly as libsignal/Baileys/whatsmeow name sessions."""
        domain = self.domain
        if domain:
            return f"{self.user}_{domain}.{self.device}"
        return f"{self.user}.{self.device}"

    @classmethod
    def from_signal_address(cls, address: str) -> JID:
        """Inverse of :attr:`signal_address` (``"8812_1.3"`` -> ``8812:3@lid``)."""
        name, dot, device_text = address.rpartition(".")
        if not dot or not name:
            raise InvalidJID(f"not a Signal address: {address!r}")
        device = _small_int(device_text, "device", address, 65535)
        user, underscore, domain_text = name.partition("_")
        domain = _small_int(domain_text, "domain", address, 255) if underscore else 0
        server = SERVER_OF_DOMAIN.get(domain, USER_SERVER)
        agent = 0 if server in _IMPLIED_DOMAIN_SERVERS else domain
        if not user or "." in user:
            raise InvalidJID(f"not a Signal address: {address!r}")
        return cls(user, server, agent=agent, device=device)

    # --- kinds ------------------------------------------------------------------------------

    @property
    def is_pn(self) -> bool:
        """A phone-number user or device (``@s.whatsapp.net`` with a user)."""
        return self.server == USER_SERVER and bool(self.user)

    @property
    def is_lid(self) -> bool:
        """A LID user or device (``@lid``)."""
        return self.server == LID_SERVER

    @property
    def is_user(self) -> bool:
        """Any person/device identity: phone number, LID or hosted."""
        return bool(self.user) and self.server in DOMAIN_OF_SERVER

    @property
    def is_hosted(self) -> bool:
        """A hosted (business API) identity: ``@hosted`` or ``@hosted.lid``."""
        return self.server in (HOSTED_SERVER, HOSTED_LID_SERVER)

    @property
    def is_group(self) -> bool:
        return self.server == GROUP_SERVER

    @property
    def is_broadcast_list(self) -> bool:
        """A broadcast list (``@broadcast`` but not ``status@broadcast``)."""
        return self.server == BROADCAST_SERVER and self.user != "status"

    @property
    def is_status_broadcast(self) -> bool:
        return self.server == BROADCAST_SERVER and self.user == "status"

    @property
    def is_newsletter(self) -> bool:
        return self.server == NEWSLETTER_SERVER

    @property
    def is_bot(self) -> bool:
        """A Meta AI / bot account."""
        if self.server == BOT_SERVER:
            return True
        return (
            self.server in (USER_SERVER, LEGACY_USER_SERVER)
            and not self.device
            and _BOT_USER.fullmatch(self.user) is not None
        )

    @property
    def is_server(self) -> bool:
        """A bare server address such as ``@s.whatsapp.net`` or ``@g.us`` (no user)."""
        return not self.user

    @property
    def is_ad(self) -> bool:
        """Addresses one device (has a device or agent)."""
        return bool(self.device or self.agent)


SERVER_JID: Final = JID("", USER_SERVER)
"""The server itself (``@s.whatsapp.net``): the ``to`` of most IQs, the ``from`` of its answers."""
GROUP_SERVER_JID: Final = JID("", GROUP_SERVER)
BROADCAST_SERVER_JID: Final = JID("", BROADCAST_SERVER)
STATUS_BROADCAST: Final = JID("status", BROADCAST_SERVER)
"""Where status updates are sent (``status@broadcast``)."""
PSA_JID: Final = JID("0", USER_SERVER)
LEGACY_PSA_JID: Final = JID("0", LEGACY_USER_SERVER)
OFFICIAL_BUSINESS_JID: Final = JID("16505361212", LEGACY_USER_SERVER)
META_AI_JID: Final = JID("13135550002", USER_SERVER)
