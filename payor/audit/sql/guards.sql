-- Audit events are append-only: nothing may edit or delete one. TRUNCATE is
-- not blocked (the test framework empties tables with it); `payor audit verify`
-- with an --anchor detects a truncated or rewritten tail.
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'PY002',
        MESSAGE = 'audit events are append-only: ' || lower(TG_OP) || ' refused';
END;
$fn$;

DROP TRIGGER IF EXISTS audit_event_append_only ON audit_auditevent;
CREATE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
