-- sipmap SQLite schema, version 12: Monitor Events, the audit log of every change the API made,
-- written in the transaction of the change. Times are Unix milliseconds; `event_data` is a JSON
-- object (never a secret). `event_counts` holds how many events each account keeps, kept by
-- triggers, so that the retention (--max-events-per-account) reads one row per write instead of
-- counting; `events_by_date` lets the age bound delete without a scan. Written to run again on a
-- database that has it.
CREATE TABLE IF NOT EXISTS events (
    sid               TEXT PRIMARY KEY,
    account_sid       TEXT NOT NULL REFERENCES accounts (sid),
    actor_sid         TEXT,
    actor_type        TEXT,
    description       TEXT,
    event_data        TEXT NOT NULL,
    event_ms          INTEGER NOT NULL,
    event_type        TEXT NOT NULL,
    resource_sid      TEXT NOT NULL,
    resource_type     TEXT NOT NULL,
    source            TEXT NOT NULL,
    source_ip_address TEXT
);
CREATE INDEX IF NOT EXISTS events_by_account ON events (account_sid, sid);
CREATE INDEX IF NOT EXISTS events_by_date ON events (account_sid, event_ms);
CREATE INDEX IF NOT EXISTS events_by_resource ON events (account_sid, resource_sid, sid);
CREATE TABLE IF NOT EXISTS event_counts (
    account_sid TEXT PRIMARY KEY REFERENCES accounts (sid),
    held        INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS events_counted AFTER INSERT ON events
BEGIN
    INSERT INTO event_counts (account_sid, held) VALUES (NEW.account_sid, 1)
        ON CONFLICT (account_sid) DO UPDATE SET held = held + 1;
END;
CREATE TRIGGER IF NOT EXISTS events_uncounted AFTER DELETE ON events
BEGIN
    UPDATE event_counts SET held = held - 1 WHERE account_sid = OLD.account_sid;
END;
