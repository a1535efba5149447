-- sipmap SQLite schema, version 6: a SIP domain name may lie under, or above, another domain's
-- name only when both belong to one family (an account, its parent, its subaccounts), enforced by
-- the database itself as a backstop to the check the write path makes first.

-- Each domain's key (its lower-cased name) reversed, character by character: the names under a
-- name are then one index range (`moc.oiliwt.pis.emca.` < reversed key < `moc.oiliwt.pis.emca/`).
-- sipmap writes it beside domain_key; the triggers below check that it is the reversal.
ALTER TABLE sip_domains ADD COLUMN domain_rkey TEXT NOT NULL DEFAULT '';
UPDATE sip_domains SET domain_rkey = (
    WITH RECURSIVE r(rest, acc) AS (
        SELECT sip_domains.domain_key, ''
        UNION ALL SELECT substr(rest, 2), substr(rest, 1, 1) || acc FROM r WHERE rest <> ''
    )
    SELECT acc FROM r WHERE rest = ''
);
-- With the account, so that the search skips the owner's own names from the index alone.
CREATE INDEX sip_domains_by_rkey ON sip_domains (domain_rkey, account_sid);

-- 1 to 253, the positions of a name's characters: the names a name lies under start after each
-- of its dots (triggers cannot use WITH). A name has at most 253 characters.
CREATE TABLE name_positions (n INTEGER PRIMARY KEY);
WITH RECURSIVE n(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM n WHERE n < 253)
INSERT INTO name_positions (n) SELECT n FROM n;

-- A new name lies under a name of another family (at most 126 unique-key lookups, one after
-- each dot), or above one (one index range of reversed keys). Family: the same account, its
-- parent, or its subaccounts.
CREATE TRIGGER sip_domains_family_names_insert BEFORE INSERT ON sip_domains
BEGIN
    SELECT RAISE(ABORT, 'sip_domains_domain_rkey')
    WHERE length(NEW.domain_rkey) <> length(NEW.domain_key) OR EXISTS (
        SELECT 1 FROM name_positions p
        WHERE p.n <= length(NEW.domain_key)
          AND substr(NEW.domain_key, p.n, 1)
              <> substr(NEW.domain_rkey, length(NEW.domain_key) + 1 - p.n, 1)
    );
    SELECT RAISE(ABORT, 'sip_domains_family_names')
    WHERE EXISTS (
        SELECT 1 FROM name_positions p
        JOIN sip_domains d ON d.domain_key = substr(NEW.domain_key, p.n + 1)
        JOIN accounts a ON a.sid = d.account_sid
        WHERE p.n < length(NEW.domain_key) AND substr(NEW.domain_key, p.n, 1) = '.'
          AND d.account_sid <> NEW.account_sid
          AND d.account_sid IS NOT (SELECT owner_sid FROM accounts WHERE sid = NEW.account_sid)
          AND a.owner_sid IS NOT NEW.account_sid
    ) OR EXISTS (
        SELECT 1 FROM sip_domains d INDEXED BY sip_domains_by_rkey
        JOIN accounts a ON a.sid = d.account_sid
        WHERE d.domain_rkey > NEW.domain_rkey || '.' AND d.domain_rkey < NEW.domain_rkey || '/'
          AND d.account_sid <> NEW.account_sid
          AND d.account_sid IS NOT (SELECT owner_sid FROM accounts WHERE sid = NEW.account_sid)
          AND a.owner_sid IS NOT NEW.account_sid
    );
END;

-- The same when a domain is renamed.
CREATE TRIGGER sip_domains_family_names_update BEFORE UPDATE OF domain_key, domain_rkey
ON sip_domains
WHEN NEW.domain_key <> OLD.domain_key OR NEW.domain_rkey <> OLD.domain_rkey
BEGIN
    SELECT RAISE(ABORT, 'sip_domains_domain_rkey')
    WHERE length(NEW.domain_rkey) <> length(NEW.domain_key) OR EXISTS (
        SELECT 1 FROM name_positions p
        WHERE p.n <= length(NEW.domain_key)
          AND substr(NEW.domain_key, p.n, 1)
              <> substr(NEW.domain_rkey, length(NEW.domain_key) + 1 - p.n, 1)
    );
    SELECT RAISE(ABORT, 'sip_domains_family_names')
    WHERE EXISTS (
        SELECT 1 FROM name_positions p
        JOIN sip_domains d ON d.domain_key = substr(NEW.domain_key, p.n + 1)
        JOIN accounts a ON a.sid = d.account_sid
        WHERE p.n < length(NEW.domain_key) AND substr(NEW.domain_key, p.n, 1) = '.'
          AND d.account_sid <> NEW.account_sid
          AND d.account_sid IS NOT (SELECT owner_sid FROM accounts WHERE sid = NEW.account_sid)
          AND a.owner_sid IS NOT NEW.account_sid
    ) OR EXISTS (
        SELECT 1 FROM sip_domains d INDEXED BY sip_domains_by_rkey
        JOIN accounts a ON a.sid = d.account_sid
        WHERE d.domain_rkey > NEW.domain_rkey || '.' AND d.domain_rkey < NEW.domain_rkey || '/'
          AND d.account_sid <> NEW.account_sid
          AND d.account_sid IS NOT (SELECT owner_sid FROM accounts WHERE sid = NEW.account_sid)
          AND a.owner_sid IS NOT NEW.account_sid
    );
END;
