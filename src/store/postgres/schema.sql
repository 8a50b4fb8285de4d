-- Hookbridge PostgreSQL schema, version 1. Times are unix milliseconds.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE event_types (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    schema      TEXT NOT NULL,
    examples    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    hash       TEXT NOT NULL UNIQUE,
    last_four  TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE subscriptions (
    id                    TEXT PRIMARY KEY,
    account_id            TEXT NOT NULL REFERENCES accounts(id),
    url                   TEXT NOT NULL,
    events                TEXT NOT NULL,
    filter                TEXT,
    format                TEXT NOT NULL,
    secret                TEXT NOT NULL,
    headers               TEXT NOT NULL,
    description           TEXT NOT NULL,
    source                TEXT NOT NULL,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    previous_secret       TEXT,
    previous_secret_until BIGINT,
    enabled               BOOLEAN NOT NULL DEFAULT TRUE,
    disabled_reason       TEXT,
    failing_since         BIGINT,
    -- none | fifo: deliveries one at a time, in publish order.
    ordering              TEXT NOT NULL DEFAULT 'none',
    -- Deliveries per second at most; NULL for no limit. next_send_us is when
    -- (unix microseconds) the next delivery may start, shared by the nodes.
    rate_limit            INTEGER,
    next_send_us          BIGINT
);
CREATE INDEX subscriptions_by_account ON subscriptions(account_id, id);

CREATE TABLE events (
    pk         BIGSERIAL PRIMARY KEY,
    id         TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    test       BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (account_id, id)
);
CREATE INDEX events_recent ON events(account_id, type, pk);

-- As in SQLite: a claim moves next_attempt_at to the lease's expiry, so a
-- lease whose node died simply makes the row due again for any node.
-- event_pk has no foreign key: its check ran once per delivery row (a row
-- lock on the event, in a nested query) and became the costliest part of
-- ingest among many tenants. Ingest writes an event and its deliveries in
-- one transaction; a replay, the one writer of deliveries for events
-- already stored, locks them (FOR KEY SHARE) and retention locks the
-- events it purges (FOR UPDATE) first, as the check did.
CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    event_pk        BIGINT NOT NULL,
    subscription_id TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    lease_token     BIGINT,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE state = 'pending';
-- A target's pending deliveries in due order: what a claim for that target
-- reads, however long other targets' backlogs are.
CREATE INDEX deliveries_pending_by_subscription ON deliveries(subscription_id, next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_by_event ON deliveries(event_pk);
-- An ordered webhook's deliveries behind the one going out, in publish order.
CREATE INDEX deliveries_waiting ON deliveries(subscription_id, event_pk) WHERE state = 'waiting';

CREATE TABLE attempts (
    id               TEXT PRIMARY KEY,
    delivery_id      TEXT NOT NULL,
    subscription_id  TEXT NOT NULL,
    account_id       TEXT NOT NULL,
    event_pk         BIGINT NOT NULL,
    started_at       BIGINT NOT NULL,
    status           INTEGER,
    latency_ms       BIGINT NOT NULL,
    response_snippet TEXT NOT NULL,
    error            TEXT
);
-- A webhook's attempts in the order they are listed (newest first, the id
-- breaking ties), so a page reads only its own rows.
CREATE INDEX attempts_by_subscription ON attempts(account_id, subscription_id, started_at, id);
CREATE INDEX attempts_by_event ON attempts(event_pk);

-- Retention deletes old events, deliveries and attempts all day long:
-- autovacuum reclaims their space at 2% dead rows (not the default 20%), so
-- new rows reuse it and the tables stop growing.
ALTER TABLE events SET (autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE deliveries SET (autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE attempts SET (autovacuum_vacuum_scale_factor = 0.02);
