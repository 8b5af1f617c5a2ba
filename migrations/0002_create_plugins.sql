-- Tenant plugin instances, event-type schemas, and the config version that lets every isolate notice
-- a change on the next event.

ALTER TABLE tenants ADD COLUMN config_version bigint NOT NULL DEFAULT 1;

CREATE TABLE plugins (
  id          text PRIMARY KEY,
  tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  type        text NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('verifier', 'validator', 'transformer', 'action')),
  name        text NOT NULL,
  config      jsonb NOT NULL DEFAULT '{}',
  -- validators and transformers apply to events whose type matches one of these patterns
  event_types text[] NOT NULL DEFAULT '{**}',
  position    integer NOT NULL DEFAULT 0,
  enabled     boolean NOT NULL DEFAULT true,
  version     integer NOT NULL DEFAULT 1,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);
CREATE INDEX plugins_tenant_idx ON plugins (tenant_id, kind, position);

ALTER TABLE sources ADD COLUMN verifier_plugin_id text REFERENCES plugins (id) ON DELETE RESTRICT;

CREATE TABLE event_types (
  tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  type        text NOT NULL,
  version     integer NOT NULL,
  schema      jsonb NOT NULL,
  description text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  deleted_at  timestamptz,
  PRIMARY KEY (tenant_id, type, version)
);
