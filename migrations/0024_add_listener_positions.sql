-- A listener's resume point per shard: {"<shard>": last reported sequence of that shard}. On a tenant
-- with more than one shard sequences are not comparable across shards (shard = floor(sequence / 10^13)),
-- so the one last_sequence (kept for compatibility: the greatest of them) cannot say where a restarted
-- `switchyard listen` resumes; the listener API answers these as the stream's comma cursor.
ALTER TABLE subscriptions ADD COLUMN positions jsonb NOT NULL DEFAULT '{}';
-- what a listener reported before: its greatest sequence is the last of that sequence's shard
UPDATE subscriptions SET positions = jsonb_build_object((last_sequence / 10000000000000)::text, last_sequence)
 WHERE action_type = 'cli' AND last_sequence > 0;
