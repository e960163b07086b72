-- Transfers are append-only: corrections are reversing transfers.
CREATE OR REPLACE FUNCTION ledger_transfer_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'PY002',
        MESSAGE = 'ledger transfers are append-only: post a reversing transfer instead of ' || lower(TG_OP);
END;
$fn$;

DROP TRIGGER IF EXISTS ledger_transfer_append_only ON ledger_transfer;
CREATE TRIGGER ledger_transfer_append_only
    BEFORE UPDATE OR DELETE ON ledger_transfer
    FOR EACH ROW EXECUTE FUNCTION ledger_transfer_append_only();

-- Stored balances change only inside ledger_post(), together with the transfers that explain them.
CREATE OR REPLACE FUNCTION ledger_account_balance_guard() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF current_setting('payor.ledger_posting', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION USING ERRCODE = 'PY002',
            MESSAGE = 'ledger balances change only by posting transfers (ledger_post)';
    END IF;
    RETURN NEW;
END;
$fn$;

DROP TRIGGER IF EXISTS ledger_account_balance_guard ON ledger_account;
CREATE TRIGGER ledger_account_balance_guard
    BEFORE UPDATE ON ledger_account
    FOR EACH ROW
    WHEN ((OLD.debits_pending, OLD.debits_posted, OLD.credits_pending, OLD.credits_posted)
          IS DISTINCT FROM (NEW.debits_pending, NEW.debits_posted, NEW.credits_pending, NEW.credits_posted)
          OR OLD.currency IS DISTINCT FROM NEW.currency OR OLD.kind IS DISTINCT FROM NEW.kind)
    EXECUTE FUNCTION ledger_account_balance_guard();

-- A new account starts at zero: balances come only from transfers. Its flags
-- default from its kind: only the external funding source may have debits
-- beyond its credits.
CREATE OR REPLACE FUNCTION ledger_account_starts_empty() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    NEW.debits_must_not_exceed_credits := coalesce(NEW.debits_must_not_exceed_credits, NEW.kind <> 'funding');
    NEW.credits_must_not_exceed_debits := coalesce(NEW.credits_must_not_exceed_debits, false);
    IF (NEW.debits_pending, NEW.debits_posted, NEW.credits_pending, NEW.credits_posted) <> (0, 0, 0, 0) THEN
        RAISE EXCEPTION USING ERRCODE = 'PY002', MESSAGE = 'ledger accounts are created with zero balances';
    END IF;
    RETURN NEW;
END;
$fn$;

DROP TRIGGER IF EXISTS ledger_account_starts_empty ON ledger_account;
CREATE TRIGGER ledger_account_starts_empty
    BEFORE INSERT ON ledger_account
    FOR EACH ROW EXECUTE FUNCTION ledger_account_starts_empty();

DROP TRIGGER IF EXISTS ledger_account_no_delete ON ledger_account;
CREATE TRIGGER ledger_account_no_delete
    BEFORE DELETE ON ledger_account
    FOR EACH ROW EXECUTE FUNCTION ledger_transfer_append_only();
