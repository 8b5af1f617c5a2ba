-- The redrive sweep (src/delivery/redrive.ts) looks for pending deliveries whose queue message is
-- gone; pending ones are a small share of the table, so a partial index keeps the sweep cheap.
CREATE INDEX deliveries_pending_idx ON deliveries (created_at) WHERE status = 'pending';
