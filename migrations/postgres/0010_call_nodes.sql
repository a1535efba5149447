-- sipmap PostgreSQL schema, version 10: which node holds a live call, the nodes' heartbeats, and
-- the API's commands to calls held by another node (ARCHITECTURE.md, "Calls in a cluster").
-- Written to run again on a database that has them.

-- The node whose call runtime holds a live call (its id, random per process), for the calls a
-- runtime stored since this version; the row goes when the call ends, so the table holds live
-- calls only. A table of its own rather than a column of `calls`, so that
-- this file can run again on a database that has it (SQLite cannot add a column only if missing).
CREATE TABLE IF NOT EXISTS call_holders (
    call_sid TEXT COLLATE "C" PRIMARY KEY REFERENCES calls (sid) ON DELETE CASCADE,
    node_id  TEXT COLLATE "C" NOT NULL
);
CREATE INDEX IF NOT EXISTS call_holders_by_node ON call_holders (node_id);
-- The live calls (a single node's start reads them all).
CREATE INDEX IF NOT EXISTS calls_live ON calls (sid) WHERE ended_ms IS NULL;

-- Every node running calls writes its heartbeat here (Unix ms); a node whose heartbeat is older
-- than the bound has its live calls ended by any other node.
CREATE TABLE IF NOT EXISTS call_nodes (
    node_id TEXT COLLATE "C" PRIMARY KEY,
    beat_ms BIGINT NOT NULL
);

-- An update of a live call, written by the node the API request reached for the node that holds
-- the call (`node_id`), which takes it (`outcome`: claimed, then taken or not-live) or not in
-- time (`expired`, set by the writer). `command` is the command as JSON. Rows live a minute.
CREATE TABLE IF NOT EXISTS call_commands (
    id          TEXT COLLATE "C" PRIMARY KEY,
    node_id     TEXT COLLATE "C" NOT NULL,
    account_sid TEXT COLLATE "C" NOT NULL,
    call_sid    TEXT COLLATE "C" NOT NULL,
    command     TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    outcome     TEXT CHECK (outcome IN ('claimed', 'taken', 'not-live', 'expired'))
);
CREATE INDEX IF NOT EXISTS call_commands_pending ON call_commands (node_id, outcome);
CREATE INDEX IF NOT EXISTS call_commands_by_age ON call_commands (created_ms);
