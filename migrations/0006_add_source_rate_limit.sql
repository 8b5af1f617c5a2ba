-- A source's own ingest rate limit ({requests, window_seconds}); when set it replaces the tenant's
-- per-source rule for that source. Set by admins through PATCH /v1/tenants/{t}/sources/{id}.
ALTER TABLE sources ADD COLUMN rate_limit jsonb;
