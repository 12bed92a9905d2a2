-- wamd store: the latest schema (PostgreSQL) in one step, for fresh databases.
-- Keep equal to applying every numbered migration in order (tests/store/test_migrations.py checks).
-- version: 2

CREATE TABLE wamd_meta (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE accounts (
    id             BIGSERIAL PRIMARY KEY,
    jid            TEXT COLLATE "C" UNIQUE,
    lid            TEXT COLLATE "C",
    push_name      TEXT COLLATE "C" NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    next_prekey_id BIGINT NOT NULL DEFAULT 1,
    credentials    BYTEA NOT NULL
);
CREATE INDEX accounts_lid ON accounts (lid);

CREATE TABLE identities (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    address    TEXT COLLATE "C" NOT NULL,
    key        BYTEA NOT NULL,
    PRIMARY KEY (account_id, address)
);

CREATE TABLE sessions (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    address    TEXT COLLATE "C" NOT NULL,
    record     BYTEA NOT NULL,
    PRIMARY KEY (account_id, address)
);

CREATE TABLE prekeys (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key_id     BIGINT NOT NULL,
    public     BYTEA NOT NULL,
    private    BYTEA NOT NULL,
    uploaded   BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (account_id, key_id)
);

CREATE TABLE signed_prekeys (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key_id     BIGINT NOT NULL,
    public     BYTEA NOT NULL,
    private    BYTEA NOT NULL,
    signature  BYTEA NOT NULL,
    PRIMARY KEY (account_id, key_id)
);

CREATE TABLE sender_keys (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    group_id   TEXT COLLATE "C" NOT NULL,
    sender     TEXT COLLATE "C" NOT NULL,
    record     BYTEA NOT NULL,
    PRIMARY KEY (account_id, group_id, sender)
);

CREATE TABLE app_state_keys (
    account_id  BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key_id      BYTEA NOT NULL,
    key_data    BYTEA NOT NULL,
    fingerprint BYTEA NOT NULL,
    timestamp   BIGINT NOT NULL,
    PRIMARY KEY (account_id, key_id)
);

CREATE TABLE app_state_versions (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    collection TEXT COLLATE "C" NOT NULL,
    version    BIGINT NOT NULL,
    hash       BYTEA NOT NULL,
    PRIMARY KEY (account_id, collection)
);

CREATE TABLE app_state_macs (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    collection TEXT COLLATE "C" NOT NULL,
    index_mac  BYTEA NOT NULL,
    value_mac  BYTEA NOT NULL,
    PRIMARY KEY (account_id, collection, index_mac)
);

CREATE TABLE contacts (
    account_id    BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    jid           TEXT COLLATE "C" NOT NULL,
    first_name    TEXT COLLATE "C",
    full_name     TEXT COLLATE "C",
    push_name     TEXT COLLATE "C",
    business_name TEXT COLLATE "C",
    PRIMARY KEY (account_id, jid)
);

CREATE TABLE chat_settings (
    account_id  BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    chat        TEXT COLLATE "C" NOT NULL,
    muted_until BIGINT NOT NULL DEFAULT 0,
    pinned      BOOLEAN NOT NULL DEFAULT FALSE,
    archived    BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (account_id, chat)
);

CREATE TABLE message_secrets (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    chat       TEXT COLLATE "C" NOT NULL,
    sender     TEXT COLLATE "C" NOT NULL,
    message_id TEXT COLLATE "C" NOT NULL,
    secret     BYTEA NOT NULL,
    PRIMARY KEY (account_id, chat, sender, message_id)
);

CREATE TABLE lid_map (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    lid        TEXT COLLATE "C" NOT NULL,
    pn         TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (account_id, lid),
    UNIQUE (account_id, pn)
);

CREATE TABLE privacy_tokens (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    jid        TEXT COLLATE "C" NOT NULL,
    token      BYTEA NOT NULL,
    timestamp  BIGINT NOT NULL,
    PRIMARY KEY (account_id, jid)
);


CREATE TABLE sender_key_distribution (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    group_id   TEXT COLLATE "C" NOT NULL,
    device     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (account_id, group_id, device)
);
CREATE INDEX sender_key_distribution_device ON sender_key_distribution (account_id, device);

CREATE TABLE outgoing (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    chat       TEXT COLLATE "C" NOT NULL,
    message_id TEXT COLLATE "C" NOT NULL,
    plaintext  BYTEA NOT NULL,
    timestamp  BIGINT NOT NULL,
    PRIMARY KEY (account_id, chat, message_id)
);
CREATE INDEX outgoing_age ON outgoing (account_id, timestamp);

CREATE TABLE seen (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    chat       TEXT COLLATE "C" NOT NULL,
    sender     TEXT COLLATE "C" NOT NULL,
    message_id TEXT COLLATE "C" NOT NULL,
    timestamp  BIGINT NOT NULL,
    PRIMARY KEY (account_id, chat, sender, message_id)
);
CREATE INDEX seen_age ON seen (account_id, timestamp);

CREATE TABLE inbox (
    seq        BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind       TEXT COLLATE "C" NOT NULL,
    payload    BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    done       BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX inbox_pending ON inbox (account_id, done, seq);
