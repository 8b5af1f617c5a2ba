-- Priority lanes (README "Priorities"): an event's CloudEvents `priority` extension (low, normal, high,
-- critical), a subscription's default for events that carry none, and the lane each delivery was sent
-- on, so retries, redrives, replays and bulk retries go back to the same lane.

-- The event's own priority ('normal' when it carried none). Constant defaults: no table rewrite.
ALTER TABLE events ADD COLUMN priority text NOT NULL DEFAULT 'normal';
ALTER TABLE events ADD CONSTRAINT events_priority_check CHECK (priority IN ('low', 'normal', 'high', 'critical')) NOT VALID;

-- Used for an event without a priority of its own (the event's explicit priority wins); NULL: normal.
ALTER TABLE subscriptions ADD COLUMN priority text CHECK (priority IN ('low', 'normal', 'high', 'critical'));

-- The lane of the delivery: the event's priority, else the subscription's default, else normal.
ALTER TABLE deliveries ADD COLUMN priority text NOT NULL DEFAULT 'normal';
ALTER TABLE deliveries ADD CONSTRAINT deliveries_priority_check CHECK (priority IN ('low', 'normal', 'high', 'critical')) NOT VALID;

-- Critical events skip the ingest rate limits and take the critical lane, which every tenant shares:
-- only sources an admin allowed may send them (set with PATCH /v1/tenants/{t}/sources/{id}, admin tokens only).
ALTER TABLE sources ADD COLUMN allow_critical boolean NOT NULL DEFAULT false;
