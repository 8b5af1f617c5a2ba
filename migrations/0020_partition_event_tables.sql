-- Time partitions for the four tables that grow forever (README "Retention and archive", "Partitions").
-- Declarative RANGE partitioning, UTC periods:
--   events            by received_at            daily   (set by the TenantLog at append, stable across re-flushes)
--   deliveries        by event_received_at      daily   (the event's received_at: a re-planned delivery, same id, same partition)
--   delivery_attempts by event_received_at      daily   (its delivery's, so a day's deliveries and attempts go together)
--   audit_log         by at                     monthly (a few rows a day, a year's retention: 13 partitions, not 365)
-- Each table has a DEFAULT partition, so an insert never fails for want of a partition; the maintenance job
-- (src/db/partitions.ts) creates partitions ahead, moves whatever the DEFAULT caught into its own partition,
-- and drops a partition once no tenant needs it.
-- Unique constraints must hold the partition key: deliveries (id, event_received_at), attempts (id,
-- event_received_at) and (delivery_id, attempt, event_received_at), audit_log (id, at). events has no
-- parent-level key: each partition has its own PRIMARY KEY (tenant_id, sequence) and UNIQUE (tenant_id, id)
-- (the writes of before, and `ON CONFLICT DO NOTHING` takes them as arbiters), so a sequence or id is unique
-- within a UTC day; the TenantLog never hands a sequence out twice.
-- delivery_attempts loses its foreign key to deliveries (a key into a partitioned table makes every drop of a
-- deliveries partition check each of its rows); the code deletes attempts with their deliveries itself.
-- Runs in one transaction: it copies every row (cost: README "Partitions").

CREATE TABLE time_partitioned (
  parent     text PRIMARY KEY,
  key        text NOT NULL,
  unit       text NOT NULL CHECK (unit IN ('day', 'month')),
  -- when the maintenance job last looked at the table: at most once an hour
  checked_at timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO time_partitioned (parent, key, unit) VALUES
  ('events', 'received_at', 'day'),
  ('deliveries', 'event_received_at', 'day'),
  ('delivery_attempts', 'event_received_at', 'day'),
  ('audit_log', 'at', 'month');

-- `events_p20261129`, `audit_log_p202611`: the partition of the UTC period that holds `at`.
CREATE FUNCTION time_partition_name(parent text, unit text, at timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT parent || '_p' || to_char(date_trunc(unit, at, 'UTC') AT TIME ZONE 'UTC', CASE unit WHEN 'day' THEN 'YYYYMMDD' ELSE 'YYYYMM' END)
$$;

-- Creates the partition of `parent` for the UTC period holding `at`, unless it exists; rows of that period the
-- DEFAULT partition holds move into it in the same transaction. True when it was created.
CREATE FUNCTION create_time_partition(parent text, at timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  t time_partitioned%ROWTYPE;
  lo timestamptz;
  hi timestamptz;
  leaf text;
  catchall text := parent || '_default';
  caught boolean;
BEGIN
  SELECT * INTO STRICT t FROM time_partitioned p WHERE p.parent = create_time_partition.parent;
  lo := date_trunc(t.unit, at, 'UTC');
  hi := ((lo AT TIME ZONE 'UTC') + ('1 ' || t.unit)::interval) AT TIME ZONE 'UTC';
  leaf := time_partition_name(t.parent, t.unit, lo);
  IF to_regclass(leaf) IS NOT NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I >= $1 AND %I < $2)', catchall, t.key, t.key) INTO caught USING lo, hi;
  IF caught THEN
    -- no insert may land there between the move and the new partition's check of the DEFAULT
    EXECUTE format('LOCK TABLE %I IN EXCLUSIVE MODE', catchall);
    DROP TABLE IF EXISTS pg_temp.time_partition_moving;
    EXECUTE format('CREATE TEMP TABLE time_partition_moving (LIKE %I) ON COMMIT DROP', t.parent);
    EXECUTE format('WITH m AS (DELETE FROM %I WHERE %I >= $1 AND %I < $2 RETURNING *) INSERT INTO time_partition_moving SELECT * FROM m',
                   catchall, t.key, t.key) USING lo, hi;
  END IF;
  EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', leaf, t.parent, lo, hi);
  IF t.parent = 'events' THEN
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (tenant_id, sequence)', leaf);
    EXECUTE format('CREATE UNIQUE INDEX ON %I (tenant_id, id)', leaf);
  END IF;
  IF caught THEN
    -- straight into the partition: the parent's statement triggers (metric totals) counted these rows once already
    EXECUTE format('INSERT INTO %I SELECT * FROM time_partition_moving', leaf);
    DROP TABLE pg_temp.time_partition_moving;
  END IF;
  RETURN true;
END $$;

-- The maintenance of one table: a partition for each period the DEFAULT partition caught rows of (which
-- moves them), then one for each period from today to `ahead_days` ahead. Returns how many it created.
CREATE FUNCTION prepare_time_partitions(parent text, ahead_days integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  t time_partitioned%ROWTYPE;
  at timestamptz;
  created integer := 0;
BEGIN
  -- a queued lock would hold up ingest behind it: give up instead, the next run tries again
  PERFORM set_config('lock_timeout', '2s', true);
  -- one maintainer at a time (two runs of the Cron may overlap)
  PERFORM pg_advisory_xact_lock(hashtext('time_partitioned'));
  SELECT * INTO STRICT t FROM time_partitioned p WHERE p.parent = prepare_time_partitions.parent;
  FOR at IN EXECUTE format('SELECT DISTINCT date_trunc(%L, %I, ''UTC'') FROM %I', t.unit, t.key, t.parent || '_default') LOOP
    IF create_time_partition(t.parent, at) THEN created := created + 1; END IF;
  END LOOP;
  at := date_trunc(t.unit, now(), 'UTC');
  WHILE at <= now() + make_interval(days => ahead_days) LOOP
    IF create_time_partition(t.parent, at) THEN created := created + 1; END IF;
    at := ((at AT TIME ZONE 'UTC') + ('1 ' || t.unit)::interval) AT TIME ZONE 'UTC';
  END LOOP;
  RETURN created;
END $$;

-- Detaches and drops the named partitions (only partitions of the tables above, never a DEFAULT), in order.
CREATE FUNCTION drop_time_partitions(leaves text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  leaf text;
  parent text;
BEGIN
  PERFORM set_config('lock_timeout', '2s', true);
  PERFORM pg_advisory_xact_lock(hashtext('time_partitioned'));
  FOREACH leaf IN ARRAY leaves LOOP
    parent := NULL;
    SELECT t.parent INTO parent FROM time_partitioned t JOIN pg_inherits i ON i.inhparent = to_regclass(t.parent)
     WHERE i.inhrelid = to_regclass(leaf) AND leaf <> t.parent || '_default';
    -- gone already (another run dropped it), or not one of ours
    CONTINUE WHEN parent IS NULL;
    EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', parent, leaf);
    EXECUTE format('DROP TABLE %I', leaf);
  END LOOP;
END $$;

-- Partitions for every period the existing rows cover, and a week ahead.
CREATE FUNCTION pg_temp.partitions_for(parent text, source text, key text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  t time_partitioned%ROWTYPE;
  at timestamptz;
  last timestamptz;
BEGIN
  SELECT * INTO STRICT t FROM time_partitioned p WHERE p.parent = partitions_for.parent;
  EXECUTE format('SELECT date_trunc(%L, min(%I), ''UTC''), max(%I) FROM %I', t.unit, key, key, source) INTO at, last;
  WHILE at IS NOT NULL AND at <= last LOOP
    PERFORM create_time_partition(t.parent, at);
    at := ((at AT TIME ZONE 'UTC') + ('1 ' || t.unit)::interval) AT TIME ZONE 'UTC';
  END LOOP;
  PERFORM prepare_time_partitions(t.parent, 7);
END $$;

-- events
ALTER TABLE events RENAME TO events_unpartitioned;
CREATE TABLE events (
  tenant_id      text NOT NULL CONSTRAINT events_tenant_id_fkey REFERENCES tenants (id) ON DELETE CASCADE,
  sequence       bigint NOT NULL,
  id             text NOT NULL,
  source_id      text NOT NULL,
  ce_id          text NOT NULL,
  ce_source      text NOT NULL,
  type           text NOT NULL,
  subject        text,
  time           timestamptz,
  partition_key  text,
  correlation_id text,
  causation_id   text,
  event          jsonb NOT NULL,
  sha256         text NOT NULL,
  received_at    timestamptz NOT NULL,
  stored_at      timestamptz NOT NULL DEFAULT now(),
  priority       text NOT NULL DEFAULT 'normal' CONSTRAINT events_priority_check CHECK (priority IN ('low', 'normal', 'high', 'critical')),
  schema_version integer
) PARTITION BY RANGE (received_at);
CREATE TABLE events_default PARTITION OF events DEFAULT;
ALTER TABLE events_default ADD PRIMARY KEY (tenant_id, sequence);
CREATE UNIQUE INDEX ON events_default (tenant_id, id);
SELECT pg_temp.partitions_for('events', 'events_unpartitioned', 'received_at');
INSERT INTO events SELECT tenant_id, sequence, id, source_id, ce_id, ce_source, type, subject, time, partition_key, correlation_id, causation_id,
                          event, sha256, received_at, stored_at, priority, schema_version FROM events_unpartitioned;

-- deliveries: the event's received_at where the event is still stored, else the delivery's creation
ALTER TABLE deliveries RENAME TO deliveries_unpartitioned;
CREATE TABLE deliveries (
  id                text NOT NULL,
  tenant_id         text NOT NULL,
  subscription_id   text NOT NULL,
  event_id          text NOT NULL,
  event_sequence    bigint NOT NULL,
  partition_key     text,
  status            text NOT NULL DEFAULT 'pending' CONSTRAINT deliveries_status_check CHECK (status IN ('pending', 'scheduled', 'delivered', 'failed', 'skipped')),
  attempts          integer NOT NULL DEFAULT 0,
  schedule_offset   integer NOT NULL DEFAULT 0,
  last_status       integer,
  last_error        text,
  next_attempt_at   timestamptz,
  leased_until      timestamptz,
  replay_id         text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  finished_at       timestamptz,
  priority          text NOT NULL DEFAULT 'normal' CONSTRAINT deliveries_priority_check CHECK (priority IN ('low', 'normal', 'high', 'critical')),
  scheduled_for     timestamptz,
  -- the partition key; every writer in src/ sets it (the default serves hand-written rows)
  event_received_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (event_received_at);
CREATE TABLE deliveries_default PARTITION OF deliveries DEFAULT;
CREATE TEMP TABLE delivery_keys ON COMMIT DROP AS
  SELECT d.id, COALESCE(e.received_at, d.created_at) AS event_received_at
    FROM deliveries_unpartitioned d LEFT JOIN events_unpartitioned e ON e.tenant_id = d.tenant_id AND e.id = d.event_id;
CREATE UNIQUE INDEX ON delivery_keys (id);
SELECT pg_temp.partitions_for('deliveries', 'delivery_keys', 'event_received_at');
INSERT INTO deliveries
SELECT d.id, d.tenant_id, d.subscription_id, d.event_id, d.event_sequence, d.partition_key, d.status, d.attempts, d.schedule_offset, d.last_status,
       d.last_error, d.next_attempt_at, d.leased_until, d.replay_id, d.created_at, d.updated_at, d.finished_at, d.priority, d.scheduled_for, k.event_received_at
  FROM deliveries_unpartitioned d JOIN delivery_keys k ON k.id = d.id;

-- delivery_attempts: their delivery's key (an attempt whose delivery is gone keeps its start)
ALTER TABLE delivery_attempts RENAME TO delivery_attempts_unpartitioned;
ALTER SEQUENCE delivery_attempts_id_seq OWNED BY NONE;
CREATE TABLE delivery_attempts (
  id                      bigint NOT NULL DEFAULT nextval('delivery_attempts_id_seq'),
  tenant_id               text NOT NULL,
  delivery_id             text NOT NULL,
  attempt                 integer NOT NULL,
  started_at              timestamptz NOT NULL,
  latency_ms              integer NOT NULL,
  outcome                 text NOT NULL,
  status_code             integer,
  error                   text,
  response_body           text,
  subscription_id         text,
  request_method          text,
  request_url             text,
  request_headers         jsonb,
  request_body            text,
  request_body_bytes      integer,
  request_body_truncated  boolean NOT NULL DEFAULT false,
  response_headers        jsonb,
  response_body_truncated boolean NOT NULL DEFAULT false,
  -- the partition key: the delivery's event_received_at (the default serves hand-written rows)
  event_received_at       timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (event_received_at);
ALTER SEQUENCE delivery_attempts_id_seq OWNED BY delivery_attempts.id;
CREATE TABLE delivery_attempts_default PARTITION OF delivery_attempts DEFAULT;
CREATE TEMP TABLE attempt_keys ON COMMIT DROP AS
  SELECT a.id, COALESCE(k.event_received_at, a.started_at) AS event_received_at
    FROM delivery_attempts_unpartitioned a LEFT JOIN delivery_keys k ON k.id = a.delivery_id;
SELECT pg_temp.partitions_for('delivery_attempts', 'attempt_keys', 'event_received_at');
INSERT INTO delivery_attempts
SELECT a.id, a.tenant_id, a.delivery_id, a.attempt, a.started_at, a.latency_ms, a.outcome, a.status_code, a.error, a.response_body, a.subscription_id,
       a.request_method, a.request_url, a.request_headers, a.request_body, a.request_body_bytes, a.request_body_truncated, a.response_headers,
       a.response_body_truncated, k.event_received_at
  FROM delivery_attempts_unpartitioned a JOIN attempt_keys k ON k.id = a.id;

-- audit_log
ALTER TABLE audit_log RENAME TO audit_log_unpartitioned;
ALTER SEQUENCE audit_log_id_seq OWNED BY NONE;
CREATE TABLE audit_log (
  id         bigint NOT NULL DEFAULT nextval('audit_log_id_seq'),
  tenant_id  text,
  actor      text NOT NULL,
  action     text NOT NULL,
  target     text,
  details    jsonb NOT NULL DEFAULT '{}',
  at         timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (at);
ALTER SEQUENCE audit_log_id_seq OWNED BY audit_log.id;
CREATE TABLE audit_log_default PARTITION OF audit_log DEFAULT;
SELECT pg_temp.partitions_for('audit_log', 'audit_log_unpartitioned', 'at');
INSERT INTO audit_log SELECT id, tenant_id, actor, action, target, details, at FROM audit_log_unpartitioned;

-- the old tables go (with their triggers); keys and indexes are built once, over the copied rows
DROP TABLE events_unpartitioned, delivery_attempts_unpartitioned, deliveries_unpartitioned, audit_log_unpartitioned;

CREATE INDEX events_type_idx ON events (tenant_id, type, sequence);
CREATE INDEX events_received_idx ON events (tenant_id, received_at);
CREATE INDEX events_event_path_idx ON events USING gin (event jsonb_path_ops);
CREATE INDEX events_ce_id_idx ON events (tenant_id, ce_id);
CREATE INDEX events_causation_idx ON events (tenant_id, causation_id) WHERE causation_id IS NOT NULL;
CREATE INDEX events_correlation_sequence_idx ON events (tenant_id, correlation_id, sequence) WHERE correlation_id IS NOT NULL;
CREATE INDEX events_schema_version_idx ON events (tenant_id, type, schema_version, sequence) WHERE schema_version IS NOT NULL;

ALTER TABLE deliveries ADD PRIMARY KEY (id, event_received_at);
CREATE INDEX deliveries_event_idx ON deliveries (tenant_id, event_id);
CREATE INDEX deliveries_sub_idx ON deliveries (tenant_id, subscription_id, created_at);
CREATE INDEX deliveries_status_idx ON deliveries (tenant_id, status, created_at);
CREATE INDEX deliveries_pending_idx ON deliveries (created_at) WHERE status = 'pending';
CREATE INDEX deliveries_scheduled_idx ON deliveries (scheduled_for) WHERE status = 'scheduled';
CREATE TRIGGER deliveries_count_inserted AFTER INSERT ON deliveries
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_finished_deliveries();
CREATE TRIGGER deliveries_count_updated AFTER UPDATE ON deliveries
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_finished_deliveries();

ALTER TABLE delivery_attempts ADD PRIMARY KEY (id, event_received_at);
ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_delivery_id_attempt_key UNIQUE (delivery_id, attempt, event_received_at);
CREATE INDEX delivery_attempts_sub_time_idx ON delivery_attempts (subscription_id, started_at);
CREATE INDEX delivery_attempts_tenant_time_idx ON delivery_attempts (tenant_id, started_at);
CREATE TRIGGER delivery_attempts_subscription BEFORE INSERT ON delivery_attempts
  FOR EACH ROW WHEN (NEW.subscription_id IS NULL) EXECUTE FUNCTION delivery_attempts_subscription();
CREATE TRIGGER delivery_attempts_count_inserted AFTER INSERT ON delivery_attempts
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_attempt_latencies();

ALTER TABLE audit_log ADD PRIMARY KEY (id, at);
CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, id);
CREATE INDEX audit_log_tenant_at_idx ON audit_log (tenant_id, at);

ANALYZE events, deliveries, delivery_attempts, audit_log;
