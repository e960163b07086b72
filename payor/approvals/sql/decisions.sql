-- Approval decisions are append-only: a decision, once recorded, is history. TRUNCATE is not blocked
-- (the test framework empties tables with it).
CREATE OR REPLACE FUNCTION approvals_decision_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'PY002',
        MESSAGE = 'approval decisions are append-only: ' || lower(TG_OP) || ' refused';
END;
$fn$;

DROP TRIGGER IF EXISTS approvals_decision_append_only ON approvals_approvaldecision;
CREATE TRIGGER approvals_decision_append_only
    BEFORE UPDATE OR DELETE ON approvals_approvaldecision
    FOR EACH ROW EXECUTE FUNCTION approvals_decision_append_only();
