-- sipmap PostgreSQL schema, version 4: BYOC trunks, connection policies and their targets, and
-- the references between them and SIP domains.

CREATE TABLE connection_policies (
    sid           TEXT PRIMARY KEY,
    account_sid   TEXT NOT NULL REFERENCES accounts (sid),
    friendly_name TEXT,
    date_created  BIGINT NOT NULL,
    date_updated  BIGINT NOT NULL
);
CREATE INDEX connection_policies_by_account ON connection_policies (account_sid, sid);

CREATE TABLE connection_policy_targets (
    sid                   TEXT PRIMARY KEY,
    account_sid           TEXT NOT NULL REFERENCES accounts (sid),
    connection_policy_sid TEXT NOT NULL REFERENCES connection_policies (sid) ON DELETE CASCADE,
    friendly_name         TEXT,
    target                TEXT NOT NULL,
    priority              INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 65535),
    weight                INTEGER NOT NULL CHECK (weight BETWEEN 1 AND 65535),
    enabled               BOOLEAN NOT NULL,
    date_created          BIGINT NOT NULL,
    date_updated          BIGINT NOT NULL
);
CREATE INDEX connection_policy_targets_by_policy
    ON connection_policy_targets (connection_policy_sid, sid);

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
    cnam_lookup_enabled    BOOLEAN NOT NULL,
    connection_policy_sid  TEXT REFERENCES connection_policies (sid) ON DELETE RESTRICT,
    from_domain_sid        TEXT REFERENCES sip_domains (sid) ON DELETE RESTRICT,
    date_created           BIGINT NOT NULL,
    date_updated           BIGINT NOT NULL
);
CREATE INDEX byoc_trunks_by_account ON byoc_trunks (account_sid, sid);
CREATE INDEX byoc_trunks_by_policy ON byoc_trunks (connection_policy_sid);
CREATE INDEX byoc_trunks_by_from_domain ON byoc_trunks (from_domain_sid);

-- A SIP domain's ByocTrunkSid was checked against its pattern only: names of trunks that never
-- existed are cleared. From now on it must name an existing trunk.
UPDATE sip_domains SET byoc_trunk_sid = NULL WHERE byoc_trunk_sid IS NOT NULL;
ALTER TABLE sip_domains ADD CONSTRAINT sip_domains_byoc_trunk_sid_fkey
    FOREIGN KEY (byoc_trunk_sid) REFERENCES byoc_trunks (sid) ON DELETE RESTRICT;
CREATE INDEX sip_domains_by_trunk ON sip_domains (byoc_trunk_sid);

-- The change log carries routing changes: a domain's trunk, trunks and targets.
ALTER TABLE change_log DROP CONSTRAINT change_log_kind_check;
ALTER TABLE change_log ADD CONSTRAINT change_log_kind_check CHECK (kind IN (
    'domain_set', 'domain_removed', 'mapping_set', 'mapping_removed', 'acl_network_added',
    'acl_network_removed', 'credential_set', 'credential_removed', 'auth_mapped',
    'auth_unmapped', 'trunk_set', 'trunk_removed', 'route_target_set', 'route_target_removed'));
ALTER TABLE change_log
    ADD COLUMN trunk_sid TEXT,
    ADD COLUMN policy_sid TEXT,
    ADD COLUMN target_sid TEXT,
    ADD COLUMN target_uri TEXT,
    ADD COLUMN priority INTEGER,
    ADD COLUMN weight INTEGER,
    ADD COLUMN enabled BOOLEAN;
