-- sipmap SQLite schema, version 1.
-- Times are Unix seconds (UTC). SIDs sort by creation time (see src/sid.rs), and every list walks
-- the (account_sid, sid) indexes.

CREATE TABLE accounts (
    sid           TEXT PRIMARY KEY,
    owner_sid     TEXT REFERENCES accounts (sid),
    friendly_name TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'closed')),
    token_salt    BLOB NOT NULL,
    token_hash    BLOB NOT NULL,
    date_created  INTEGER NOT NULL,
    date_updated  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX accounts_by_owner ON accounts (owner_sid, sid);

CREATE TABLE ip_records (
    sid                TEXT PRIMARY KEY,
    account_sid        TEXT NOT NULL REFERENCES accounts (sid),
    friendly_name      TEXT,
    ip_address         TEXT NOT NULL,
    cidr_prefix_length INTEGER NOT NULL CHECK (cidr_prefix_length BETWEEN 1 AND 32),
    date_created       INTEGER NOT NULL,
    date_updated       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX ip_records_by_account ON ip_records (account_sid, sid);

CREATE TABLE sip_domains (
    sid                          TEXT PRIMARY KEY,
    account_sid                  TEXT NOT NULL REFERENCES accounts (sid),
    domain_name                  TEXT NOT NULL,
    -- lower-cased domain_name: names are unique across all accounts, ignoring case
    domain_key                   TEXT NOT NULL UNIQUE,
    friendly_name                TEXT,
    voice_url                    TEXT,
    voice_method                 TEXT NOT NULL,
    voice_fallback_url           TEXT,
    voice_fallback_method        TEXT NOT NULL,
    voice_status_callback_url    TEXT,
    voice_status_callback_method TEXT NOT NULL,
    sip_registration             INTEGER NOT NULL,
    emergency_calling_enabled    INTEGER NOT NULL,
    secure                       INTEGER NOT NULL,
    byoc_trunk_sid               TEXT,
    emergency_caller_sid         TEXT,
    date_created                 INTEGER NOT NULL,
    date_updated                 INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sip_domains_by_account ON sip_domains (account_sid, sid);

CREATE TABLE source_ip_mappings (
    sid            TEXT PRIMARY KEY,
    account_sid    TEXT NOT NULL REFERENCES accounts (sid),
    -- one mapping per IP record; a mapped record or domain cannot be deleted
    ip_record_sid  TEXT NOT NULL UNIQUE REFERENCES ip_records (sid) ON DELETE RESTRICT,
    sip_domain_sid TEXT NOT NULL REFERENCES sip_domains (sid) ON DELETE RESTRICT,
    -- the record's masked network, copied here so that one network is mapped once, across accounts
    network        INTEGER NOT NULL,
    prefix_length  INTEGER NOT NULL,
    date_created   INTEGER NOT NULL,
    date_updated   INTEGER NOT NULL,
    UNIQUE (network, prefix_length)
) WITHOUT ROWID;
CREATE INDEX source_ip_mappings_by_account ON source_ip_mappings (account_sid, sid);
CREATE INDEX source_ip_mappings_by_domain ON source_ip_mappings (sip_domain_sid);
