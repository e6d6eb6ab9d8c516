-- The parcel bot's tables (SQLite). Times are milliseconds since the Unix epoch (UTC),
-- the same in both dialects, so that one store implementation serves both.

CREATE TABLE chats (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    platform TEXT NOT NULL,
    platform_chat_id TEXT NOT NULL,
    language TEXT NOT NULL DEFAULT 'en',
    time_zone TEXT NOT NULL DEFAULT 'UTC',
    country TEXT,
    city TEXT,
    reachable INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    UNIQUE (platform, platform_chat_id)
);

CREATE TABLE parcels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stage TEXT,
    last_event_at INTEGER,
    created_at INTEGER NOT NULL
);

CREATE TABLE tracking_numbers (
    number TEXT PRIMARY KEY,
    parcel_id INTEGER NOT NULL REFERENCES parcels (id) ON DELETE CASCADE,
    format TEXT NOT NULL,
    carrier TEXT NOT NULL,
    linked_from TEXT,
    next_poll_at INTEGER,
    lease_owner TEXT,
    lease_until INTEGER,
    last_polled_at INTEGER,
    polls INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tracking_numbers_due ON tracking_numbers (next_poll_at);
CREATE INDEX tracking_numbers_parcel ON tracking_numbers (parcel_id);

CREATE TABLE subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    parcel_id INTEGER NOT NULL REFERENCES parcels (id) ON DELETE CASCADE,
    label TEXT,
    ordered_at INTEGER,
    protection_ends INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (chat_id, parcel_id)
);
CREATE INDEX subscriptions_parcel ON subscriptions (parcel_id);

CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    parcel_id INTEGER NOT NULL REFERENCES parcels (id) ON DELETE CASCADE,
    number TEXT NOT NULL,
    at INTEGER NOT NULL,
    utc_offset_seconds INTEGER NOT NULL,
    source TEXT NOT NULL,
    code TEXT,
    text TEXT NOT NULL,
    location TEXT,
    UNIQUE (parcel_id, number, at, source, text)
);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    parcel_id INTEGER REFERENCES parcels (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    available_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until INTEGER,
    sent_at INTEGER,
    dead INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX outbox_pending ON outbox (sent_at, dead, available_at);

CREATE TABLE provider_registrations (
    provider TEXT NOT NULL,
    number TEXT NOT NULL,
    registered_at INTEGER NOT NULL,
    PRIMARY KEY (provider, number)
);
