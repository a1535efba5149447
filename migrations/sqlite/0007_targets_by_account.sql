-- sipmap SQLite schema, version 7: targets counted per account.

-- An account holds at most `--max-targets-per-account` targets: creating one counts the
-- account's targets (with the account row locked), which this index keeps cheap.
CREATE INDEX connection_policy_targets_by_account
    ON connection_policy_targets (account_sid, sid);
