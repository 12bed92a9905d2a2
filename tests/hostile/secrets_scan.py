"""Collecting the secret bytes a flow used, and searching text for them in every form a log
line or a repr could show them."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable
from typing import Any

from wamd.signal.group import SenderKeyRecord
from wamd.signal.state import SessionRecord

MIN_SECRET = 16
"""Shorter values are not searched for (they would match by chance)."""


def forms(secret: bytes) -> set[str]:
    """How ``secret`` could appear in text: hex (both cases), base64 (standard and URL-safe,
    with and without padding), Python's bytes repr and latin-1 text."""
    b64 = base64.b64encode(secret).decode()
    url = base64.urlsafe_b64encode(secret).decode()
    out = {
        secret.hex(),
        secret.hex().upper(),
        b64,
        b64.rstrip("="),
        url,
        url.rstrip("="),
        repr(secret)[2:-1],
        secret.decode("latin-1"),
    }
    return {f for f in out if len(f) >= MIN_SECRET}


class Secrets:
    """Named secret values and the text forms to look for."""

    def __init__(self) -> None:
        self.values: dict[bytes, str] = {}

    def add(self, name: str, value: bytes | str | None) -> None:
        if value is None:
            return
        data = value.encode() if isinstance(value, str) else bytes(value)
        if len(data) >= 8:
            self.values.setdefault(data, name)

    def add_session(self, name: str, record: bytes) -> None:
        parsed = SessionRecord.deserialize(record)
        for i, state in enumerate(parsed.states()):
            self.add(f"{name}[{i}].root_key", state.root_key)
            self.add(f"{name}[{i}].sender_chain_key", state.sender_chain_key)
            self.add(f"{name}[{i}].sender_ratchet", state.sender_ratchet.private)
            for j, chain in enumerate(state.receiver_chains):
                self.add(f"{name}[{i}].receiver_chain[{j}]", chain.chain_key)
                for k, key in chain.skipped.items():
                    self.add(f"{name}[{i}].skipped[{k}]", key)

    def add_sender_key(self, name: str, record: bytes) -> None:
        for i, state in enumerate(SenderKeyRecord.deserialize(record).states):
            self.add(f"{name}[{i}].chain_key", state.chain_key)
            if state.signing_key is not None:
                self.add(f"{name}[{i}].signing_key", state.signing_key.private)

    def add_tables(self, who: str, tables: Any) -> None:
        """Every secret of a memory-store account (keys, sessions, sender keys...)."""
        creds = tables.credentials
        self.add(f"{who}.noise_key", creds.noise_key.private)
        self.add(f"{who}.identity_key", creds.identity_key.private)
        self.add(f"{who}.signed_prekey", creds.signed_prekey.key_pair.private)
        self.add(f"{who}.adv_secret", creds.adv_secret_key)
        for key_id, (prekey, _) in tables.prekeys.items():
            self.add(f"{who}.prekey[{key_id}]", prekey.key_pair.private)
        for address, record in tables.sessions.items():
            self.add_session(f"{who}.session[{address}]", record)
        for (group, sender), record in tables.sender_keys.items():
            self.add_sender_key(f"{who}.sender_key[{group},{sender}]", record)
        for key_id, key in tables.app_state_keys.items():
            self.add(f"{who}.app_state_key[{key_id.hex()}]", key.key_data)
        for key, secret in tables.message_secrets.items():
            self.add(f"{who}.message_secret{key}", secret)
        for jid, token in tables.privacy_tokens.items():
            self.add(f"{who}.privacy_token[{jid}]", token.token)

    def find(self, text: str) -> list[str]:
        """The names of the secrets ``text`` shows."""
        found = []
        for value, name in self.values.items():
            if any(f in text for f in forms(value)):
                found.append(name)
        return found


class LogCapture(logging.Handler):
    """Keeps the full text of every record (message, arguments' reprs, traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            text += " " + " ".join(repr(a) for a in args)
        self.texts.append(text)


def scan(secrets: Secrets, texts: Iterable[str]) -> list[tuple[str, str]]:
    """``(secret name, text excerpt)`` for every text showing a secret."""
    leaks = []
    for text in texts:
        for name in secrets.find(text):
            leaks.append((name, text[:300]))
    return leaks
