-- Deleting a tenant removes its archive objects from R2 too (src/archive/purge.ts): the delete records
-- the tenant here in its own transaction, and the minute Cron job removes `tenants/{t}/` from the bucket
-- page by page, then this row. No foreign key: the tenant row is gone by then.
CREATE TABLE archive_purges (
  tenant_id text PRIMARY KEY,
  requested_at timestamptz NOT NULL DEFAULT now(),
  objects_deleted bigint NOT NULL DEFAULT 0
);
