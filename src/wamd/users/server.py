"""The server side of privacy settings, blocklists, status text and profile pictures (sandbox).

Like :mod:`wamd.appstate.server`: SQLite through a runner, tables registered as the ``"users"``
component, and an :meth:`UsersServer.handle` per IQ namespace that returns the answer's content
or raises :class:`UserRequestError` (an ``<iq type="error">``). Blocked users are kept by LID
(as WhatsApp names them), with the phone number when the client gave it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from wamd.appstate.server import DBRunner
from wamd.binary import AttrValue, Node
from wamd.errors import AttributeInvalid, AttributeMissing, InvalidJID
from wamd.types import JID, LID_SERVER
from wamd.users.queries import VALID_PRIVACY, PrivacyCategory, PrivacyValue

COMPONENT = "users"
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE users_privacy (
        phone TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (phone, name)
    );
    CREATE TABLE users_blocklist (
        phone TEXT NOT NULL,
        lid TEXT NOT NULL,
        pn TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (phone, lid)
    );
    CREATE TABLE users_status (
        phone TEXT PRIMARY KEY,
        text TEXT NOT NULL,
        t INTEGER NOT NULL
    )
    """,
)

DEFAULT_PRIVACY: dict[str, str] = {
    category.value: value.value
    for category, value in (
        (PrivacyCategory.GROUP_ADD, PrivacyValue.ALL),
        (PrivacyCategory.LAST_SEEN, PrivacyValue.ALL),
        (PrivacyCategory.STATUS, PrivacyValue.CONTACTS),
        (PrivacyCategory.PROFILE, PrivacyValue.ALL),
        (PrivacyCategory.READ_RECEIPTS, PrivacyValue.ALL),
        (PrivacyCategory.ONLINE, PrivacyValue.ALL),
        (PrivacyCategory.CALL_ADD, PrivacyValue.ALL),
        (PrivacyCategory.MESSAGES, PrivacyValue.ALL),
    )
}
"""The settings of an account that never changed them."""

MAX_STATUS = 139
"""Longest status text (characters) the server accepts."""


