-- Sharded tenant logs, slice 1 (docs/design/sharding.md §1): how many TenantLogs a tenant's events
-- are spread over. Changed only while the tenant has accepted no event (the live cut-over of §4 is
-- a later slice, with its shard_epoch/shard_span/shard_changes/tenant_shards).
ALTER TABLE tenants ADD COLUMN shards smallint NOT NULL DEFAULT 1 CHECK (shards BETWEEN 1 AND 64);
-- the events API of a multi-shard tenant reads in (received_at, sequence) order
CREATE INDEX events_position_idx ON events (tenant_id, received_at, sequence);
