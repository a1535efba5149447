-- The cluster's change log stores each change as one serialised payload, recognition::Change as
-- JSON (store/postgres/feed.rs), instead of one column per field of every kind: a new kind of
-- change needs no migration. Secrets stay as storage holds them, sealed (base64 in the payload).
-- Every statement may run again on a database that has it already.
CREATE TABLE IF NOT EXISTS recognition_changes (
    seq       BIGINT NOT NULL,
    ord       INTEGER NOT NULL,
    change    TEXT NOT NULL,
    logged_at BIGINT NOT NULL DEFAULT extract(epoch FROM now())::BIGINT,
    PRIMARY KEY (seq, ord)
);
CREATE INDEX IF NOT EXISTS recognition_changes_by_time ON recognition_changes (logged_at);

-- change_log is retired. Its rows stay for the nodes not yet upgraded, which read it, but it takes
-- no new row: an old node's write that changes recognition fails (SQLSTATE 58000, which it
-- answers with 503) instead of logging a change upgraded nodes would never read. Old nodes keep
-- following the cluster: past the last row here their log has a gap, so they reload in full.
-- Upgraded nodes load in full at start, after this migration, and never need these rows.
CREATE OR REPLACE FUNCTION sipmap_change_log_retired() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'change_log was replaced by recognition_changes (schema version 8): this '
        'sipmap is older than its database; upgrade it' USING ERRCODE = '58000';
END $$;
DROP TRIGGER IF EXISTS change_log_retired ON change_log;
CREATE TRIGGER change_log_retired BEFORE INSERT ON change_log
    FOR EACH STATEMENT EXECUTE FUNCTION sipmap_change_log_retired();
