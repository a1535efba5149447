-- sipmap PostgreSQL schema, version 11: how many call records each account holds, kept by
-- triggers, so that the retention (--max-call-records-per-account) reads one row at each new call
-- instead of counting the account's calls. Written to run again on a database that has it.
CREATE TABLE IF NOT EXISTS call_counts (
    account_sid TEXT COLLATE "C" PRIMARY KEY REFERENCES accounts (sid),
    held        BIGINT NOT NULL
);
INSERT INTO call_counts (account_sid, held)
    SELECT account_sid, count(*) FROM calls GROUP BY account_sid
    ON CONFLICT (account_sid) DO NOTHING;
CREATE OR REPLACE FUNCTION sipmap_count_calls() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO call_counts (account_sid, held) VALUES (NEW.account_sid, 1)
            ON CONFLICT (account_sid) DO UPDATE SET held = call_counts.held + 1;
    ELSE
        UPDATE call_counts SET held = held - 1 WHERE account_sid = OLD.account_sid;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS calls_counted ON calls;
CREATE TRIGGER calls_counted AFTER INSERT OR DELETE ON calls
    FOR EACH ROW EXECUTE FUNCTION sipmap_count_calls();
