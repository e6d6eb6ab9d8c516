-- The parcel bot's tables (PostgreSQL). Times are milliseconds since the Unix epoch (UTC),
-- the same in both dialects, so that one store implementation serves both.

CREATE TABLE chats (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform TEXT NOT NULL,
    platform_chat_id TEXT NOT NULL,
    language TEXT NOT NULL DEFAULT 'en',
    time_zone TEXT NOT NULL DEFAULT 'UTC',
    country TEXT,
    city TEXT,
    reachable BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    UNIQUE (platform, platform_chat_id)
);

CREATE TABLE parcels (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stage TEXT,
    last_event_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE tracking_numbers (
    number TEXT PRIMARY KEY,
    parcel_id BIGINT NOT NULL REFERENCES parcels (id) ON DELETE CASCADE,
    format TEXT NOT NULL,
    carrier TEXT NOT NULL,
    linked_from TEXT,
    next_poll_at BIGINT,
    lease_owner TEXT,
    lease_until BIGINT,
    last_polled_at BIGINT,
    polls BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX tracking_numbers_due ON tracking_numbers (next_poll_at);
CREATE INDEX tracking_numbers_parcel ON tracking_numbers (parcel_id);

CREATE TABLE subscriptions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chat_id BIGINT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    parcel_id BIGINT NOT NULL REFERENCES parcels (id) ON DELETE CASCADE,
    label TEXT,
    ordered_at BIGINT,
    protection_ends BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (chat_id, parcel_id)
);
CREATE INDEX subscriptions_parcel ON subscriptions (parcel_id);

CREATE TABLE events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parcel_id BIGINT NOT NULL REFERENCES parcels (id) ON DELETE CASCADE,
    number TEXT NOT NULL,
    at BIGINT NOT NULL,
    utc_offset_seconds BIGINT NOT NULL,
    source TEXT NOT NULL,
    code TEXT,
    text TEXT NOT NULL,
    location TEXT,
    UNIQUE (parcel_id, number, at, source, text)
);

CREATE TABLE outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chat_id BIGINT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    parcel_id BIGINT REFERENCES parcels (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    available_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until BIGINT,
    sent_at BIGINT,
    dead BIGINT NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX outbox_pending ON outbox (sent_at, dead, available_at);

CREATE TABLE provider_registrations (
    provider TEXT NOT NULL,
    number TEXT NOT NULL,
    registered_at BIGINT NOT NULL,
    PRIMARY KEY (provider, number)
);
