-- sipmap SQLite schema, version 5: API keys, and auth tokens that can be read back.

-- The auth token sealed with the server key (purpose `auth-token/v1`, see src/secret.rs), so that
-- fetching an account can show it while a stolen database file alone reveals none; the salted
-- hash stays the credential that requests are checked against. Accounts created before this
-- version have only the hash: NULL here, shown as `auth_token: null` until the token is set again.
ALTER TABLE accounts ADD COLUMN token_sealed BLOB;

-- API keys (`SK…`): a key authenticates as the account that owns it. Only a salted SHA-256 of its
-- secret is stored, as for auth tokens.
CREATE TABLE api_keys (
    sid           TEXT PRIMARY KEY,
    account_sid   TEXT NOT NULL REFERENCES accounts (sid),
    friendly_name TEXT,
    secret_salt   BLOB NOT NULL,
    secret_hash   BLOB NOT NULL,
    date_created  INTEGER NOT NULL,
    date_updated  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX api_keys_by_account ON api_keys (account_sid, sid);
