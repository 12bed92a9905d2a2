"""App-state sync keys and the five keys expanded from each.

An app-state sync key (shared between one's own devices in ``AppStateSyncKeyShare`` messages)
has an opaque key id and 32 bytes of key data. HKDF-SHA256 of the key data with info
``"WhatsApp Mutation Keys"`` gives 160 bytes, cut into five 32-byte keys: index, value
encryption, value MAC, snapshot MAC and patch MAC.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field

from wamd.crypto import hkdf_sha256
from wamd.errors import AppStateKeyMissing

MUTATION_KEYS_INFO = b"WhatsApp Mutation Keys"


@dataclass(frozen=True, slots=True)
class ExpandedKeys:
    """The five keys derived from one app-state sync key (never shown in ``repr``)."""

    index: bytes = field(repr=False)
    value_encryption: bytes = field(repr=False)
    value_mac: bytes = field(repr=False)
    snapshot_mac: bytes = field(repr=False)
    patch_mac: bytes = field(repr=False)


def expand_keys(key_data: bytes) -> ExpandedKeys:
    """Expand an app-state sync key's data into its five working keys."""
    okm = hkdf_sha256(key_data, 160, info=MUTATION_KEYS_INFO)
    return ExpandedKeys(okm[0:32], okm[32:64], okm[64:96], okm[96:128], okm[128:160])


def key_id_text(key_id: bytes) -> str:
    """A printable form of a key id (standard base64, as both peers log them)."""
    return base64.b64encode(key_id).decode()


class Keyring:
    """The app-state sync keys a decoding or encoding step may use, looked up by key id.

    Sans-I/O: the caller loads the keys it needs from the store (every id named by
    :func:`wamd.appstate.decode.key_ids_needed`) and hands them over. Expansions are cached.
    """

    __slots__ = ("_expanded", "_keys")

    def __init__(self, keys: Mapping[bytes, bytes] | None = None) -> None:
        self._keys: dict[bytes, bytes] = dict(keys or {})
        self._expanded: dict[bytes, ExpandedKeys] = {}

    def __repr__(self) -> str:
        return f"Keyring({len(self._keys)} keys)"

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key_id: bytes, key_data: bytes) -> None:
        """Add (or replace) a key."""
        self._keys[bytes(key_id)] = bytes(key_data)
        self._expanded.pop(bytes(key_id), None)

    def get(self, key_id: bytes) -> ExpandedKeys:
        """The expanded keys for ``key_id``; :class:`AppStateKeyMissing` when it is not held."""
        expanded = self._expanded.get(key_id)
        if expanded is None:
            data = self._keys.get(key_id)
            if data is None:
                raise AppStateKeyMissing([bytes(key_id)])
            expanded = self._expanded[bytes(key_id)] = expand_keys(data)
        return expanded
