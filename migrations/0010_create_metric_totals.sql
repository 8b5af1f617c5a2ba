-- Running totals for GET /metrics (Prometheus counters must only go up, and a scrape must not count
-- the deliveries or attempts tables). Kept by statement-level triggers, which see a whole multi-row
-- insert or update at once (one upsert per tenant and label set per statement, not per row), and by
-- addRejections for refused ingest requests. Each upsert takes its rows in key order, so two writers
-- of one tenant wait for each other rather than deadlock. Existing rows are counted once here.
-- Accepted events need no table: each TenantLog's last sequence counts them, and the events table
-- gets no trigger (its transition table would copy every event body on the flush path).

CREATE TABLE ingest_rejection_totals (
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  code      text NOT NULL,
  total     bigint NOT NULL,
  PRIMARY KEY (tenant_id, code)
);

-- deliveries reaching a final status (a delivery retried by hand after it failed counts again when it ends)
CREATE TABLE delivery_totals (
  tenant_id       text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  subscription_id text NOT NULL,
  status          text NOT NULL,
  total           bigint NOT NULL,
  PRIMARY KEY (tenant_id, subscription_id, status)
);

-- attempt latency histogram, one row per bucket (le_ms: the bucket's upper bound; 2147483647 is +Inf)
CREATE TABLE attempt_latency_totals (
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  le_ms     integer NOT NULL,
  count     bigint NOT NULL,
  sum_ms    bigint NOT NULL,
  PRIMARY KEY (tenant_id, le_ms)
);

CREATE FUNCTION attempt_latency_bucket(latency_ms integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT COALESCE(min(b), 2147483647) FROM unnest(ARRAY[5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 15000, 30000]) AS b WHERE latency_ms <= b
$$;

CREATE FUNCTION count_finished_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO delivery_totals AS t (tenant_id, subscription_id, status, total)
    SELECT n.tenant_id, n.subscription_id, n.status, count(*) FROM new_rows n
     WHERE n.status <> 'pending' AND EXISTS (SELECT 1 FROM tenants WHERE id = n.tenant_id)
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, subscription_id, status) DO UPDATE SET total = t.total + EXCLUDED.total;
  ELSE
    INSERT INTO delivery_totals AS t (tenant_id, subscription_id, status, total)
    SELECT n.tenant_id, n.subscription_id, n.status, count(*) FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE n.status <> 'pending' AND n.status IS DISTINCT FROM o.status AND EXISTS (SELECT 1 FROM tenants WHERE id = n.tenant_id)
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, subscription_id, status) DO UPDATE SET total = t.total + EXCLUDED.total;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER deliveries_count_inserted AFTER INSERT ON deliveries
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_finished_deliveries();
CREATE TRIGGER deliveries_count_updated AFTER UPDATE ON deliveries
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_finished_deliveries();

CREATE FUNCTION count_attempt_latencies() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO attempt_latency_totals AS t (tenant_id, le_ms, count, sum_ms)
  SELECT n.tenant_id, attempt_latency_bucket(n.latency_ms), count(*), sum(n.latency_ms) FROM new_rows n
   WHERE EXISTS (SELECT 1 FROM tenants WHERE id = n.tenant_id)
   GROUP BY 1, 2 ORDER BY 1, 2
  ON CONFLICT (tenant_id, le_ms) DO UPDATE SET count = t.count + EXCLUDED.count, sum_ms = t.sum_ms + EXCLUDED.sum_ms;
  RETURN NULL;
END $$;

CREATE TRIGGER delivery_attempts_count_inserted AFTER INSERT ON delivery_attempts
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_attempt_latencies();

INSERT INTO ingest_rejection_totals (tenant_id, code, total)
SELECT r.tenant_id, r.code, sum(r.count) FROM ingest_rejections r JOIN tenants t ON t.id = r.tenant_id GROUP BY 1, 2;
INSERT INTO delivery_totals (tenant_id, subscription_id, status, total)
SELECT d.tenant_id, d.subscription_id, d.status, count(*) FROM deliveries d JOIN tenants t ON t.id = d.tenant_id
 WHERE d.status <> 'pending' GROUP BY 1, 2, 3;
INSERT INTO attempt_latency_totals (tenant_id, le_ms, count, sum_ms)
SELECT a.tenant_id, attempt_latency_bucket(a.latency_ms), count(*), sum(a.latency_ms) FROM delivery_attempts a JOIN tenants t ON t.id = a.tenant_id
 GROUP BY 1, 2;
