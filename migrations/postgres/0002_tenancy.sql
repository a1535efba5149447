-- sipmap PostgreSQL schema, version 2: the tenancy rules, enforced by the database itself (also
-- between nodes that write at the same moment), and a change log that can be pruned.

-- Closing an account is final.
CREATE FUNCTION sipmap_closed_is_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'closed' AND NEW.status <> 'closed' THEN
        RAISE EXCEPTION 'a closed account cannot be reopened'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'accounts_closed_is_final',
                  TABLE = 'accounts';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER accounts_closed_is_final BEFORE UPDATE OF status ON accounts
    FOR EACH ROW EXECUTE FUNCTION sipmap_closed_is_final();

-- Networks by start address with their account, so that the search for other accounts'
-- networks inside a wide one skips the account's own from the index alone.
CREATE INDEX source_ip_mappings_by_network ON source_ip_mappings (network, account_sid);

-- A network may overlap (contain, or lie inside) a mapped network only when both belong to one
-- family: the same account, its parent, or its subaccounts. Every insert first takes one
-- transaction-scoped advisory lock, so two nodes cannot both pass the check with overlapping
-- networks; each statement of this (volatile) function then sees every committed mapping.
CREATE FUNCTION sipmap_family_overlap() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_addr BIGINT := NEW.network + (1::BIGINT << (32 - NEW.prefix_length)) - 1;
    parent TEXT;
BEGIN
    PERFORM pg_advisory_xact_lock(5938012657234001);
    SELECT owner_sid INTO parent FROM accounts WHERE sid = NEW.account_sid;
    IF EXISTS (
        SELECT 1 FROM source_ip_mappings m JOIN accounts a ON a.sid = m.account_sid
        WHERE m.network BETWEEN NEW.network AND last_addr
          AND m.account_sid <> NEW.account_sid
          AND m.account_sid IS DISTINCT FROM parent
          AND a.owner_sid IS DISTINCT FROM NEW.account_sid
    ) OR EXISTS (
        SELECT 1 FROM generate_series(1, NEW.prefix_length - 1) AS s(p)
        JOIN source_ip_mappings m
          ON m.network = (NEW.network >> (32 - s.p)) << (32 - s.p) AND m.prefix_length = s.p
        JOIN accounts a ON a.sid = m.account_sid
        WHERE m.account_sid <> NEW.account_sid
          AND a.owner_sid IS DISTINCT FROM NEW.account_sid
          AND m.account_sid IS DISTINCT FROM parent
    ) THEN
        RAISE EXCEPTION 'the network overlaps a network mapped outside its account family'
            USING ERRCODE = 'exclusion_violation',
                  CONSTRAINT = 'source_ip_mappings_family_overlap', TABLE = 'source_ip_mappings';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER source_ip_mappings_family_overlap BEFORE INSERT ON source_ip_mappings
    FOR EACH ROW EXECUTE FUNCTION sipmap_family_overlap();

-- When each change was logged (the database's clock), so that old entries can be pruned.
ALTER TABLE change_log
    ADD COLUMN logged_at BIGINT NOT NULL DEFAULT extract(epoch FROM now())::BIGINT;
CREATE INDEX change_log_by_time ON change_log (logged_at);

-- Written by a node's health probe after one of its writes failed, to learn whether the database
-- can write again.
CREATE TABLE health_probe (
    id BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    at BIGINT NOT NULL
);