class UserRequestError(Exception):
    """A refused request: answer ``<iq type="error">`` with ``code`` and ``text``."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text


@dataclass(frozen=True, slots=True)
class BlockChange:
    """An accepted block or unblock (tell the account's other devices)."""

    lid: str
    blocked: bool


def schema(db: sqlite3.Connection) -> None:
    """Create the tables on a bare connection (tests)."""
    for script in MIGRATIONS:
        for statement in script.split(";"):
            if statement.strip():
                db.execute(statement)


def _bad(exc: Exception) -> UserRequestError:
    return UserRequestError(400, f"bad-request: {exc}")


class UsersServer:
    """Answers ``privacy``, ``blocklist`` and ``status`` IQs for accounts."""

    def __init__(self, run: DBRunner) -> None:
        self._run = run

    # --- privacy -------------------------------------------------------------------------------

    async def privacy(self, phone: str) -> dict[str, str]:
        """The privacy settings of ``phone`` (defaults filled in)."""

        def work(db: sqlite3.Connection) -> dict[str, str]:
            rows = db.execute("SELECT name, value FROM users_privacy WHERE phone = ?", (phone,))
            return {**DEFAULT_PRIVACY, **{str(n): str(v) for n, v in rows}}

        return await self._run(work)

    async def handle_privacy(self, phone: str, iq: Node) -> Node | None:
        """``get``: the ``<privacy>`` answer; ``set``: store each ``<category>`` (checked)."""
        privacy = iq.child("privacy")
        if privacy is None:
            raise UserRequestError(400, "bad-request: no <privacy>")
        if iq.attrs.get("type") == "get":
            settings = await self.privacy(phone)
            return Node(
                "privacy",
                {},
                [Node("category", {"name": n, "value": v}) for n, v in settings.items()],
            )
        changes: list[tuple[str, str]] = []
        try:
            for category in privacy.children_by_tag("category"):
                name = PrivacyCategory(category.attr_str("name"))
                value = PrivacyValue(category.attr_str("value"))
                if value not in VALID_PRIVACY[name]:
                    raise UserRequestError(400, f"bad-request: {name.value}={value.value}")
                changes.append((name.value, value.value))
        except (ValueError, AttributeMissing) as exc:
            raise _bad(exc) from None
        if not changes:
            raise UserRequestError(400, "bad-request: no category")

        def work(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT INTO users_privacy (phone, name, value) VALUES (?, ?, ?)"
                " ON CONFLICT (phone, name) DO UPDATE SET value = excluded.value",
                [(phone, n, v) for n, v in changes],
            )

        await self._run(work)
        return None

    # --- blocklist -----------------------------------------------------------------------------

    async def blocklist(self, phone: str) -> list[str]:
        """The LID users ``phone`` blocked."""

        def work(db: sqlite3.Connection) -> list[str]:
            rows = db.execute(
                "SELECT lid FROM users_blocklist WHERE phone = ? ORDER BY lid", (phone,)
            )
            return [str(r[0]) for r in rows]

        return await self._run(work)

    async def handle_blocklist(self, phone: str, iq: Node) -> tuple[Node, BlockChange | None]:
        """``get``: the ``<list>``; ``set``: apply one ``<item action jid [pn_jid]>`` first."""
        change = None
        if iq.attrs.get("type") == "set":
            item = iq.child("item")
            if item is None:
                raise UserRequestError(400, "bad-request: no <item>")
            try:
                lid = item.attr_jid("jid")
                action = item.attr_str("action")
                pn = item.attr_jid("pn_jid", None)
            except (AttributeMissing, AttributeInvalid, InvalidJID) as exc:
                raise _bad(exc) from None
            if lid.server != LID_SERVER or action not in ("block", "unblock"):
                raise UserRequestError(400, "bad-request: block by LID with block|unblock")
            change = BlockChange(lid.user, action == "block")

            def work(db: sqlite3.Connection) -> None:
                if action == "block":
                    db.execute(
                        "INSERT INTO users_blocklist (phone, lid, pn) VALUES (?, ?, ?)"
                        " ON CONFLICT (phone, lid) DO UPDATE SET pn = excluded.pn",
                        (phone, lid.user, pn.user if pn is not None else ""),
                    )
                else:
                    db.execute(
                        "DELETE FROM users_blocklist WHERE phone = ? AND lid = ?",
                        (phone, lid.user),
                    )

            await self._run(work)
        lids = await self.blocklist(phone)
        items = [Node("item", {"jid": JID(lid, LID_SERVER)}) for lid in lids]
        attrs: dict[str, AttrValue] = {"dhash": str(len(lids))}
        return Node("list", attrs, items), change

    # --- status --------------------------------------------------------------------------------

    async def status(self, phone: str) -> tuple[str, int]:
        """``phone``'s status text and when it was set (``("", 0)`` when never)."""

        def work(db: sqlite3.Connection) -> tuple[str, int]:
            row = db.execute(
                "SELECT text, t FROM users_status WHERE phone = ?", (phone,)
            ).fetchone()
            return (str(row[0]), int(row[1])) if row else ("", 0)

        return await self._run(work)

    async def handle_status(self, phone: str, iq: Node, now: int) -> None:
        """Store the ``<status>`` text of a ``set``."""
        node = iq.child("status")
        if node is None or not isinstance(node.content, bytes | str):
            raise UserRequestError(400, "bad-request: no <status> text")
        raw = node.content if isinstance(node.content, bytes) else node.content.encode()
        try:
            text = raw.decode()
        except UnicodeDecodeError as exc:
            raise _bad(exc) from None
        if len(text) > MAX_STATUS:
            raise UserRequestError(406, "not-acceptable: status too long")

        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO users_status (phone, text, t) VALUES (?, ?, ?)"
                " ON CONFLICT (phone) DO UPDATE SET text = excluded.text, t = excluded.t",
                (phone, text, now),
            )

        await self._run(work)
