-- sipmap SQLite schema, version 9: calls (API 2010 `Calls`), the HTTP requests made for them
-- (`Calls/{CallSid}/Events`) and their errors and warnings (`Notifications`). Written to run
-- again on a database that has its tables (as 0008 is), should its version be set back.

-- One row per call the call engine handles (a domain's inbound call, a `<Dial>`'s child call).
-- Times are Unix milliseconds. `parent_call_sid` names the parent without a foreign key: a
-- child's record stays when its parent's is deleted. `domain_sid` is not a reference
-- either: a domain may be deleted while its calls' records stay.
CREATE TABLE IF NOT EXISTS calls (
    sid             TEXT PRIMARY KEY,
    account_sid     TEXT NOT NULL REFERENCES accounts (sid),
    parent_call_sid TEXT,
    domain_sid      TEXT NOT NULL,
    from_party      TEXT NOT NULL,
    to_party        TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'ringing', 'in-progress',
                        'completed', 'busy', 'failed', 'no-answer', 'canceled')),
    direction       TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound-dial')),
    sip_call_id     TEXT NOT NULL,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL,
    answered_ms     INTEGER,
    ended_ms        INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS calls_by_account ON calls (account_sid, sid);
CREATE INDEX IF NOT EXISTS calls_by_end ON calls (account_sid, ended_ms);

-- The HTTP requests made for a call, in order: `sid` (no Twilio SID: events have none) is `EV` and the event's ordinal within its
-- call in 32 hex digits (so text order is numeric order, and the list's page token can name
-- it). Parameters and response headers are JSON arrays of [name, value] pairs; the body is an
-- excerpt of at most 4096 bytes. They go with their call.
CREATE TABLE IF NOT EXISTS call_events (
    call_sid         TEXT NOT NULL REFERENCES calls (sid) ON DELETE CASCADE,
    sid              TEXT NOT NULL,
    account_sid      TEXT NOT NULL,
    method           TEXT NOT NULL,
    url              TEXT NOT NULL,
    parameters       TEXT NOT NULL,
    started_ms       INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL,
    response_status  INTEGER,
    response_headers TEXT NOT NULL,
    response_body    TEXT NOT NULL,
    error_code       INTEGER,
    PRIMARY KEY (call_sid, sid)
) WITHOUT ROWID;

-- A call's errors and warnings (`NO…`); they go with their call.
CREATE TABLE IF NOT EXISTS call_notifications (
    sid               TEXT PRIMARY KEY,
    account_sid       TEXT NOT NULL,
    call_sid          TEXT NOT NULL REFERENCES calls (sid) ON DELETE CASCADE,
    error_code        INTEGER NOT NULL,
    log               TEXT NOT NULL CHECK (log IN ('0', '1')),
    message_text      TEXT NOT NULL,
    request_url       TEXT,
    request_method    TEXT,
    request_variables TEXT NOT NULL,
    created_ms        INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS call_notifications_by_call ON call_notifications (call_sid, sid);
CREATE INDEX IF NOT EXISTS call_notifications_by_account ON call_notifications (account_sid, sid);
