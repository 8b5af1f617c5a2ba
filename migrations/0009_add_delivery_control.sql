-- Delivery control: pausing a subscription, bulk retries, and per-subscription health.

-- A paused subscription still gets deliveries (the fan-out plans them, pending) but the queue consumer
-- holds them unattempted until it is resumed. `enabled = false` keeps meaning disabled, and wins.
ALTER TABLE subscriptions ADD COLUMN paused_at timestamptz;
-- when the endpoint last answered with success / failure (kept by the consumer's recording)
ALTER TABLE subscriptions ADD COLUMN last_success_at timestamptz, ADD COLUMN last_failure_at timestamptz;

-- The health view reads a subscription's attempts of a time window through this index.
ALTER TABLE delivery_attempts ADD COLUMN subscription_id text;
UPDATE delivery_attempts a SET subscription_id = d.subscription_id FROM deliveries d WHERE d.id = a.delivery_id;
CREATE INDEX delivery_attempts_sub_time_idx ON delivery_attempts (subscription_id, started_at);
-- writers that do not name the subscription (a listener's reported attempts) get it from the delivery
CREATE FUNCTION delivery_attempts_subscription() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT d.subscription_id INTO NEW.subscription_id FROM deliveries d WHERE d.id = NEW.delivery_id;
  RETURN NEW;
END
$$;
CREATE TRIGGER delivery_attempts_subscription BEFORE INSERT ON delivery_attempts
  FOR EACH ROW WHEN (NEW.subscription_id IS NULL) EXECUTE FUNCTION delivery_attempts_subscription();

-- Bulk retries (POST /v1/tenants/{t}/deliveries/retry), worked off in steps by the queue consumer.
-- kind 'resume': the release of a resumed subscription's held deliveries, run the same way.
CREATE TABLE delivery_retries (
  id                text PRIMARY KEY,
  tenant_id         text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  kind              text NOT NULL DEFAULT 'retry' CHECK (kind IN ('retry', 'resume')),
  -- which deliveries: {status, subscription_id?, since?, until?}; only those created before `cutoff`
  filter            jsonb NOT NULL,
  cutoff            timestamptz NOT NULL DEFAULT now(),
  status            text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed')),
  -- the last delivery handled, in (created_at, id) order
  cursor_created_at timestamptz,
  cursor_id         text,
  matched           integer NOT NULL DEFAULT 0,
  retried           integer NOT NULL DEFAULT 0,
  skipped           integer NOT NULL DEFAULT 0,
  error             text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  completed_at      timestamptz
);
CREATE INDEX delivery_retries_tenant_idx ON delivery_retries (tenant_id, id);
