-- sipmap SQLite schema, version 4: BYOC trunks, connection policies and their targets, and the
-- references between them and SIP domains.

CREATE TABLE connection_policies (
    sid           TEXT PRIMARY KEY,
    account_sid   TEXT NOT NULL REFERENCES accounts (sid),
    friendly_name TEXT,
    date_created  INTEGER NOT NULL,
    date_updated  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX connection_policies_by_account ON connection_policies (account_sid, sid);

CREATE TABLE connection_policy_targets (
    sid                   TEXT PRIMARY KEY,
    account_sid           TEXT NOT NULL REFERENCES accounts (sid),
    -- a target goes with its policy
    connection_policy_sid TEXT NOT NULL REFERENCES connection_policies (sid) ON DELETE CASCADE,
    friendly_name         TEXT,
    target                TEXT NOT NULL,
    priority              INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 65535),
    weight                INTEGER NOT NULL CHECK (weight BETWEEN 1 AND 65535),
    enabled               INTEGER NOT NULL,
    date_created          INTEGER NOT NULL,
    date_updated          INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX connection_policy_targets_by_policy
    ON connection_policy_targets (connection_policy_sid, sid);

-- A trunk's policy and From domain must exist while it names them.
CREATE TABLE byoc_trunks (
    sid                    TEXT PRIMARY KEY,
    account_sid            TEXT NOT NULL REFERENCES accounts (sid),
    friendly_name          TEXT,
    voice_url              TEXT,
    voice_method           TEXT NOT NULL,
    voice_fallback_url     TEXT,
    voice_fallback_method  TEXT NOT NULL,
    status_callback_url    TEXT,
    status_callback_method TEXT NOT NULL,
    cnam_lookup_enabled    INTEGER NOT NULL,
    connection_policy_sid  TEXT REFERENCES connection_policies (sid) ON DELETE RESTRICT,
    from_domain_sid        TEXT REFERENCES sip_domains (sid) ON DELETE RESTRICT,
    date_created           INTEGER NOT NULL,
    date_updated           INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX byoc_trunks_by_account ON byoc_trunks (account_sid, sid);
CREATE INDEX byoc_trunks_by_policy ON byoc_trunks (connection_policy_sid);
CREATE INDEX byoc_trunks_by_from_domain ON byoc_trunks (from_domain_sid);

-- A SIP domain's ByocTrunkSid was checked against its pattern only: names of trunks that never
-- existed are cleared. From now on it must name an existing trunk, which cannot be deleted while
-- a domain names it (SQLite cannot add a foreign key to an existing table: triggers do).
UPDATE sip_domains SET byoc_trunk_sid = NULL WHERE byoc_trunk_sid IS NOT NULL;
CREATE INDEX sip_domains_by_trunk ON sip_domains (byoc_trunk_sid);
CREATE TRIGGER sip_domains_trunk_exists_insert BEFORE INSERT ON sip_domains
WHEN NEW.byoc_trunk_sid IS NOT NULL
 AND NOT EXISTS (SELECT 1 FROM byoc_trunks WHERE sid = NEW.byoc_trunk_sid)
BEGIN
    SELECT RAISE(ABORT, 'sip_domains_byoc_trunk_sid_fkey');
END;
CREATE TRIGGER sip_domains_trunk_exists_update BEFORE UPDATE OF byoc_trunk_sid ON sip_domains
WHEN NEW.byoc_trunk_sid IS NOT NULL
 AND NOT EXISTS (SELECT 1 FROM byoc_trunks WHERE sid = NEW.byoc_trunk_sid)
BEGIN
    SELECT RAISE(ABORT, 'sip_domains_byoc_trunk_sid_fkey');
END;
CREATE TRIGGER byoc_trunks_in_use BEFORE DELETE ON byoc_trunks
WHEN EXISTS (SELECT 1 FROM sip_domains WHERE byoc_trunk_sid = OLD.sid)
BEGIN
    SELECT RAISE(ABORT, 'sip_domains_byoc_trunk_sid_fkey');
END;
