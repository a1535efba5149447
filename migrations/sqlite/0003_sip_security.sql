-- sipmap SQLite schema, version 3: a SIP domain's security model. IP access control lists and
-- their addresses, credential lists and their credentials (passwords sealed with the server
-- key), and the lists mapped to each domain for calls and for registrations.

-- The server key's check value (see src/secret.rs): a node whose key does not match refuses to
-- start instead of failing every digest authentication.
CREATE TABLE server_key (
    id          INTEGER PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    check_value BLOB NOT NULL
);

CREATE TABLE sip_ip_access_control_lists (
    sid           TEXT PRIMARY KEY,
    account_sid   TEXT NOT NULL REFERENCES accounts (sid),
    friendly_name TEXT NOT NULL,
    date_created  INTEGER NOT NULL,
    date_updated  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sip_ip_access_control_lists_by_account
    ON sip_ip_access_control_lists (account_sid, sid);

CREATE TABLE sip_ip_addresses (
    sid                        TEXT PRIMARY KEY,
    account_sid                TEXT NOT NULL REFERENCES accounts (sid),
    -- an address goes with its list
    ip_access_control_list_sid TEXT NOT NULL
        REFERENCES sip_ip_access_control_lists (sid) ON DELETE CASCADE,
    friendly_name              TEXT NOT NULL,
    ip_address                 TEXT NOT NULL,
    cidr_prefix_length         INTEGER NOT NULL CHECK (cidr_prefix_length BETWEEN 1 AND 32),
    -- the masked network, as recognition loads it
    network                    INTEGER NOT NULL,
    date_created               INTEGER NOT NULL,
    date_updated               INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sip_ip_addresses_by_list ON sip_ip_addresses (ip_access_control_list_sid, sid);

CREATE TABLE sip_credential_lists (
    sid           TEXT PRIMARY KEY,
    account_sid   TEXT NOT NULL REFERENCES accounts (sid),
    friendly_name TEXT NOT NULL,
    date_created  INTEGER NOT NULL,
    date_updated  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sip_credential_lists_by_account ON sip_credential_lists (account_sid, sid);

CREATE TABLE sip_credentials (
    sid                 TEXT PRIMARY KEY,
    account_sid         TEXT NOT NULL REFERENCES accounts (sid),
    credential_list_sid TEXT NOT NULL REFERENCES sip_credential_lists (sid) ON DELETE CASCADE,
    username            TEXT NOT NULL,
    -- ChaCha20-Poly1305 under a key derived from the server key: never the password itself
    password_sealed     BLOB NOT NULL,
    date_created        INTEGER NOT NULL,
    date_updated        INTEGER NOT NULL,
    UNIQUE (credential_list_sid, username)
) WITHOUT ROWID;
CREATE INDEX sip_credentials_by_list ON sip_credentials (credential_list_sid, sid);

-- IP access control lists mapped to a domain for calls. A mapped list cannot be deleted; a
-- deleted domain takes its mappings with it.
CREATE TABLE sip_domain_acl_mappings (
    sip_domain_sid             TEXT NOT NULL REFERENCES sip_domains (sid) ON DELETE CASCADE,
    ip_access_control_list_sid TEXT NOT NULL
        REFERENCES sip_ip_access_control_lists (sid) ON DELETE RESTRICT,
    account_sid                TEXT NOT NULL REFERENCES accounts (sid),
    date_created               INTEGER NOT NULL,
    date_updated               INTEGER NOT NULL,
    PRIMARY KEY (sip_domain_sid, ip_access_control_list_sid)
) WITHOUT ROWID;
CREATE INDEX sip_domain_acl_mappings_by_list
    ON sip_domain_acl_mappings (ip_access_control_list_sid);

-- Credential lists mapped to a domain, for calls or for registrations.
CREATE TABLE sip_domain_credential_list_mappings (
    sip_domain_sid      TEXT NOT NULL REFERENCES sip_domains (sid) ON DELETE CASCADE,
    kind                TEXT NOT NULL
        CHECK (kind IN ('calls_credentials', 'registrations_credentials')),
    credential_list_sid TEXT NOT NULL REFERENCES sip_credential_lists (sid) ON DELETE RESTRICT,
    account_sid         TEXT NOT NULL REFERENCES accounts (sid),
    date_created        INTEGER NOT NULL,
    date_updated        INTEGER NOT NULL,
    PRIMARY KEY (sip_domain_sid, kind, credential_list_sid)
) WITHOUT ROWID;
CREATE INDEX sip_domain_credential_list_mappings_by_list
    ON sip_domain_credential_list_mappings (credential_list_sid);
