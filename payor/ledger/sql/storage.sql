-- Storage tuning for the posting path (measured by `payor bench ledger`).

-- Balance columns are not indexed, so a balance UPDATE can stay on its page
-- (a HOT update, no index writes) when the page has room: leave 30% free, and
-- vacuum the small, hot account table early.
ALTER TABLE ledger_account SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02);

-- Transfers are looked up by exact id only: Django's extra LIKE index on the
-- varchar primary key would be one more index to write on every post.
DO $$
DECLARE
    v_index text;
BEGIN
    FOR v_index IN
        SELECT indexname FROM pg_indexes
        WHERE tablename = 'ledger_transfer' AND indexdef LIKE '%varchar_pattern_ops%'
    LOOP
        EXECUTE format('DROP INDEX %I', v_index);
    END LOOP;
END;
$$;
