-- sipmap SQLite schema, version 14: nothing changes. PostgreSQL's migration of the same name
-- spreads an account's count of events over several rows, because there concurrent
-- transactions waited for one another on the single row; SQLite has one writer, so its
-- `event_counts` keeps one row per account, and the count (the sum of the account's rows) reads
-- the same.
SELECT 1;
