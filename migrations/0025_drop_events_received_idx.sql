-- events_position_idx (tenant_id, received_at, sequence), added by 0021, serves every query that
-- events_received_idx (tenant_id, received_at) served, as its leading columns; keeping both made each
-- stored event update one more B-tree for nothing. Dropping the partitioned index drops each
-- partition's copy.
DROP INDEX IF EXISTS events_received_idx;
