-- sipmap PostgreSQL schema, version 14: an account's count of events (`event_counts`, read by
-- the retention) is spread over up to 64 rows, `shard`, each inserted or deleted event adding
-- to or taking from one picked at random. Every API write stores its event in its own
-- transaction, and with one row per account the trigger's update held that row's lock until
-- commit: all the writes of an account waited for each other's commit, one WAL flush after
-- another. Now concurrent writes of one account rarely meet on a row, and their commits share
-- flushes. The count is the sum of the account's rows (one of which may be below zero).
ALTER TABLE event_counts ADD COLUMN IF NOT EXISTS shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE event_counts DROP CONSTRAINT IF EXISTS event_counts_pkey;
ALTER TABLE event_counts ADD CONSTRAINT event_counts_pkey PRIMARY KEY (account_sid, shard);
CREATE OR REPLACE FUNCTION sipmap_count_events() RETURNS trigger AS $$
DECLARE
    one_of SMALLINT := floor(random() * 64);
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO event_counts (account_sid, shard, held) VALUES (NEW.account_sid, one_of, 1)
            ON CONFLICT (account_sid, shard) DO UPDATE SET held = event_counts.held + 1;
    ELSE
        INSERT INTO event_counts (account_sid, shard, held) VALUES (OLD.account_sid, one_of, -1)
            ON CONFLICT (account_sid, shard) DO UPDATE SET held = event_counts.held - 1;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
