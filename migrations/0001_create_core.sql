-- Tenants, their ingest sources, signing secrets (encrypted at rest) and the event store.

CREATE TABLE tenants (
  id                   text PRIMARY KEY,
  name                 text NOT NULL,
  dedup_window_seconds integer NOT NULL DEFAULT 86400 CHECK (dedup_window_seconds BETWEEN 60 AND 2592000),
  created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sources (
  id              text PRIMARY KEY,
  tenant_id       text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name            text NOT NULL,
  verifier_type   text NOT NULL,
  -- non-secret verifier settings (header names, public keys, JWKS URL); secrets live in source_secrets
  verifier_config jsonb NOT NULL DEFAULT '{}',
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sources_tenant_idx ON sources (tenant_id, id);

-- Several rows per source while a rotation's grace period runs; AES-GCM ciphertext, never plaintext.
CREATE TABLE source_secrets (
  id         text PRIMARY KEY,
  tenant_id  text NOT NULL,
  source_id  text NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
  ciphertext text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz
);
CREATE INDEX source_secrets_source_idx ON source_secrets (source_id);

CREATE TABLE events (
  tenant_id      text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
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
  PRIMARY KEY (tenant_id, sequence)
);
CREATE UNIQUE INDEX events_id_idx ON events (tenant_id, id);
CREATE INDEX events_type_idx ON events (tenant_id, type, sequence);
CREATE INDEX events_received_idx ON events (tenant_id, received_at);
CREATE INDEX events_correlation_idx ON events (tenant_id, correlation_id) WHERE correlation_id IS NOT NULL;

CREATE TABLE audit_log (
  id         bigserial PRIMARY KEY,
  tenant_id  text,
  actor      text NOT NULL,
  action     text NOT NULL,
  target     text,
  details    jsonb NOT NULL DEFAULT '{}',
  at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, id);
