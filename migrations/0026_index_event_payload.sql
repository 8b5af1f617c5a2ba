-- Event search's GIN index covered the whole stored event, envelope included. The envelope attributes
-- that are unique per event (id, time, subject, traceparent) or kept in columns of their own (type,
-- source) made most of its distinct keys: each stored event inserted them at random places in the
-- index, which made the index 3.5 × larger and every flush slower the more a day's partition held
-- (README "Searching events" has the figures). The new index leaves those attributes out: the payload
-- (`data`) and extension attributes stay indexed; `where` tests an envelope attribute on the whole
-- event, narrowed by its indexed column where there is one (`type`, `id` → `ce_id`).
-- The expression must stay exactly as src/db/where-sql.ts writes it (SEARCH_DOCUMENT), or the planner
-- never uses the index; test/http/events-search.test.ts checks that it does.
-- Building it reads every stored event and holds off writes to events meanwhile (20 s for 2.5 million
-- events on the 2-core dev machine); TenantLogs keep accepting and their outboxes wait.
DROP INDEX IF EXISTS events_event_path_idx;
CREATE INDEX events_payload_path_idx ON events USING gin (
  (event - '{specversion,id,source,type,subject,time,datacontenttype,dataschema,traceparent,tracestate}'::text[]) jsonb_path_ops
);
