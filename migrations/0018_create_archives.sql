-- Retention and the event archive (README "Retention and archive").

-- Per-tenant retention (null: the deployment's RETENTION_*_DAYS default) and the retention job's progress.
CREATE TABLE tenant_retention (
  tenant_id       text PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  events_days     integer CHECK (events_days BETWEEN 1 AND 3650),
  deliveries_days integer CHECK (deliveries_days BETWEEN 1 AND 3650),
  audit_days      integer CHECK (audit_days BETWEEN 1 AND 3650),
  -- every event received before this UTC midnight is in the archive; only such events are ever deleted
  archived_until  timestamptz,
  -- when the job last looked at the tenant: it visits the least recently checked tenants first
  checked_at      timestamptz,
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per gzip NDJSON object in R2 (tenants/{t}/events/{day}/{part}.ndjson.gz), recorded after the
-- object is written and before any of its events is deleted, so a crash in between leaves work to redo.
CREATE TABLE event_archives (
  tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  day           date NOT NULL,
  part          integer NOT NULL CHECK (part >= 0),
  key           text NOT NULL,
  count         integer NOT NULL,
  seq_from      bigint NOT NULL,
  seq_to        bigint NOT NULL,
  received_from timestamptz NOT NULL,
  received_to   timestamptz NOT NULL,
  -- hex SHA-256 and size of the object as stored (gzip), and the size of the NDJSON inside
  sha256        text NOT NULL,
  bytes         bigint NOT NULL,
  raw_bytes     bigint NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, day, part)
);
-- a restore-replay walks a tenant's parts in sequence order
CREATE INDEX event_archives_sequence_idx ON event_archives (tenant_id, seq_from);

-- Archived sequence ranges a restore-replay put back into `events`: the retention job leaves them until
-- keep_until (and any event with a pending delivery until that delivery ends).
CREATE TABLE event_restores (
  tenant_id  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  replay_id  text NOT NULL,
  seq_from   bigint NOT NULL,
  seq_to     bigint NOT NULL,
  keep_until timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, replay_id, seq_from)
);

-- How many events a replay put back from the archive.
ALTER TABLE replays ADD COLUMN restored_events integer NOT NULL DEFAULT 0;
