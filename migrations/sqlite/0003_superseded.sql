-- A number another number was handed off from is "superseded": the engine polls it
-- seldom, since the news now comes from the last-mile number. This index answers
-- "was this number handed off?" when numbers are leased.
CREATE INDEX tracking_numbers_linked_from ON tracking_numbers (linked_from);
