-- Per-tenant ingest rate limits (read with the source on the ingest path), and counts of refused
-- ingest requests per tenant, minute and problem code for the metrics API.

ALTER TABLE tenants ADD COLUMN rate_limits jsonb NOT NULL DEFAULT '{}';

-- Written in batches by the ingest isolates (no foreign key: a batch must not fail on one row).
CREATE TABLE ingest_rejections (
  tenant_id text NOT NULL,
  minute    timestamptz NOT NULL,
  code      text NOT NULL,
  count     integer NOT NULL,
  PRIMARY KEY (tenant_id, minute, code)
);
-- the metrics API reads at most 30 days; older rows are pruned now and then by the writers
CREATE INDEX ingest_rejections_minute_idx ON ingest_rejections (minute);
