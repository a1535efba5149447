-- sipmap SQLite schema, version 10: which node holds a live call, the nodes' heartbeats, and
-- the API's commands to calls held by another node (ARCHITECTURE.md, "Calls in a cluster"). On
-- SQLite there is one node: at start it ends every live call another process left.

-- The node whose call runtime holds a live call (its id, random per process), for the calls a
-- runtime stored since this version; the row goes when the call ends, so the table holds live
-- calls only. A table of its own rather than a column of `calls`, so that
-- this file can run again on a database that has it (SQLite cannot add a column only if missing).
CREATE TABLE IF NOT EXISTS call_holders (
    call_sid TEXT PRIMARY KEY REFERENCES calls (sid) ON DELETE CASCADE,
    node_id  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS call_holders_by_node ON call_holders (node_id);
-- The live calls (a single node's start reads them all).
CREATE INDEX IF NOT EXISTS calls_live ON calls (sid) WHERE ended_ms IS NULL;

-- Every node running calls writes its heartbeat here (Unix ms).
CREATE TABLE IF NOT EXISTS call_nodes (
    node_id TEXT PRIMARY KEY,
    beat_ms INTEGER NOT NULL
);

-- An update of a live call for the node that holds it (see the PostgreSQL migration).
CREATE TABLE IF NOT EXISTS call_commands (
    id          TEXT PRIMARY KEY,
    node_id     TEXT NOT NULL,
    account_sid TEXT NOT NULL,
    call_sid    TEXT NOT NULL,
    command     TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    outcome     TEXT CHECK (outcome IN ('claimed', 'taken', 'not-live', 'expired'))
);
CREATE INDEX IF NOT EXISTS call_commands_pending ON call_commands (node_id, outcome);
CREATE INDEX IF NOT EXISTS call_commands_by_age ON call_commands (created_ms);
