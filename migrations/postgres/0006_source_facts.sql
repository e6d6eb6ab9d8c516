-- What the tracking sources answered about a number besides events (JSON of
-- `SourceFacts`: known but not handed over, pending, unknown to an authoritative source,
-- refused as invalid). NULL: nothing of the kind. The judgement of a stored parcel reads
-- it, so that /status and /fake tell "awaiting dispatch" and "invalid" apart from silence.
ALTER TABLE tracking_numbers ADD COLUMN source_facts TEXT;
