-- The retention job deletes a tenant's audit rows older than its cut-off in bounded batches, oldest
-- first; (tenant_id, id) cannot find them without reading the tenant's whole log.
CREATE INDEX audit_log_tenant_at_idx ON audit_log (tenant_id, at);
