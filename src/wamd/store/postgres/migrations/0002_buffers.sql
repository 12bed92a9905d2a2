-- wamd store schema v2 (PostgreSQL): SKDM tracking and the message buffers of the send and receive
-- paths (outgoing plaintexts for retry receipts, the dedupe buffer, the durable inbox).

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
