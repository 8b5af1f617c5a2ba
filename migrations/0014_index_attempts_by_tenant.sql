-- The metrics series (GET /v1/tenants/{t}/metrics/series) reads a tenant's attempts of a time window
-- newest first and stops at a cap; (subscription_id, started_at) cannot give one order across a
-- tenant's subscriptions, so without this index the read would sort every attempt of the window.
CREATE INDEX delivery_attempts_tenant_time_idx ON delivery_attempts (tenant_id, started_at);
