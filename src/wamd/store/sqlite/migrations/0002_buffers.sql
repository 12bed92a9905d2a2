-- wamd store schema v2 (SQLite): SKDM tracking and the message buffers of the send and receive
-- paths (outgoing plaintexts for retry receipts, the dedupe buffer, the durable inbox).

CREATE TABLE sender_key_distribution (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    group_id   TEXT NOT NULL,
    device     TEXT NOT NULL,
    PRIMARY KEY (account_id, group_id, device)
) WITHOUT ROWID;
CREATE INDEX sender_key_distribution_device ON sender_key_distribution (account_id, device);

CREATE TABLE outgoing (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    chat       TEXT NOT NULL,
    message_id TEXT NOT NULL,
    plaintext  BLOB NOT NULL,
    timestamp  INTEGER NOT NULL,
    PRIMARY KEY (account_id, chat, message_id)
) WITHOUT ROWID;
CREATE INDEX outgoing_age ON outgoing (account_id, timestamp);

CREATE TABLE seen (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    chat       TEXT NOT NULL,
    sender     TEXT NOT NULL,
    message_id TEXT NOT NULL,
    timestamp  INTEGER NOT NULL,
    PRIMARY KEY (account_id, chat, sender, message_id)
) WITHOUT ROWID;
CREATE INDEX seen_age ON seen (account_id, timestamp);

CREATE TABLE inbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    payload    BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    done       BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX inbox_pending ON inbox (account_id, done, seq);
