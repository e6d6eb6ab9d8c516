-- Leases are read back by owner and expiry right after they are taken. Without an
-- index that read scans every tracking number (or every outbox row) each round; these
-- partial indexes hold only the rows leased at the moment, so they stay tiny and cheap
-- to maintain.
CREATE INDEX tracking_numbers_leased ON tracking_numbers (lease_owner, lease_until)
    WHERE lease_owner IS NOT NULL;
CREATE INDEX outbox_leased ON outbox (lease_owner, lease_until)
    WHERE lease_owner IS NOT NULL;
