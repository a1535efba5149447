-- sipmap SQLite schema, version 11: how many call records each account holds, kept by triggers,
-- so that the retention (--max-call-records-per-account) reads one row at each new call instead
-- of counting the account's calls. Written to run again on a database that has it.
CREATE TABLE IF NOT EXISTS call_counts (
    account_sid TEXT PRIMARY KEY REFERENCES accounts (sid),
    held        INTEGER NOT NULL
);
INSERT OR IGNORE INTO call_counts (account_sid, held)
    SELECT account_sid, count(*) FROM calls GROUP BY account_sid;
CREATE TRIGGER IF NOT EXISTS calls_counted AFTER INSERT ON calls
BEGIN
    INSERT INTO call_counts (account_sid, held) VALUES (NEW.account_sid, 1)
        ON CONFLICT (account_sid) DO UPDATE SET held = held + 1;
END;
CREATE TRIGGER IF NOT EXISTS calls_uncounted AFTER DELETE ON calls
BEGIN
    UPDATE call_counts SET held = held - 1 WHERE account_sid = OLD.account_sid;
END;
