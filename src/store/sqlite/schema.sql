-- Hookbridge embedded schema, version 1. Times are unix milliseconds.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Event types registered at run time (built-in types live in code).
CREATE TABLE event_types (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    schema      TEXT NOT NULL,  -- JSON Schema of the event data
    examples    TEXT NOT NULL,  -- JSON array
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    hash       TEXT NOT NULL UNIQUE,
    last_four  TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE subscriptions (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,  -- JSON array of type names; ["*"] = all
    filter      TEXT,           -- JSON object or NULL
    format      TEXT NOT NULL,
    secret      TEXT NOT NULL,
    headers     TEXT NOT NULL,  -- JSON object, write-only
    description TEXT NOT NULL,
    source      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    -- After a rotation the previous secret keeps signing until this time.
    previous_secret       TEXT,
    previous_secret_until INTEGER,
    -- A disabled subscription gets no new deliveries; its pending ones pause.
    enabled         INTEGER NOT NULL DEFAULT 1,
    disabled_reason TEXT,
    -- Start of the current run of failed attempts; NULL after a success.
    failing_since   INTEGER,
    -- none | fifo: deliveries one at a time, in publish order.
    ordering        TEXT NOT NULL DEFAULT 'none',
    -- Deliveries per second at most; NULL for no limit.
    rate_limit      INTEGER
);
CREATE INDEX subscriptions_by_account ON subscriptions(account_id, id);

CREATE TABLE events (
    pk         INTEGER PRIMARY KEY,
    id         TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    test       INTEGER NOT NULL DEFAULT 0,  -- sent by "send test event"; not a sample
    UNIQUE (account_id, id)
);
CREATE INDEX events_recent ON events(account_id, type, pk);

-- A pending delivery is due at next_attempt_at. Leases are held in memory
-- by the one process that owns the file; lease_token is read only at start,
-- to take back leases that earlier versions wrote into rows.
CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    event_pk        INTEGER NOT NULL REFERENCES events(pk),
    subscription_id TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    state           TEXT NOT NULL,  -- pending | handed | waiting | delivered | failed | cancelled
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    lease_token     INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries(next_attempt_at, subscription_id) WHERE state = 'pending';
-- A target's pending deliveries in due order: what a claim for that target
-- reads, however long other targets' backlogs are.
CREATE INDEX deliveries_pending_by_subscription ON deliveries(subscription_id, next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_by_event ON deliveries(event_pk);
-- An ordered webhook's deliveries behind the one going out, in publish order
-- (the row key).
CREATE INDEX deliveries_waiting ON deliveries(subscription_id) WHERE state = 'waiting';

CREATE TABLE attempts (
    id               TEXT PRIMARY KEY,
    delivery_id      TEXT NOT NULL,
    subscription_id  TEXT NOT NULL,
    account_id       TEXT NOT NULL,
    event_pk         INTEGER NOT NULL,
    started_at       INTEGER NOT NULL,
    status           INTEGER,
    latency_ms       INTEGER NOT NULL,
    response_snippet TEXT NOT NULL,
    error            TEXT
);
-- A webhook's attempts in the order they are listed (newest first, the row
-- key breaking ties), so a page reads only its own rows. Subscription ids
-- are unique across accounts; the key is kept short, since every attempt
-- writes it at one of as many places as there are busy webhooks.
CREATE INDEX attempts_by_subscription ON attempts(subscription_id, started_at);
CREATE INDEX attempts_by_event ON attempts(event_pk);
