-- Searching stored events: `where` equality on payload paths is translated to jsonb containment
-- (`event @> '{"data":{"status":"paid"}}'`), which this GIN index answers (jsonb_path_ops: smaller and
-- faster than the default opclass, and @> is the only operator the search uses on it).
CREATE INDEX events_event_path_idx ON events USING gin (event jsonb_path_ops);

-- Event chains: a parent is found by its producer id, children by their causationid.
CREATE INDEX events_ce_id_idx ON events (tenant_id, ce_id);
CREATE INDEX events_causation_idx ON events (tenant_id, causation_id) WHERE causation_id IS NOT NULL;

-- A correlation group is read in sequence order: the index gives that order, so a large group is not sorted.
CREATE INDEX events_correlation_sequence_idx ON events (tenant_id, correlation_id, sequence) WHERE correlation_id IS NOT NULL;
DROP INDEX events_correlation_idx;
