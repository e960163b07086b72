-- The shape of a project's WBS budget tree is fixed when a line is created:
--   * a child belongs to its parent's project, in the project currency, and its code is the parent's code
--     plus one segment (`1.2` -> `1.2.3`), so the code spells the whole path;
--   * project, parent, code and currency never change afterwards (no moves: the ledger history and the
--     roll-ups stay where they were), which also makes a cycle impossible;
--   * a line the ledger mentions is never deleted (it is archived); ledger accounts carry the line's id
--     without a foreign key, so the check is here.
CREATE OR REPLACE FUNCTION projects_budget_line_guard() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    parent_project uuid;
    parent_code text;
    parent_currency text;
    project_currency text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF EXISTS (SELECT 1 FROM ledger_account WHERE project_id = OLD.project_id AND budget_line_id = OLD.id) THEN
            RAISE EXCEPTION USING ERRCODE = 'PY002',
                MESSAGE = 'budget line ' || OLD.wbs_code || ' has ledger activity: archive it instead of deleting it';
        END IF;
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF (NEW.project_id, NEW.parent_id, NEW.wbs_code, NEW.currency)
           IS DISTINCT FROM (OLD.project_id, OLD.parent_id, OLD.wbs_code, OLD.currency) THEN
            RAISE EXCEPTION USING ERRCODE = 'PY002',
                MESSAGE = 'a budget line''s project, parent, WBS code and currency never change';
        END IF;
        RETURN NEW;
    END IF;
    SELECT currency INTO project_currency FROM projects_project WHERE id = NEW.project_id;
    IF project_currency IS DISTINCT FROM NEW.currency THEN
        RAISE EXCEPTION USING ERRCODE = 'PY002',
            MESSAGE = 'a budget line is in its project''s currency (' || coalesce(project_currency, '?') || ')';
    END IF;
    IF NEW.parent_id IS NOT NULL THEN
        SELECT project_id, wbs_code, currency INTO parent_project, parent_code, parent_currency
        FROM projects_budgetline WHERE id = NEW.parent_id;
        IF parent_project IS DISTINCT FROM NEW.project_id THEN
            RAISE EXCEPTION USING ERRCODE = 'PY002', MESSAGE = 'a budget line''s parent belongs to the same project';
        END IF;
        IF left(NEW.wbs_code, length(parent_code) + 1) <> parent_code || '.'
           OR strpos(substr(NEW.wbs_code, length(parent_code) + 2), '.') <> 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'PY002',
                MESSAGE = 'a child''s WBS code is its parent''s code plus one segment (' || parent_code || '.X)';
        END IF;
    END IF;
    RETURN NEW;
END;
$fn$;

DROP TRIGGER IF EXISTS projects_budget_line_guard ON projects_budgetline;
CREATE TRIGGER projects_budget_line_guard
    BEFORE INSERT OR UPDATE OR DELETE ON projects_budgetline
    FOR EACH ROW EXECUTE FUNCTION projects_budget_line_guard();
