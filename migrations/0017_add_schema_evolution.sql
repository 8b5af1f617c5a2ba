-- Schema evolution (README "Schema evolution"): a compatibility mode per event type, checked when a new
-- schema version is registered, and the schema version each stored event was validated against.

-- One row per (tenant, type) whose mode was set; a type without a row is 'backward'. Deleting the
-- event type deletes its row, so a type registered again starts from the default.
CREATE TABLE event_type_settings (
  tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  type          text NOT NULL,
  compatibility text NOT NULL DEFAULT 'backward' CHECK (compatibility IN ('none', 'backward', 'forward', 'full')),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, type)
);

-- The version of the type's schema that validated the event (the one its `dataschema` named, else the
-- newest); NULL when the type had no schema. No default: no table rewrite.
ALTER TABLE events ADD COLUMN schema_version integer;
-- GET …/events?type=…&schema_version=n
CREATE INDEX events_schema_version_idx ON events (tenant_id, type, schema_version, sequence) WHERE schema_version IS NOT NULL;
