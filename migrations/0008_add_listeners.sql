-- Listeners: subscriptions with action_type 'cli' whose deliveries `switchyard listen` forwards itself
-- and reports (POST /v1/tenants/{t}/listeners/{id}/attempts). The fan-out and the queue never run
-- them. A tenant's listener names are unique, so the CLI finds its listener again by name.
-- last_sequence: the highest event sequence a listener reported an attempt for (a restarted CLI resumes
-- after it); 0 for every other subscription.
ALTER TABLE subscriptions ADD COLUMN last_sequence bigint NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_listener_check
  CHECK (action_type IS DISTINCT FROM 'cli' OR (name IS NOT NULL AND action_config IS NULL AND transformer_plugin_id IS NULL));
CREATE UNIQUE INDEX subscriptions_listener_name_idx ON subscriptions (tenant_id, name) WHERE action_type = 'cli';
