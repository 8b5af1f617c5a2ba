-- Events the TenantLog acknowledged but Postgres refused to store (a value jsonb cannot hold, nesting
-- past Postgres's stack depth, an id or sequence already taken by another event): each is moved here
-- with the error, so one bad row never blocks the tenant's later events and an operator can see it
-- (GET /v1/tenants/{t}/quarantine). `event` is the stored JSON as text, which takes what jsonb refuses.
-- The sequence stays taken: it is never given to another event.
CREATE TABLE quarantined_events (
  tenant_id      text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  sequence       bigint NOT NULL,
  id             text NOT NULL,
  source_id      text NOT NULL,
  ce_id          text NOT NULL,
  type           text NOT NULL,
  event          text NOT NULL,
  error          text NOT NULL,
  sqlstate       text,
  received_at    timestamptz NOT NULL,
  quarantined_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, sequence)
);
CREATE INDEX quarantined_events_at_idx ON quarantined_events (tenant_id, quarantined_at);
