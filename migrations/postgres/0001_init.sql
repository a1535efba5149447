-- sipmap PostgreSQL schema, version 1.
-- Times are Unix seconds (UTC). SIDs sort by creation time (see src/sid.rs); they use the "C"
-- collation so that ORDER BY sid is byte order, as on SQLite. Every uniqueness and reference rule
-- of the API is a constraint here, so it holds when several nodes write at the same moment.

CREATE TABLE accounts (
    sid           TEXT COLLATE "C" PRIMARY KEY,
    owner_sid     TEXT COLLATE "C" REFERENCES accounts (sid),
    friendly_name TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'closed')),
    token_salt    BYTEA NOT NULL,
    token_hash    BYTEA NOT NULL,
    date_created  BIGINT NOT NULL,
    date_updated  BIGINT NOT NULL
);
CREATE INDEX accounts_by_owner ON accounts (owner_sid, sid);

CREATE TABLE ip_records (
    sid                TEXT COLLATE "C" PRIMARY KEY,
    account_sid        TEXT COLLATE "C" NOT NULL REFERENCES accounts (sid),
    friendly_name      TEXT,
    ip_address         TEXT NOT NULL,
    cidr_prefix_length SMALLINT NOT NULL CHECK (cidr_prefix_length BETWEEN 1 AND 32),
    date_created       BIGINT NOT NULL,
    date_updated       BIGINT NOT NULL
);
CREATE INDEX ip_records_by_account ON ip_records (account_sid, sid);

CREATE TABLE sip_domains (
    sid                          TEXT COLLATE "C" PRIMARY KEY,
    account_sid                  TEXT COLLATE "C" NOT NULL REFERENCES accounts (sid),
    domain_name                  TEXT NOT NULL,
    domain_key                   TEXT NOT NULL CONSTRAINT sip_domains_domain_key UNIQUE,
    friendly_name                TEXT,
    voice_url                    TEXT,
    voice_method                 TEXT NOT NULL,
    voice_fallback_url           TEXT,
    voice_fallback_method        TEXT NOT NULL,
    voice_status_callback_url    TEXT,
    voice_status_callback_method TEXT NOT NULL,
    sip_registration             BOOLEAN NOT NULL,
    emergency_calling_enabled    BOOLEAN NOT NULL,
    secure                       BOOLEAN NOT NULL,
    byoc_trunk_sid               TEXT,
    emergency_caller_sid         TEXT,
    date_created                 BIGINT NOT NULL,
    date_updated                 BIGINT NOT NULL
);
CREATE INDEX sip_domains_by_account ON sip_domains (account_sid, sid);

CREATE TABLE source_ip_mappings (
    sid            TEXT COLLATE "C" PRIMARY KEY,
    account_sid    TEXT COLLATE "C" NOT NULL REFERENCES accounts (sid),
    ip_record_sid  TEXT COLLATE "C" NOT NULL
        CONSTRAINT source_ip_mappings_one_per_record UNIQUE
        CONSTRAINT source_ip_mappings_record_fk REFERENCES ip_records (sid) ON DELETE RESTRICT,
    sip_domain_sid TEXT COLLATE "C" NOT NULL
        CONSTRAINT source_ip_mappings_domain_fk REFERENCES sip_domains (sid) ON DELETE RESTRICT,
    network        BIGINT NOT NULL,
    prefix_length  SMALLINT NOT NULL,
    date_created   BIGINT NOT NULL,
    date_updated   BIGINT NOT NULL,
    CONSTRAINT source_ip_mappings_one_per_network UNIQUE (network, prefix_length)
);
CREATE INDEX source_ip_mappings_by_account ON source_ip_mappings (account_sid, sid);
CREATE INDEX source_ip_mappings_by_domain ON source_ip_mappings (sip_domain_sid);

-- Cluster change feed. Every write that changes what SIP recognition knows takes the next number
-- from change_counter (its row lock orders such writes, so numbers follow commit order), records
-- its changes under that number in change_log, and NOTIFYs sipmap_changes. Every node applies the
-- log in order and also polls the counter, so a missed notification is caught up by itself.
CREATE TABLE change_counter (
    id  BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    seq BIGINT NOT NULL
);
INSERT INTO change_counter (id, seq) VALUES (TRUE, 0);

CREATE TABLE change_log (
    seq         BIGINT NOT NULL,
    ord         INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('domain_set', 'domain_removed', 'mapping_set', 'mapping_removed')),
    network     BIGINT,
    prefix      SMALLINT,
    domain_sid  TEXT,
    account_sid TEXT,
    domain_name TEXT,
    PRIMARY KEY (seq, ord)
);
