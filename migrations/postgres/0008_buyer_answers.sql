-- What the buyer said about a delivery: NULL nothing yet, 1 "I got it", 0 "I did not
-- receive it". Buyer-protection reminders stop after a confirmed delivery and go on
-- after one the buyer says did not arrive (or that does not match the order).
ALTER TABLE subscriptions ADD COLUMN received BIGINT;
