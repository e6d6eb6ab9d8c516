-- Replies through the outbox (SQLite). A platform update is handled once and answered
-- at least once: its replies are queued in the outbox in the transaction that marks it
-- handled, and its effects are tied to it, so that the replay of an update interrupted
-- by a crash finds what it already did.

-- 0: the update's effects are written but its replies are not queued yet (a crash came
-- in between; the replay answers it); 1: handled and answered.
ALTER TABLE handled_updates ADD COLUMN replied INTEGER NOT NULL DEFAULT 1;

-- The update (`platform:update id`) that created a subscription.
ALTER TABLE subscriptions ADD COLUMN created_by TEXT;
