-- sipmap PostgreSQL schema, version 12: Monitor Events, the audit log of every change the API
-- made, written in the transaction of the change. Times are Unix milliseconds; `event_data` is
-- a JSON object (never a secret). `event_counts` holds how many events each account keeps, kept
-- by triggers, so that the retention (--max-events-per-account) reads one row per write instead
-- of counting; `events_by_date` lets the age bound delete without a scan. Written to run again
-- on a database that has it.
CREATE TABLE IF NOT EXISTS events (
    sid               TEXT COLLATE "C" PRIMARY KEY,
    account_sid       TEXT COLLATE "C" NOT NULL REFERENCES accounts (sid),
    actor_sid         TEXT COLLATE "C",
    actor_type        TEXT,
    description       TEXT,
    event_data        TEXT NOT NULL,
    event_ms          BIGINT NOT NULL,
    event_type        TEXT NOT NULL,
    resource_sid      TEXT COLLATE "C" NOT NULL,
    resource_type     TEXT NOT NULL,
    source            TEXT NOT NULL,
    source_ip_address TEXT
);
CREATE INDEX IF NOT EXISTS events_by_account ON events (account_sid, sid);
CREATE INDEX IF NOT EXISTS events_by_date ON events (account_sid, event_ms);
CREATE INDEX IF NOT EXISTS events_by_resource ON events (account_sid, resource_sid, sid);
CREATE TABLE IF NOT EXISTS event_counts (
    account_sid TEXT COLLATE "C" PRIMARY KEY REFERENCES accounts (sid),
    held        BIGINT NOT NULL
);
CREATE OR REPLACE FUNCTION sipmap_count_events() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO event_counts (account_sid, held) VALUES (NEW.account_sid, 1)
            ON CONFLICT (account_sid) DO UPDATE SET held = event_counts.held + 1;
    ELSE
        UPDATE event_counts SET held = held - 1 WHERE account_sid = OLD.account_sid;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS events_counted ON events;
CREATE TRIGGER events_counted AFTER INSERT OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION sipmap_count_events();
