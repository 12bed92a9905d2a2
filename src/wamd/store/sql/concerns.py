"""The concern stores over SQL, shared by the SQLite and PostgreSQL backends.

Each class implements one Protocol of :mod:`wamd.store.interfaces` for one account, through an
:class:`Executor` (an account handle's or a transaction's) and the store's sealer. Secrets are
sealed with associated data naming their table, account and key (see :mod:`..sealing`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Generic, Self, TypeVar, overload

from wamd.errors import AccountNotFound, StoreError
from wamd.store.sealing import Sealer, aad
from wamd.store.sql.codec import decode_credentials, encode_credentials
from wamd.store.sql.executor import Executor, Row
from wamd.store.sql.statements import ROWS, insert_rows
from wamd.store.types import (
    AppStateSyncKey,
    AppStateVersion,
    ChatSettings,
    Contact,
    DeviceCredentials,
    InboxEntry,
    MessageSecret,
    OutgoingMessage,
    PreKey,
    PrivacyToken,
    SeenMessage,
    SignedPreKey,
    StoredKeyPair,
    now,
)
from wamd.store.util import MAX_PREKEY_ID, check_identity_key, prekey_ids, user_prefix_bounds

__all__ = ["SQLData"]

_T = TypeVar("_T")
_P = TypeVar("_P", bound="_Part")
_CHUNK = 500


def _chunks(values: Iterable[_T], size: int = _CHUNK) -> Iterator[list[_T]]:
    batch: list[_T] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _runs(values: Iterable[int]) -> Iterator[tuple[int, int]]:
    """The runs of consecutive integers in ``values``: (first, last) of each, ascending."""
    run: list[int] = []
    for value in sorted(set(values)):
        if run and value == run[1] + 1:
            run[1] = value
            continue
        if run:
            yield run[0], run[1]
        run = [value, value]
    if run:
        yield run[0], run[1]


class _Part:
    __slots__ = ("_a", "_s", "_x")

    def __init__(self, x: Executor, account_id: int, sealer: Sealer) -> None:
        self._x = x
        self._a = account_id
        self._s = sealer

    async def _fetch_in(
        self, sql: str, column: str, values: Iterable[object], *before: object
    ) -> list[Row]:
        """Run ``sql`` (with ``{in}`` standing for ``column IN values``) in chunks."""
        rows: list[Row] = []
        for chunk in _chunks(values):
            cond, args = self._x.in_list(column, chunk)
            rows.extend(await self._x.fetch(sql.format(cond=cond), [self._a, *before, *args]))
        return rows


class _Credentials(_Part):
    async def load(self) -> DeviceCredentials:
        row = await self._x.fetchrow("SELECT credentials FROM accounts WHERE id = ?", [self._a])
        if row is None:
            raise AccountNotFound(f"account {self._a} does not exist")
        return decode_credentials(self._s.open(row[0], aad("accounts", self._a)))

    async def save(self, credentials: DeviceCredentials) -> None:
        blob = self._s.seal(encode_credentials(credentials), aad("accounts", self._a))
        async with self._x.atomic() as x:
            if credentials.jid is not None:
                other = await x.fetchrow(
                    "SELECT id FROM accounts WHERE jid = ? AND id <> ?", [credentials.jid, self._a]
                )
                if other is not None:
                    raise StoreError(f"account {other[0]} already has JID {credentials.jid}")
            changed = await x.execute(
                "UPDATE accounts SET jid = ?, lid = ?, push_name = ?, credentials = ? WHERE id = ?",
                [credentials.jid, credentials.lid, credentials.push_name, blob, self._a],
            )
            if not changed:
                raise AccountNotFound(f"account {self._a} does not exist")


class _Identities(_Part):
    async def get(self, address: str) -> bytes | None:
        row = await self._x.fetchrow(
            "SELECT key FROM identities WHERE account_id = ? AND address = ?", [self._a, address]
        )
        return None if row is None else bytes(row[0])

    async def get_many(self, addresses: Iterable[str]) -> dict[str, bytes]:
        rows = await self._fetch_in(
            "SELECT address, key FROM identities WHERE account_id = ? AND {cond}",
            "address",
            addresses,
        )
        return {r[0]: bytes(r[1]) for r in rows}

    async def put(self, address: str, key: bytes) -> None:
        await self.put_many({address: key})

    async def put_many(self, keys: Mapping[str, bytes]) -> None:
        for key in keys.values():
            check_identity_key(key)
        await self._x.executemany(
            "INSERT INTO identities (account_id, address, key) VALUES (?, ?, ?) "
            "ON CONFLICT (account_id, address) DO UPDATE SET key = excluded.key",
            [(self._a, address, bytes(key)) for address, key in keys.items()],
        )

    async def delete(self, address: str) -> None:
        await self._x.write(
            "DELETE FROM identities WHERE account_id = ? AND address = ?", [self._a, address]
        )

    async def delete_user(self, name: str) -> None:
        await self._x.write(
            "DELETE FROM identities WHERE account_id = ? AND address >= ? AND address < ?",
            [self._a, *user_prefix_bounds(name)],
        )


class _Sessions(_Part):
    def _aad(self, address: str) -> bytes:
        return aad("sessions", self._a, address)

    async def get(self, address: str) -> bytes | None:
        row = await self._x.fetchrow(
            "SELECT record FROM sessions WHERE account_id = ? AND address = ?", [self._a, address]
        )
        return None if row is None else self._s.open(row[0], self._aad(address))

    async def get_many(self, addresses: Iterable[str]) -> dict[str, bytes]:
        rows = await self._fetch_in(
            "SELECT address, record FROM sessions WHERE account_id = ? AND {cond}",
            "address",
            addresses,
        )
        return {r[0]: self._s.open(r[1], self._aad(r[0])) for r in rows}

    async def put(self, address: str, record: bytes) -> None:
        await self._x.write(
            "INSERT INTO sessions (account_id, address, record) VALUES (?, ?, ?) "
            "ON CONFLICT (account_id, address) DO UPDATE SET record = excluded.record",
            [self._a, address, self._s.seal(record, self._aad(address))],
        )

    async def put_many(self, records: Mapping[str, bytes]) -> None:
        await self._x.executemany(
            "INSERT INTO sessions (account_id, address, record) VALUES (?, ?, ?) "
            "ON CONFLICT (account_id, address) DO UPDATE SET record = excluded.record",
            [(self._a, a, self._s.seal(r, self._aad(a))) for a, r in records.items()],
        )

    async def delete(self, address: str) -> None:
        await self._x.write(
            "DELETE FROM sessions WHERE account_id = ? AND address = ?", [self._a, address]
        )

    async def delete_many(self, addresses: Iterable[str]) -> None:
        await self._x.executemany(
            "DELETE FROM sessions WHERE account_id = ? AND address = ?",
            [(self._a, address) for address in addresses],
        )

    async def delete_user(self, name: str) -> None:
        await self._x.write(
            "DELETE FROM sessions WHERE account_id = ? AND address >= ? AND address < ?",
            [self._a, *user_prefix_bounds(name)],
        )

    async def addresses_of_user(self, name: str) -> list[str]:
        rows = await self._x.fetch(
            "SELECT address FROM sessions WHERE account_id = ? AND address >= ? AND address < ? "
            "ORDER BY address",
            [self._a, *user_prefix_bounds(name)],
        )
        return [r[0] for r in rows]


class _PreKeys(_Part):
    def _prekey(self, row: Row) -> PreKey:
        key_id = int(row[0])
        private = self._s.open(row[2], aad("prekeys", self._a, key_id))
        return PreKey(key_id, StoredKeyPair(bytes(row[1]), private))

    async def reserve_ids(self, count: int) -> list[int]:
        if count < 0:
            raise ValueError("count must be >= 0")
        row = await self._x.fetchrow(
            "UPDATE accounts SET next_prekey_id = next_prekey_id + ? WHERE id = ? "
            "RETURNING next_prekey_id",
            [count, self._a],
        )
        if row is None:
            raise AccountNotFound(f"account {self._a} does not exist")
        return prekey_ids(int(row[0]) - count, count)

    async def put_many(self, prekeys: Iterable[PreKey]) -> None:
        rows = []
        for p in prekeys:
            if not 1 <= p.key_id <= MAX_PREKEY_ID:
                raise ValueError(f"prekey id {p.key_id} out of range")
            private = self._s.seal(p.key_pair.private, aad("prekeys", self._a, p.key_id))
            rows.append((self._a, p.key_id, p.key_pair.public, private))
        await self._x.executemany(
            "INSERT INTO prekeys (account_id, key_id, public, private, uploaded) "
            "VALUES (?, ?, ?, ?, FALSE) ON CONFLICT (account_id, key_id) DO UPDATE SET "
            "public = excluded.public, private = excluded.private, uploaded = FALSE",
            rows,
        )

    async def get(self, key_id: int) -> PreKey | None:
        row = await self._x.fetchrow(
            "SELECT key_id, public, private FROM prekeys WHERE account_id = ? AND key_id = ?",
            [self._a, key_id],
        )
        return None if row is None else self._prekey(row)

    async def get_many(self, key_ids: Iterable[int]) -> dict[int, PreKey]:
        rows = await self._fetch_in(
            "SELECT key_id, public, private FROM prekeys WHERE account_id = ? AND {cond}",
            "key_id",
            key_ids,
        )
        return {p.key_id: p for p in map(self._prekey, rows)}

    async def remove(self, key_id: int) -> None:
        await self._x.write(
            "DELETE FROM prekeys WHERE account_id = ? AND key_id = ?", [self._a, key_id]
        )

    async def count(self, *, uploaded: bool | None = None) -> int:
        if uploaded is None:
            row = await self._x.fetchrow(
                "SELECT COUNT(*) FROM prekeys WHERE account_id = ?", [self._a]
            )
        else:
            row = await self._x.fetchrow(
                "SELECT COUNT(*) FROM prekeys WHERE account_id = ? AND uploaded = ?",
                [self._a, uploaded],
            )
        return int(row[0]) if row else 0

    async def unuploaded(self, limit: int | None = None) -> list[PreKey]:
        sql = (
            "SELECT key_id, public, private FROM prekeys WHERE account_id = ? AND NOT uploaded "
            "ORDER BY key_id"
        )
        args: list[object] = [self._a]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [self._prekey(r) for r in await self._x.fetch(sql, args)]

    async def mark_uploaded(self, key_ids: Iterable[int]) -> None:
        await self._x.executemany(
            "UPDATE prekeys SET uploaded = TRUE WHERE account_id = ? AND key_id = ?",
            [(self._a, key_id) for key_id in key_ids],
        )


class _SignedPreKeys(_Part):
    def _spk(self, row: Row) -> SignedPreKey:
        key_id = int(row[0])
        private = self._s.open(row[2], aad("signed_prekeys", self._a, key_id))
        return SignedPreKey(key_id, StoredKeyPair(bytes(row[1]), private), bytes(row[3]))

    async def get(self, key_id: int) -> SignedPreKey | None:
        row = await self._x.fetchrow(
            "SELECT key_id, public, private, signature FROM signed_prekeys "
            "WHERE account_id = ? AND key_id = ?",
            [self._a, key_id],
        )
        return None if row is None else self._spk(row)

    async def put(self, prekey: SignedPreKey) -> None:
        private = self._s.seal(
            prekey.key_pair.private, aad("signed_prekeys", self._a, prekey.key_id)
        )
        await self._x.write(
            "INSERT INTO signed_prekeys (account_id, key_id, public, private, signature) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, key_id) DO UPDATE SET "
            "public = excluded.public, private = excluded.private, signature = excluded.signature",
            [self._a, prekey.key_id, prekey.key_pair.public, private, prekey.signature],
        )

    async def all(self) -> list[SignedPreKey]:
        rows = await self._x.fetch(
            "SELECT key_id, public, private, signature FROM signed_prekeys "
            "WHERE account_id = ? ORDER BY key_id",
            [self._a],
        )
        return [self._spk(r) for r in rows]

    async def remove(self, key_id: int) -> None:
        await self._x.write(
            "DELETE FROM signed_prekeys WHERE account_id = ? AND key_id = ?", [self._a, key_id]
        )


class _SenderKeys(_Part):
    def _aad(self, group: str, sender: str) -> bytes:
        return aad("sender_keys", self._a, group, sender)

    async def get(self, group: str, sender: str) -> bytes | None:
        row = await self._x.fetchrow(
            "SELECT record FROM sender_keys WHERE account_id = ? AND group_id = ? AND sender = ?",
            [self._a, group, sender],
        )
        return None if row is None else self._s.open(row[0], self._aad(group, sender))

    async def get_many(self, group: str, senders: Iterable[str]) -> dict[str, bytes]:
        rows = await self._fetch_in(
            "SELECT sender, record FROM sender_keys WHERE account_id = ? AND group_id = ? "
            "AND {cond}",
            "sender",
            senders,
            group,
        )
        return {r[0]: self._s.open(r[1], self._aad(group, r[0])) for r in rows}

    async def put(self, group: str, sender: str, record: bytes) -> None:
        await self._x.write(
            "INSERT INTO sender_keys (account_id, group_id, sender, record) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (account_id, group_id, sender) DO UPDATE SET record = excluded.record",
            [self._a, group, sender, self._s.seal(record, self._aad(group, sender))],
        )

    async def delete(self, group: str, sender: str) -> None:
        await self._x.write(
            "DELETE FROM sender_keys WHERE account_id = ? AND group_id = ? AND sender = ?",
            [self._a, group, sender],
        )

    async def delete_group(self, group: str) -> None:
        await self._x.write(
            "DELETE FROM sender_keys WHERE account_id = ? AND group_id = ?", [self._a, group]
        )


class _SenderKeyDistribution(_Part):
    async def sent_to(self, group: str) -> set[str]:
        rows = await self._x.fetch(
            "SELECT device FROM sender_key_distribution WHERE account_id = ? AND group_id = ?",
            [self._a, group],
        )
        return {r[0] for r in rows}

    async def mark_sent(self, group: str, devices: Iterable[str]) -> None:
        await self._x.executemany(
            "INSERT INTO sender_key_distribution (account_id, group_id, device) "
            "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [(self._a, group, device) for device in devices],
        )

    async def clear(self, group: str) -> None:
        await self._x.write(
            "DELETE FROM sender_key_distribution WHERE account_id = ? AND group_id = ?",
            [self._a, group],
        )

    async def forget_devices(self, devices: Iterable[str]) -> None:
        await self._x.executemany(
            "DELETE FROM sender_key_distribution WHERE account_id = ? AND device = ?",
            [(self._a, device) for device in devices],
        )


class _AppStateKeys(_Part):
    def _key(self, row: Row) -> AppStateSyncKey:
        key_id = bytes(row[0])
        data = self._s.open(row[1], aad("app_state_keys", self._a, key_id))
        return AppStateSyncKey(key_id, data, bytes(row[2]), int(row[3]))

    async def get(self, key_id: bytes) -> AppStateSyncKey | None:
        row = await self._x.fetchrow(
            "SELECT key_id, key_data, fingerprint, timestamp FROM app_state_keys "
            "WHERE account_id = ? AND key_id = ?",
            [self._a, bytes(key_id)],
        )
        return None if row is None else self._key(row)

    async def put(self, key: AppStateSyncKey) -> None:
        await self.put_many([key])

    async def put_many(self, keys: Iterable[AppStateSyncKey]) -> None:
        await self._x.executemany(
            "INSERT INTO app_state_keys (account_id, key_id, key_data, fingerprint, timestamp) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, key_id) DO UPDATE SET "
            "key_data = excluded.key_data, fingerprint = excluded.fingerprint, "
            "timestamp = excluded.timestamp",
            [
                (
                    self._a,
                    bytes(k.key_id),
                    self._s.seal(k.key_data, aad("app_state_keys", self._a, bytes(k.key_id))),
                    bytes(k.fingerprint),
                    k.timestamp,
                )
                for k in keys
            ],
        )

    async def latest(self) -> AppStateSyncKey | None:
        row = await self._x.fetchrow(
            "SELECT key_id, key_data, fingerprint, timestamp FROM app_state_keys "
            "WHERE account_id = ? ORDER BY timestamp DESC, key_id DESC LIMIT 1",
            [self._a],
        )
        return None if row is None else self._key(row)


class _AppState(_Part):
    async def get_version(self, collection: str) -> AppStateVersion:
        row = await self._x.fetchrow(
            "SELECT version, hash FROM app_state_versions WHERE account_id = ? AND collection = ?",
            [self._a, collection],
        )
        return AppStateVersion() if row is None else AppStateVersion(int(row[0]), bytes(row[1]))

    async def put_version(self, collection: str, version: AppStateVersion) -> None:
        await self._x.write(
            "INSERT INTO app_state_versions (account_id, collection, version, hash) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (account_id, collection) DO UPDATE SET "
            "version = excluded.version, hash = excluded.hash",
            [self._a, collection, version.version, version.hash],
        )

    async def delete_collection(self, collection: str) -> None:
        async with self._x.atomic() as x:
            for table in ("app_state_versions", "app_state_macs"):
                await x.write(
                    f"DELETE FROM {table} WHERE account_id = ? AND collection = ?",
                    [self._a, collection],
                )

    async def put_macs(self, collection: str, macs: Mapping[bytes, bytes]) -> None:
        await self._x.executemany(
            "INSERT INTO app_state_macs (account_id, collection, index_mac, value_mac) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (account_id, collection, index_mac) "
            "DO UPDATE SET value_mac = excluded.value_mac",
            [(self._a, collection, bytes(i), bytes(v)) for i, v in macs.items()],
        )

    async def delete_macs(self, collection: str, index_macs: Iterable[bytes]) -> None:
        await self._x.executemany(
            "DELETE FROM app_state_macs WHERE account_id = ? AND collection = ? AND index_mac = ?",
            [(self._a, collection, bytes(i)) for i in index_macs],
        )

    async def get_mac(self, collection: str, index_mac: bytes) -> bytes | None:
        row = await self._x.fetchrow(
            "SELECT value_mac FROM app_state_macs "
            "WHERE account_id = ? AND collection = ? AND index_mac = ?",
            [self._a, collection, bytes(index_mac)],
        )
        return None if row is None else bytes(row[0])

    async def get_macs(self, collection: str, index_macs: Iterable[bytes]) -> dict[bytes, bytes]:
        rows = await self._fetch_in(
            "SELECT index_mac, value_mac FROM app_state_macs "
            "WHERE account_id = ? AND collection = ? AND {cond}",
            "index_mac",
            (bytes(i) for i in index_macs),
            collection,
        )
        return {bytes(r[0]): bytes(r[1]) for r in rows}


_CONTACT_COLUMNS = "jid, first_name, full_name, push_name, business_name"


class _Contacts(_Part):
    async def get(self, jid: str) -> Contact | None:
        row = await self._x.fetchrow(
            f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE account_id = ? AND jid = ?",
            [self._a, jid],
        )
        return None if row is None else Contact(*row)

    async def get_many(self, jids: Iterable[str]) -> dict[str, Contact]:
        rows = await self._fetch_in(
            f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE account_id = ? AND {{cond}}",
            "jid",
            jids,
        )
        return {r[0]: Contact(*r) for r in rows}

    async def all(self) -> list[Contact]:
        rows = await self._x.fetch(
            f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE account_id = ? ORDER BY jid",
            [self._a],
        )
        return [Contact(*r) for r in rows]

    async def put(self, contact: Contact) -> None:
        await self.put_many([contact])

    async def put_many(self, contacts: Iterable[Contact]) -> None:
        await self._x.executemany(
            f"INSERT INTO contacts (account_id, {_CONTACT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (account_id, jid) DO UPDATE SET "
            "first_name = COALESCE(excluded.first_name, contacts.first_name), "
            "full_name = COALESCE(excluded.full_name, contacts.full_name), "
            "push_name = COALESCE(excluded.push_name, contacts.push_name), "
            "business_name = COALESCE(excluded.business_name, contacts.business_name)",
            [
                (self._a, c.jid, c.first_name, c.full_name, c.push_name, c.business_name)
                for c in contacts
            ],
        )


class _ChatSettings(_Part):
    async def get(self, chat: str) -> ChatSettings:
        row = await self._x.fetchrow(
            "SELECT muted_until, pinned, archived FROM chat_settings "
            "WHERE account_id = ? AND chat = ?",
            [self._a, chat],
        )
        return (
            ChatSettings() if row is None else ChatSettings(int(row[0]), bool(row[1]), bool(row[2]))
        )

    async def update(
        self,
        chat: str,
        *,
        muted_until: int | None = None,
        pinned: bool | None = None,
        archived: bool | None = None,
    ) -> None:
        await self._x.write(
            "INSERT INTO chat_settings (account_id, chat, muted_until, pinned, archived) "
            "VALUES (?, ?, COALESCE(?, 0), COALESCE(?, FALSE), COALESCE(?, FALSE)) "
            "ON CONFLICT (account_id, chat) DO UPDATE SET "
            "muted_until = COALESCE(?, chat_settings.muted_until), "
            "pinned = COALESCE(?, chat_settings.pinned), "
            "archived = COALESCE(?, chat_settings.archived)",
            [self._a, chat, muted_until, pinned, archived, muted_until, pinned, archived],
        )


class _MessageSecrets(_Part):
    async def get(self, chat: str, sender: str, message_id: str) -> bytes | None:
        row = await self._x.fetchrow(
            "SELECT secret FROM message_secrets "
            "WHERE account_id = ? AND chat = ? AND sender = ? AND message_id = ?",
            [self._a, chat, sender, message_id],
        )
        if row is None:
            return None
        return self._s.open(row[0], aad("message_secrets", self._a, chat, sender, message_id))

    async def put_many(self, secrets: Iterable[MessageSecret]) -> None:
        await self._x.executemany(
            "INSERT INTO message_secrets (account_id, chat, sender, message_id, secret) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                (
                    self._a,
                    m.chat,
                    m.sender,
                    m.message_id,
                    self._s.seal(
                        m.secret, aad("message_secrets", self._a, m.chat, m.sender, m.message_id)
                    ),
                )
                for m in secrets
            ],
        )


class _LIDMap(_Part):
    async def put_many(self, pairs: Iterable[tuple[str, str]]) -> None:
        # Same result as storing the pairs one by one: every stored pair sharing a side with
        # any new pair goes, then the new pairs (later ones winning within the batch) go in.
        lid_to_pn: dict[str, str] = {}
        pn_to_lid: dict[str, str] = {}
        touched: list[tuple[str, str]] = []
        for lid, pn in pairs:
            touched.append((lid, pn))
            old_pn = lid_to_pn.pop(lid, None)
            if old_pn is not None:
                pn_to_lid.pop(old_pn, None)
            old_lid = pn_to_lid.pop(pn, None)
            if old_lid is not None:
                lid_to_pn.pop(old_lid, None)
            lid_to_pn[lid] = pn
            pn_to_lid[pn] = lid
        if not touched:
            return
        async with self._x.atomic() as x:
            await x.executemany(
                "DELETE FROM lid_map WHERE account_id = ? AND (lid = ? OR pn = ?)",
                [(self._a, lid, pn) for lid, pn in touched],
            )
            # A conflict here can only come from another transaction that stored a pair
            # sharing a side after our DELETE ran (PostgreSQL: its row was not visible yet;
            # our insert waited for its commit). Both learned the pair from the server: the
            # first to commit keeps it, instead of this transaction failing.
            await x.executemany(
                "INSERT INTO lid_map (account_id, lid, pn) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [(self._a, lid, pn) for lid, pn in lid_to_pn.items()],
            )

    async def pn_for_lid(self, lid: str) -> str | None:
        return (await self.pns_for_lids([lid])).get(lid)

    async def lid_for_pn(self, pn: str) -> str | None:
        return (await self.lids_for_pns([pn])).get(pn)

    async def pns_for_lids(self, lids: Iterable[str]) -> dict[str, str]:
        rows = await self._fetch_in(
            "SELECT lid, pn FROM lid_map WHERE account_id = ? AND {cond}", "lid", lids
        )
        return {r[0]: r[1] for r in rows}

    async def lids_for_pns(self, pns: Iterable[str]) -> dict[str, str]:
        rows = await self._fetch_in(
            "SELECT pn, lid FROM lid_map WHERE account_id = ? AND {cond}", "pn", pns
        )
        return {r[0]: r[1] for r in rows}


class _PrivacyTokens(_Part):
    async def get(self, jid: str) -> PrivacyToken | None:
        row = await self._x.fetchrow(
            "SELECT token, timestamp FROM privacy_tokens WHERE account_id = ? AND jid = ?",
            [self._a, jid],
        )
        if row is None:
            return None
        return PrivacyToken(
            jid, self._s.open(row[0], aad("privacy_tokens", self._a, jid)), int(row[1])
        )

    async def put_many(self, tokens: Iterable[PrivacyToken]) -> None:
        await self._x.executemany(
            "INSERT INTO privacy_tokens (account_id, jid, token, timestamp) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (account_id, jid) DO UPDATE SET "
            "token = excluded.token, timestamp = excluded.timestamp",
            [
                (
                    self._a,
                    t.jid,
                    self._s.seal(t.token, aad("privacy_tokens", self._a, t.jid)),
                    t.timestamp,
                )
                for t in tokens
            ],
        )


async def _prune(
    x: Executor,
    table: str,
    key_columns: Sequence[str],
    account_id: int,
    before: int | None,
    keep_last: int | None,
) -> int:
    """Delete rows older than ``before`` and beyond the newest ``keep_last``
    (newest = greatest timestamp, ties broken by the greatest key)."""
    deleted = 0
    async with x.atomic() as ax:
        if before is not None:
            deleted += await ax.execute(
                f"DELETE FROM {table} WHERE account_id = ? AND timestamp < ?", [account_id, before]
            )
        if keep_last is not None:
            if keep_last < 0:
                raise ValueError("keep_last must be >= 0")
            columns = ", ".join(["timestamp", *key_columns])
            order = ", ".join(f"{c} DESC" for c in ["timestamp", *key_columns])
            cut = await ax.fetchrow(
                f"SELECT {columns} FROM {table} WHERE account_id = ? ORDER BY {order} "
                "LIMIT 1 OFFSET ?",
                [account_id, keep_last],
            )
            if cut is not None:
                marks = ", ".join("?" for _ in cut)
                deleted += await ax.execute(
                    f"DELETE FROM {table} WHERE account_id = ? AND ({columns}) <= ({marks})",
                    [account_id, *cut],
                )
    return deleted


class _Outgoing(_Part):
    async def get(self, chat: str, message_id: str) -> OutgoingMessage | None:
        row = await self._x.fetchrow(
            "SELECT plaintext, timestamp FROM outgoing "
            "WHERE account_id = ? AND chat = ? AND message_id = ?",
            [self._a, chat, message_id],
        )
        if row is None:
            return None
        plaintext = self._s.open(row[0], aad("outgoing", self._a, chat, message_id))
        return OutgoingMessage(chat, message_id, plaintext, int(row[1]))

    async def put(
        self, chat: str, message_id: str, plaintext: bytes, timestamp: int | None = None
    ) -> None:
        sealed = self._s.seal(plaintext, aad("outgoing", self._a, chat, message_id))
        await self._x.write(
            "INSERT INTO outgoing (account_id, chat, message_id, plaintext, timestamp) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, chat, message_id) DO UPDATE SET "
            "plaintext = excluded.plaintext, timestamp = excluded.timestamp",
            [self._a, chat, message_id, sealed, now() if timestamp is None else timestamp],
        )

    async def delete(self, chat: str, message_id: str) -> None:
        await self._x.write(
            "DELETE FROM outgoing WHERE account_id = ? AND chat = ? AND message_id = ?",
            [self._a, chat, message_id],
        )

    async def prune(self, *, before: int | None = None, keep_last: int | None = None) -> int:
        return await _prune(self._x, "outgoing", ("chat", "message_id"), self._a, before, keep_last)


_SEEN_COLUMNS = ("account_id", "chat", "sender", "message_id", "timestamp")


class _Seen(_Part):
    async def add(self, message: SeenMessage, timestamp: int | None = None) -> bool:
        added = await self._x.execute(
            "INSERT INTO seen (account_id, chat, sender, message_id, timestamp) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                self._a,
                message.chat,
                message.sender,
                message.message_id,
                now() if timestamp is None else timestamp,
            ],
        )
        return added == 1

    async def add_many(self, messages: Sequence[tuple[SeenMessage, int | None]]) -> list[bool]:
        if len(messages) == 1:  # a receive batch of one message: one plain statement
            return [await self.add(*messages[0])]
        # a message given twice is added once, by its first occurrence (as the memory store)
        first: dict[tuple[str, str, str], int] = {}
        rows: list[tuple[object, ...]] = []
        for i, (message, timestamp) in enumerate(messages):
            key = (message.chat, message.sender, message.message_id)
            if key not in first:
                first[key] = i
                stamp = now() if timestamp is None else timestamp
                rows.append((self._a, *key, stamp))
        added: list[bool] = []
        for chunk in _chunks(rows, ROWS):
            added += await self._x.insert_new("seen", _SEEN_COLUMNS, 4, chunk)
        new = {i for i, fresh in zip(first.values(), added, strict=True) if fresh}
        return [i in new for i in range(len(messages))]

    async def contains(self, message: SeenMessage) -> bool:
        row = await self._x.fetchrow(
            "SELECT 1 FROM seen WHERE account_id = ? AND chat = ? AND sender = ? "
            "AND message_id = ?",
            [self._a, message.chat, message.sender, message.message_id],
        )
        return row is not None

    async def prune(self, *, before: int | None = None, keep_last: int | None = None) -> int:
        return await _prune(
            self._x, "seen", ("chat", "sender", "message_id"), self._a, before, keep_last
        )


_INBOX = "INSERT INTO inbox (account_id, kind, payload, created_at, done) VALUES "
_INBOX_ROW = "(?, ?, ?, ?, FALSE)"
_INBOX_ONE = _INBOX + _INBOX_ROW


class _Inbox(_Part):
    def _entry(self, row: Row) -> InboxEntry:
        payload = self._s.open(row[2], aad("inbox", self._a, row[1]))
        return InboxEntry(int(row[0]), row[1], payload, int(row[3]), bool(row[4]))

    def _row(self, kind: str, payload: bytes, created_at: int | None) -> tuple[object, ...]:
        """The arguments of one entry's ``(?, ?, ?, ?, FALSE)``."""
        sealed = self._s.seal(payload, aad("inbox", self._a, kind))
        return self._a, kind, sealed, now() if created_at is None else created_at

    async def put(self, kind: str, payload: bytes, created_at: int | None = None) -> int:
        row = self._row(kind, payload, created_at)
        return (await self._x.insert_rows(_INBOX_ONE, row, 1, "seq"))[0]

    async def put_many(self, entries: Sequence[tuple[str, bytes, int | None]]) -> list[int]:
        if len(entries) == 1:  # (a receive batch of one message)
            return [await self.put(*entries[0])]
        seqs: list[int] = []
        for chunk in _chunks(entries, ROWS):
            args: list[object] = []
            for entry in chunk:
                args += self._row(*entry)
            sql = insert_rows(_INBOX, _INBOX_ROW, len(chunk))
            seqs += await self._x.insert_rows(sql, args, len(chunk), "seq")
        return seqs

    async def get(self, seq: int) -> InboxEntry | None:
        row = await self._x.fetchrow(
            "SELECT seq, kind, payload, created_at, done FROM inbox "
            "WHERE account_id = ? AND seq = ?",
            [self._a, seq],
        )
        return None if row is None else self._entry(row)

    async def pending(self, limit: int | None = None) -> list[InboxEntry]:
        sql = (
            "SELECT seq, kind, payload, created_at, done FROM inbox "
            "WHERE account_id = ? AND done = FALSE ORDER BY seq"
        )
        args: list[object] = [self._a]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [self._entry(r) for r in await self._x.fetch(sql, args)]

    async def mark_done(self, seqs: Iterable[int]) -> None:
        # one statement a run of consecutive seqs (the entries of a batch finish together);
        # "+account_id": a range of the primary key, not the scan of the account's entries
        # an index on account_id would be
        await self._x.executemany(
            "UPDATE inbox SET done = TRUE WHERE +account_id = ? AND seq BETWEEN ? AND ?",
            [(self._a, first, last) for first, last in _runs(seqs)],
        )

    async def delete_done(self) -> int:
        return await self._x.execute(
            "DELETE FROM inbox WHERE account_id = ? AND done = TRUE", [self._a]
        )


