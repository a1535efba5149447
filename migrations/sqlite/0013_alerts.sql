-- sipmap SQLite schema, version 13: Monitor Alerts, the errors and warnings of an account's
-- calls (each notification of a call is also an alert, with the same `NO…` SID, written in the
-- notification's transaction), kept after the call's record goes. Times are Unix milliseconds.
-- `alert_counts` holds how many alerts each account keeps, kept by triggers, so that the
-- retention (--max-alerts-per-account) reads one row per write instead of counting;
-- `alerts_by_date` lets the age bound delete without a scan. Written to run again on a
-- database that has it.
CREATE TABLE IF NOT EXISTS alerts (
    sid               TEXT PRIMARY KEY,
    account_sid       TEXT NOT NULL REFERENCES accounts (sid),
    error_code        INTEGER NOT NULL,
    log_level         TEXT NOT NULL,
    alert_text        TEXT NOT NULL,
    api_version       TEXT NOT NULL,
    request_method    TEXT,
    request_url       TEXT,
    request_variables TEXT,
    resource_sid      TEXT,
    generated_ms      INTEGER NOT NULL,
    created_ms        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_by_account ON alerts (account_sid, sid);
CREATE INDEX IF NOT EXISTS alerts_by_date ON alerts (account_sid, created_ms);
CREATE TABLE IF NOT EXISTS alert_counts (
    account_sid TEXT PRIMARY KEY REFERENCES accounts (sid),
    held        INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS alerts_counted AFTER INSERT ON alerts
BEGIN
    INSERT INTO alert_counts (account_sid, held) VALUES (NEW.account_sid, 1)
        ON CONFLICT (account_sid) DO UPDATE SET held = held + 1;
END;
CREATE TRIGGER IF NOT EXISTS alerts_uncounted AFTER DELETE ON alerts
BEGIN
    UPDATE alert_counts SET held = held - 1 WHERE account_sid = OLD.account_sid;
END;
