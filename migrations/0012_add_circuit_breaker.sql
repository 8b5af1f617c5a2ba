-- A circuit breaker per subscription (src/delivery/breaker.ts). Open (breaker_opened_at set): after
-- failure_threshold consecutive failed attempts the endpoint gets no attempts and its deliveries wait,
-- pending, as in a pause; from breaker_probe_at on, the redrive sweep lets one delivery through as a
-- probe (breaker_probe_id: half-open); its success closes the breaker and releases the rest. Open for
-- longer than breaker_disable_after_seconds (default 5 days), a failed probe disables the subscription.
ALTER TABLE subscriptions
  ADD COLUMN breaker_opened_at timestamptz,
  ADD COLUMN breaker_probe_at timestamptz,
  ADD COLUMN breaker_probe_id text,
  ADD COLUMN breaker_disable_after_seconds integer NOT NULL DEFAULT 432000;
CREATE INDEX subscriptions_breaker_probe_idx ON subscriptions (breaker_probe_at) WHERE breaker_opened_at IS NOT NULL;