class _Lazy(Generic[_P]):
    """A concern store of :class:`SQLData`, made on first use and kept (a transaction uses two
    or three of them)."""

    __slots__ = ("_cls", "_name")

    def __init__(self, cls: type[_P]) -> None:
        self._cls = cls
        self._name = ""

    def __set_name__(self, owner: type[SQLData], name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, owner: type[SQLData]) -> Self: ...

    @overload
    def __get__(self, obj: SQLData, owner: type[SQLData]) -> _P: ...

    def __get__(self, obj: SQLData | None, owner: type[SQLData]) -> _P | Self:
        if obj is None:
            return self
        part = self._cls(obj._x, obj._a, obj._s)
        obj.__dict__[self._name] = part  # (an instance attribute: found first from now on)
        return part


class SQLData:
    """The concern stores of one account over one executor."""

    credentials = _Lazy(_Credentials)
    identities = _Lazy(_Identities)
    sessions = _Lazy(_Sessions)
    prekeys = _Lazy(_PreKeys)
    signed_prekeys = _Lazy(_SignedPreKeys)
    sender_keys = _Lazy(_SenderKeys)
    sender_key_distribution = _Lazy(_SenderKeyDistribution)
    app_state_keys = _Lazy(_AppStateKeys)
    app_state = _Lazy(_AppState)
    contacts = _Lazy(_Contacts)
    chat_settings = _Lazy(_ChatSettings)
    message_secrets = _Lazy(_MessageSecrets)
    lid_map = _Lazy(_LIDMap)
    privacy_tokens = _Lazy(_PrivacyTokens)
    outgoing = _Lazy(_Outgoing)
    seen = _Lazy(_Seen)
    inbox = _Lazy(_Inbox)

    def __init__(self, x: Executor, account_id: int, sealer: Sealer) -> None:
        self._x = x
        self._a = account_id
        self._s = sealer
