-- sipmap PostgreSQL schema, version 6: a SIP domain name may lie under, or above, another
-- domain's name only when both belong to one family (an account, its parent, its subaccounts),
-- enforced by the database itself, also between nodes that write at the same moment.

-- Each domain's key (its lower-cased name) reversed: the names under a name are then one index
-- range (`moc.oiliwt.pis.emca.` < reversed key < `moc.oiliwt.pis.emca/`), in byte order.
ALTER TABLE sip_domains ADD COLUMN domain_rkey TEXT COLLATE "C";
UPDATE sip_domains SET domain_rkey = reverse(domain_key);
ALTER TABLE sip_domains
    ALTER COLUMN domain_rkey SET NOT NULL,
    ADD CONSTRAINT sip_domains_domain_rkey CHECK (domain_rkey = reverse(domain_key));
-- With the account, so that the search skips the owner's own names from the index alone.
CREATE INDEX sip_domains_by_rkey ON sip_domains (domain_rkey, account_sid);

-- A name lies under a name of another family (at most 126 unique-key lookups, one after each
-- dot), or above one (one index range of reversed keys). Every new name first takes one
-- transaction-scoped advisory lock (the write path takes it too), so two nodes cannot both pass
-- the check with nested names; each statement of this (volatile) function then sees every
-- committed domain.
CREATE FUNCTION sipmap_domain_family_names() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parent TEXT;
BEGIN
    PERFORM pg_advisory_xact_lock(5938012657234002);
    SELECT owner_sid INTO parent FROM accounts WHERE sid = NEW.account_sid;
    IF EXISTS (
        SELECT 1 FROM generate_series(1, length(NEW.domain_key) - 1) AS p(n)
        JOIN sip_domains d ON d.domain_key = substr(NEW.domain_key, p.n + 1)
        JOIN accounts a ON a.sid = d.account_sid
        WHERE substr(NEW.domain_key, p.n, 1) = '.'
          AND d.account_sid <> NEW.account_sid
          AND d.account_sid IS DISTINCT FROM parent
          AND a.owner_sid IS DISTINCT FROM NEW.account_sid
    ) OR EXISTS (
        SELECT 1 FROM sip_domains d JOIN accounts a ON a.sid = d.account_sid
        WHERE d.domain_rkey > NEW.domain_rkey || '.' AND d.domain_rkey < NEW.domain_rkey || '/'
          AND d.account_sid <> NEW.account_sid
          AND d.account_sid IS DISTINCT FROM parent
          AND a.owner_sid IS DISTINCT FROM NEW.account_sid
    ) THEN
        RAISE EXCEPTION 'the SIP domain name lies under or above a name held outside its family'
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'sip_domains_family_names',
                  TABLE = 'sip_domains';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER sip_domains_family_names_insert BEFORE INSERT ON sip_domains
    FOR EACH ROW EXECUTE FUNCTION sipmap_domain_family_names();
CREATE TRIGGER sip_domains_family_names_update BEFORE UPDATE OF domain_key ON sip_domains
    FOR EACH ROW WHEN (OLD.domain_key IS DISTINCT FROM NEW.domain_key)
    EXECUTE FUNCTION sipmap_domain_family_names();
