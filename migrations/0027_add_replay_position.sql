-- A replay of a tenant with more than one shard walks its events in the stable order of the events
-- API, (received_at, sequence), not by sequence alone: a key that moved to a shard with a lower
-- number has older events with larger sequences, and an ordered subscription must get them first
-- (README "Replays"). Its cursor is then the last event's position: its received_at (Unix ms, as the
-- TenantLog stamped it) beside cursor_sequence. Null: the replay walks by sequence (one shard), or
-- has not passed an event yet.
ALTER TABLE replays ADD COLUMN cursor_received_ms bigint;
