-- Execution modes and delayed delivery (README "Sync mode", "Delayed delivery", "Lifecycle events").

-- mode 'sync': the action runs inside the ingest request, bounded by sync_timeout_ms (src/delivery/sync-actions.ts).
-- delay_seconds: each delivery is attempted no earlier than the event's receipt plus this (and its `deliverat`).
-- emit_succeeded: a successful attempt emits switchyard.delivery.succeeded (off by default; failed attempts always emit .failed).
-- Constant defaults: no table rewrite.
ALTER TABLE subscriptions
  ADD COLUMN mode text NOT NULL DEFAULT 'async' CHECK (mode IN ('async', 'sync')),
  ADD COLUMN sync_timeout_ms integer NOT NULL DEFAULT 2000 CHECK (sync_timeout_ms BETWEEN 1 AND 5000),
  ADD COLUMN delay_seconds integer NOT NULL DEFAULT 0 CHECK (delay_seconds BETWEEN 0 AND 2592000),
  ADD COLUMN emit_succeeded boolean NOT NULL DEFAULT false;

-- A delivery whose first attempt must wait is `scheduled` until `scheduled_for` (src/delivery/schedule.ts):
-- short waits travel as a delayed queue message, long ones stay here until the every-minute sweep
-- releases them. The consumer's claim turns a due one into `pending` as it attempts it.
ALTER TABLE deliveries ADD COLUMN scheduled_for timestamptz;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
  CHECK (status IN ('pending', 'scheduled', 'delivered', 'failed', 'skipped')) NOT VALID;
-- the sweep reads the due ones, earliest first; scheduled rows are few
CREATE INDEX deliveries_scheduled_idx ON deliveries (scheduled_for) WHERE status = 'scheduled';
