-- Subscriptions turn stored events into deliveries; every attempt is recorded.

CREATE TABLE subscriptions (
  id                    text PRIMARY KEY,
  tenant_id             text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name                  text,
  types                 text[] NOT NULL,
  filter                jsonb,
  -- either a registered action instance or an inline action (type + config)
  action_plugin_id      text REFERENCES plugins (id) ON DELETE RESTRICT,
  action_type           text,
  action_config         jsonb,
  transformer_plugin_id text REFERENCES plugins (id) ON DELETE RESTRICT,
  ordering              text NOT NULL DEFAULT 'none' CHECK (ordering IN ('none', 'partition')),
  retry_schedule        integer[],
  enabled               boolean NOT NULL DEFAULT true,
  disabled_reason       text,
  failure_threshold     integer NOT NULL DEFAULT 50,
  consecutive_failures  integer NOT NULL DEFAULT 0,
  version               integer NOT NULL DEFAULT 1,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  CHECK ((action_plugin_id IS NULL) <> (action_type IS NULL))
);
CREATE INDEX subscriptions_tenant_idx ON subscriptions (tenant_id, id);

CREATE TABLE subscription_secrets (
  id              text PRIMARY KEY,
  tenant_id       text NOT NULL,
  subscription_id text NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
  ciphertext      text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz
);
CREATE INDEX subscription_secrets_sub_idx ON subscription_secrets (subscription_id);

CREATE TABLE replays (
  id              text PRIMARY KEY,
  tenant_id       text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  subscription_id text,
  filter          jsonb NOT NULL,
  status          text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed')),
  cursor_sequence bigint NOT NULL DEFAULT 0,
  events_matched  integer NOT NULL DEFAULT 0,
  deliveries      integer NOT NULL DEFAULT 0,
  error           text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  completed_at    timestamptz
);

CREATE TABLE deliveries (
  id              text PRIMARY KEY,
  tenant_id       text NOT NULL,
  subscription_id text NOT NULL,
  event_id        text NOT NULL,
  event_sequence  bigint NOT NULL,
  partition_key   text,
  -- skipped: the subscription's transformer dropped the event
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed', 'skipped')),
  attempts        integer NOT NULL DEFAULT 0,
  -- attempts already spent when the schedule last restarted (a manual retry restarts it)
  schedule_offset integer NOT NULL DEFAULT 0,
  last_status     integer,
  last_error      text,
  next_attempt_at timestamptz,
  -- a consumer holds a delivery while it runs an attempt, so a duplicate queue message cannot run it twice
  leased_until    timestamptz,
  replay_id       text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz
);
CREATE INDEX deliveries_event_idx ON deliveries (tenant_id, event_id);
CREATE INDEX deliveries_sub_idx ON deliveries (tenant_id, subscription_id, created_at);
CREATE INDEX deliveries_status_idx ON deliveries (tenant_id, status, created_at);

CREATE TABLE delivery_attempts (
  id            bigserial PRIMARY KEY,
  tenant_id     text NOT NULL,
  delivery_id   text NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
  attempt       integer NOT NULL,
  started_at    timestamptz NOT NULL,
  latency_ms    integer NOT NULL,
  outcome       text NOT NULL,
  status_code   integer,
  error         text,
  response_body text,
  UNIQUE (delivery_id, attempt)
);
