-- wamd store schema v1 (SQLite): accounts, credentials and the Signal/app-state/contact tables.
-- Every row belongs to one account; deleting the account cascades to all of them.

CREATE TABLE wamd_meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE accounts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    jid            TEXT UNIQUE,
    lid            TEXT,
    push_name      TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    next_prekey_id INTEGER NOT NULL DEFAULT 1,
    credentials    BLOB NOT NULL
);
CREATE INDEX accounts_lid ON accounts (lid);

CREATE TABLE identities (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    address    TEXT NOT NULL,
    key        BLOB NOT NULL,
    PRIMARY KEY (account_id, address)
) WITHOUT ROWID;

CREATE TABLE sessions (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    address    TEXT NOT NULL,
    record     BLOB NOT NULL,
    PRIMARY KEY (account_id, address)
) WITHOUT ROWID;

CREATE TABLE prekeys (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key_id     INTEGER NOT NULL,
    public     BLOB NOT NULL,
    private    BLOB NOT NULL,
    uploaded   BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (account_id, key_id)
) WITHOUT ROWID;

CREATE TABLE signed_prekeys (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key_id     INTEGER NOT NULL,
    public     BLOB NOT NULL,
    private    BLOB NOT NULL,
    signature  BLOB NOT NULL,
    PRIMARY KEY (account_id, key_id)
) WITHOUT ROWID;

CREATE TABLE sender_keys (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    group_id   TEXT NOT NULL,
    sender     TEXT NOT NULL,
    record     BLOB NOT NULL,
    PRIMARY KEY (account_id, group_id, sender)
) WITHOUT ROWID;

CREATE TABLE app_state_keys (
    account_id  INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key_id      BLOB NOT NULL,
    key_data    BLOB NOT NULL,
    fingerprint BLOB NOT NULL,
    timestamp   INTEGER NOT NULL,
    PRIMARY KEY (account_id, key_id)
) WITHOUT ROWID;

CREATE TABLE app_state_versions (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    collection TEXT NOT NULL,
    version    INTEGER NOT NULL,
    hash       BLOB NOT NULL,
    PRIMARY KEY (account_id, collection)
) WITHOUT ROWID;

CREATE TABLE app_state_macs (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    collection TEXT NOT NULL,
    index_mac  BLOB NOT NULL,
    value_mac  BLOB NOT NULL,
    PRIMARY KEY (account_id, collection, index_mac)
) WITHOUT ROWID;

CREATE TABLE contacts (
    account_id    INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    jid           TEXT NOT NULL,
    first_name    TEXT,
    full_name     TEXT,
    push_name     TEXT,
    business_name TEXT,
    PRIMARY KEY (account_id, jid)
) WITHOUT ROWID;

CREATE TABLE chat_settings (
    account_id  INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    chat        TEXT NOT NULL,
    muted_until INTEGER NOT NULL DEFAULT 0,
    pinned      BOOLEAN NOT NULL DEFAULT FALSE,
    archived    BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (account_id, chat)
) WITHOUT ROWID;

CREATE TABLE message_secrets (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    chat       TEXT NOT NULL,
    sender     TEXT NOT NULL,
    message_id TEXT NOT NULL,
    secret     BLOB NOT NULL,
    PRIMARY KEY (account_id, chat, sender, message_id)
) WITHOUT ROWID;

CREATE TABLE lid_map (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    lid        TEXT NOT NULL,
    pn         TEXT NOT NULL,
    PRIMARY KEY (account_id, lid),
    UNIQUE (account_id, pn)
) WITHOUT ROWID;

CREATE TABLE privacy_tokens (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    jid        TEXT NOT NULL,
    token      BLOB NOT NULL,
    timestamp  INTEGER NOT NULL,
    PRIMARY KEY (account_id, jid)
) WITHOUT ROWID;
