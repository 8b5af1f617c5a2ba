-- Live change of a tenant's shard count (docs/design/sharding.md §4): the epoch of the newest change,
-- the highest count ever used (every "all shards" loop covers the retired shards of a shrink too), and
-- one row per change, at most one of them `moving` per tenant.
ALTER TABLE tenants ADD COLUMN shard_epoch integer NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN shard_span smallint NOT NULL DEFAULT 1 CHECK (shard_span BETWEEN 1 AND 64);
UPDATE tenants SET shard_span = shards;
CREATE TABLE shard_changes (
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  epoch integer NOT NULL,
  from_shards smallint NOT NULL,
  to_shards smallint NOT NULL,
  state text NOT NULL CHECK (state IN ('moving', 'done')),
  -- slots whose owner changes, and how many of them the old shards released so far
  moving_slots integer NOT NULL,
  released_slots integer NOT NULL DEFAULT 0,
  -- old shards that released their moving slots / whose new owners adopted them (each counted once)
  released_shards smallint[] NOT NULL DEFAULT '{}',
  done_shards smallint[] NOT NULL DEFAULT '{}',
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  PRIMARY KEY (tenant_id, epoch)
);
CREATE UNIQUE INDEX shard_changes_one_moving ON shard_changes (tenant_id) WHERE state = 'moving';
