-- sipmap SQLite schema, version 2: the tenancy rules, enforced by the database itself as a
-- backstop to the checks the write path makes first.

-- 1 to 32, to enumerate the networks that contain a network (triggers cannot use WITH).
CREATE TABLE prefix_lengths (p INTEGER PRIMARY KEY);
WITH RECURSIVE n(p) AS (SELECT 1 UNION ALL SELECT p + 1 FROM n WHERE p < 32)
INSERT INTO prefix_lengths (p) SELECT p FROM n;

-- Closing an account is final.
CREATE TRIGGER accounts_closed_is_final BEFORE UPDATE OF status ON accounts
WHEN OLD.status = 'closed' AND NEW.status <> 'closed'
BEGIN
    SELECT RAISE(ABORT, 'accounts_closed_is_final');
END;

-- Networks by start address with their account, so that the search for other accounts'
-- networks inside a wide one skips the account's own from the index alone.
CREATE INDEX source_ip_mappings_by_network ON source_ip_mappings (network, account_sid);

-- A network may overlap (contain, or lie inside) a mapped network only when both belong to one
-- family: the same account, its parent, or its subaccounts. Two index searches: the networks
-- that start inside the new one, and the (at most 31) networks that contain it.
CREATE TRIGGER source_ip_mappings_family_overlap BEFORE INSERT ON source_ip_mappings
WHEN EXISTS (
    SELECT 1 FROM source_ip_mappings m INDEXED BY source_ip_mappings_by_network
    JOIN accounts a ON a.sid = m.account_sid
    WHERE m.network BETWEEN NEW.network AND NEW.network + (1 << (32 - NEW.prefix_length)) - 1
      AND m.account_sid <> NEW.account_sid
      AND m.account_sid IS NOT (SELECT owner_sid FROM accounts WHERE sid = NEW.account_sid)
      AND a.owner_sid IS NOT NEW.account_sid
) OR EXISTS (
    SELECT 1 FROM prefix_lengths s
    JOIN source_ip_mappings m
      ON m.network = (NEW.network >> (32 - s.p)) << (32 - s.p) AND m.prefix_length = s.p
    JOIN accounts a ON a.sid = m.account_sid
    WHERE s.p < NEW.prefix_length
      AND m.account_sid <> NEW.account_sid
      AND a.owner_sid IS NOT NEW.account_sid
      AND m.account_sid IS NOT (SELECT owner_sid FROM accounts WHERE sid = NEW.account_sid)
)
BEGIN
    SELECT RAISE(ABORT, 'source_ip_mappings_family_overlap');
END;

-- Written by the health probe after a write failed, to learn whether storage can take writes
-- again: each probe stores 64 KiB and deletes it in one committed transaction.
CREATE TABLE health_probe (id INTEGER PRIMARY KEY, pad BLOB NOT NULL);
