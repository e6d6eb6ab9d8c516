-- The engine and the conversation (PostgreSQL): who tracked a parcel in a group, the
-- reminders' index, replayed platform updates, and the shared sending budget.

ALTER TABLE subscriptions ADD COLUMN user_id TEXT;
CREATE INDEX subscriptions_protection ON subscriptions (protection_ends);

-- A platform update (message or button press) already handled: a replay is ignored.
CREATE TABLE handled_updates (
    platform TEXT NOT NULL,
    update_id TEXT NOT NULL,
    handled_at BIGINT NOT NULL,
    PRIMARY KEY (platform, update_id)
);
CREATE INDEX handled_updates_at ON handled_updates (handled_at);

-- Messages sent per platform and one-second window, shared by every instance, so that
-- the platform's overall limit is divided between instances, not multiplied.
CREATE TABLE send_budget (
    platform TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    used BIGINT NOT NULL,
    PRIMARY KEY (platform, window_start)
);

-- Every subscription started, kept after it ends, for the "new numbers per day" limit.
CREATE TABLE subscription_log (
    chat_id BIGINT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE INDEX subscription_log_chat ON subscription_log (chat_id, created_at);
