-- Payor ledger: the one way money moves.
--
-- ledger_post(transfers jsonb) posts a linked batch of one or more transfers
-- atomically and idempotently, and returns (transfer_id, transfer_seq, created)
-- for each input in order. Each input object:
--   id (text, caller-supplied, derived from the business event), phase
--   (single | pending | post | void), code, memo, actor_id, batch_id, refs
--   (budget_line_id, contract_id, vendor_id, invoice_id, milestone_id,
--   disbursement_id); for single/pending: debit_account_id, credit_account_id,
--   amount (minor units), currency, timeout_at (pending only); for post/void:
--   pending_id and, for a partial post, amount.
--
-- Every lookup is a LATERAL (… LIMIT 1) subquery: the LIMIT keeps the planner from
-- turning it into a hash join over the whole transfer table (set-returning
-- inputs are estimated at 100 rows), so a post costs O(batch), not O(ledger).
--
-- Order of work: validate (pending transfer, accounts, currency, project) ->
-- insert the transfers (an id that already exists is not inserted) -> refuse
-- repeats whose fields differ -> lock the touched accounts in id order and
-- apply the balance deltas, one UPDATE per account. The account locks are
-- taken last, so they are held for as short a time as possible. The per-kind CHECK
-- constraints on ledger_account refuse any internal account going negative in
-- that same UPDATE, under the row lock: there is no check-then-act window.
--
-- Refusals are raised with SQLSTATE PY001 and the stable error code as the
-- message; the Python service maps them to domain errors.

DROP FUNCTION IF EXISTS ledger_post(jsonb);
DROP TYPE IF EXISTS ledger_transfer_input;

-- One transfer as given by the caller, completed from its pending transfer for
-- post/void (the pending_* fields are that transfer's amount, phase and timeout)
-- and from its two accounts (currency, project; NULL when the account is unknown).
CREATE TYPE ledger_transfer_input AS (
    id text,
    phase text,
    code text,
    debit_account_id bigint,
    credit_account_id bigint,
    amount bigint,
    currency text,
    pending_id text,
    timeout_at timestamptz,
    batch_id uuid,
    budget_line_id uuid,
    contract_id uuid,
    vendor_id uuid,
    invoice_id uuid,
    milestone_id uuid,
    disbursement_id uuid,
    actor_id uuid,
    memo text,
    pending_amount bigint,
    pending_phase text,
    pending_timeout timestamptz,
    debit_currency text,
    debit_project_id uuid,
    credit_currency text,
    credit_project_id uuid
);

CREATE FUNCTION ledger_post(p_transfers jsonb)
RETURNS TABLE (transfer_id text, transfer_seq bigint, created boolean)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_in ledger_transfer_input[];
    v_problem record;
    v_new jsonb;  -- the new transfers as {id: seq}: O(log n) membership under any plan
    v_new_count integer;
    v_one ledger_transfer_input;
    v_pend bigint;
    v_post bigint;
    v_account bigint;
BEGIN
    IF jsonb_typeof(p_transfers) IS DISTINCT FROM 'array' OR jsonb_array_length(p_transfers) = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'PY001', MESSAGE = 'transfer_batch_empty';
    END IF;

    -- 1. Parse once; post/void take accounts, currency, code and references from the pending transfer.
    SELECT array_agg(
        ROW(
            i.id,
            i.phase,
            coalesce(i.code, p.code),
            CASE WHEN i.phase IN ('post', 'void') THEN p.debit_account_id ELSE i.debit_account_id END,
            CASE WHEN i.phase IN ('post', 'void') THEN p.credit_account_id ELSE i.credit_account_id END,
            CASE WHEN i.phase = 'void' THEN p.amount
                 WHEN i.phase = 'post' THEN coalesce(i.amount, p.amount)
                 ELSE i.amount END,
            CASE WHEN i.phase IN ('post', 'void') THEN p.currency ELSE i.currency END,
            i.pending_id,
            i.timeout_at,
            i.batch_id,
            coalesce(i.budget_line_id, p.budget_line_id),
            coalesce(i.contract_id, p.contract_id),
            coalesce(i.vendor_id, p.vendor_id),
            coalesce(i.invoice_id, p.invoice_id),
            coalesce(i.milestone_id, p.milestone_id),
            coalesce(i.disbursement_id, p.disbursement_id),
            i.actor_id,
            coalesce(i.memo, ''),
            p.amount,
            p.phase,
            p.timeout_at,
            d.currency,
            d.project_id,
            c.currency,
            c.project_id
        )::ledger_transfer_input
        ORDER BY e.ord
    )
    INTO v_in
    FROM jsonb_array_elements(p_transfers) WITH ORDINALITY AS e (value, ord)
    CROSS JOIN LATERAL jsonb_populate_record(NULL::ledger_transfer_input, e.value) AS i
    LEFT JOIN LATERAL (
        SELECT t.code, t.debit_account_id, t.credit_account_id, t.amount, t.currency, t.phase, t.timeout_at,
               t.budget_line_id, t.contract_id, t.vendor_id, t.invoice_id, t.milestone_id, t.disbursement_id
        FROM ledger_transfer t WHERE t.id = i.pending_id AND i.phase IN ('post', 'void') LIMIT 1
    ) p ON true
    LEFT JOIN LATERAL (
        SELECT a.currency, a.project_id FROM ledger_account a
        WHERE a.id = CASE WHEN i.phase IN ('post', 'void') THEN p.debit_account_id ELSE i.debit_account_id END
        LIMIT 1
    ) d ON true
    LEFT JOIN LATERAL (
        SELECT a.currency, a.project_id FROM ledger_account a
        WHERE a.id = CASE WHEN i.phase IN ('post', 'void') THEN p.credit_account_id ELSE i.credit_account_id END
        LIMIT 1
    ) c ON true;

    IF cardinality(v_in) > 1 AND (SELECT count(DISTINCT r.id) FROM unnest(v_in) r) < cardinality(v_in) THEN
        RAISE EXCEPTION USING ERRCODE = 'PY001', MESSAGE = 'transfer_id_repeated_in_batch';
    END IF;

    -- 2. Validate new transfers (repeats are compared with the original after the insert).
    SELECT q.problem, q.id INTO v_problem
    FROM (
        SELECT r.ordinality AS ord, r.id,
            CASE
                WHEN r.id IS NULL OR length(r.id) NOT BETWEEN 1 AND 200 THEN 'transfer_id_invalid'
                WHEN r.phase IS NULL OR r.phase NOT IN ('single', 'pending', 'post', 'void') THEN 'transfer_phase_invalid'
                WHEN r.phase IN ('post', 'void') AND r.pending_phase IS NULL THEN 'pending_transfer_not_found'
                WHEN r.phase IN ('post', 'void') AND r.pending_phase <> 'pending' THEN 'pending_transfer_not_pending'
                WHEN r.phase = 'post' AND r.amount > r.pending_amount THEN 'post_amount_exceeds_pending'
                WHEN r.phase = 'post' AND r.pending_timeout <= now() THEN 'pending_transfer_expired'
                WHEN r.amount IS NULL OR r.amount <= 0 THEN 'transfer_amount_invalid'
                WHEN r.debit_project_id IS NULL OR r.credit_project_id IS NULL THEN 'account_not_found'
                WHEN r.debit_account_id = r.credit_account_id THEN 'transfer_accounts_same'
                WHEN r.debit_currency <> r.currency OR r.credit_currency <> r.currency THEN 'currency_mismatch'
                WHEN r.debit_project_id <> r.credit_project_id THEN 'transfer_crosses_projects'
                WHEN r.timeout_at IS NOT NULL AND r.phase <> 'pending' THEN 'timeout_only_for_pending'
                WHEN r.timeout_at IS NOT NULL AND r.timeout_at <= now() THEN 'timeout_in_past'
            END AS problem
        FROM unnest(v_in) WITH ORDINALITY AS r
        WHERE NOT EXISTS (SELECT 1 FROM ledger_transfer existing WHERE existing.id = r.id)
    ) q
    WHERE q.problem IS NOT NULL
    ORDER BY q.ord
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PY001', MESSAGE = v_problem.problem, DETAIL = v_problem.id;
    END IF;

    -- 3. Insert; ids that exist already are left alone (idempotent repeat). A concurrent insert of the
    --    same id (or of a second resolution of one pending transfer) waits here on the unique index.
    WITH ins AS (
        INSERT INTO ledger_transfer (
            id, seq, debit_account_id, credit_account_id, amount, currency, code, phase, pending_id,
            timeout_at, batch_id, project_id, budget_line_id, contract_id, vendor_id, invoice_id,
            milestone_id, disbursement_id, actor_id, memo, created_at
        )
        SELECT r.id, nextval('ledger_transfer_seq'), r.debit_account_id, r.credit_account_id, r.amount, r.currency,
               r.code, r.phase, r.pending_id, r.timeout_at, r.batch_id, r.debit_project_id, r.budget_line_id,
               r.contract_id, r.vendor_id, r.invoice_id, r.milestone_id, r.disbursement_id, r.actor_id, r.memo,
               now()
        FROM unnest(v_in) WITH ORDINALITY AS r
        ORDER BY r.ordinality
        ON CONFLICT (id) DO NOTHING
        RETURNING ledger_transfer.id, ledger_transfer.seq
    )
    SELECT coalesce(jsonb_object_agg(ins.id, ins.seq), '{}'::jsonb), count(*) INTO v_new, v_new_count FROM ins;

    -- 4. A repeated id must carry the same transfer.
    IF v_new_count < cardinality(v_in) THEN
        SELECT r.id INTO v_problem
        FROM unnest(v_in) r
        CROSS JOIN LATERAL (SELECT * FROM ledger_transfer t WHERE t.id = r.id LIMIT 1) t
        WHERE NOT (v_new ? r.id)
          AND (t.phase, t.code, t.debit_account_id, t.credit_account_id, t.amount, t.currency,
               t.pending_id, t.timeout_at, t.budget_line_id, t.contract_id, t.vendor_id, t.invoice_id,
               t.milestone_id, t.disbursement_id)
              IS DISTINCT FROM
              (r.phase, r.code, r.debit_account_id, r.credit_account_id, r.amount, r.currency,
               r.pending_id, r.timeout_at, r.budget_line_id, r.contract_id, r.vendor_id, r.invoice_id,
               r.milestone_id, r.disbursement_id)
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'PY001', MESSAGE = 'transfer_exists_with_different_fields',
                DETAIL = v_problem.id;
        END IF;
    END IF;

    -- 5. Balances, under row locks taken in account-id order (no deadlocks between batches), held from
    --    here to commit only. Deltas: pending: +pending on both sides; single: +posted;
    --    post: -pending, +posted; void: -pending.
    IF v_new_count > 0 THEN
        PERFORM set_config('payor.ledger_posting', 'on', true);
        IF cardinality(v_in) = 1 THEN
            -- One transfer: two single-row UPDATEs, lower account id first.
            v_one := v_in[1];
            v_pend := CASE v_one.phase WHEN 'pending' THEN v_one.amount WHEN 'single' THEN 0
                                       ELSE -v_one.pending_amount END;
            v_post := CASE WHEN v_one.phase IN ('single', 'post') THEN v_one.amount ELSE 0 END;
            FOREACH v_account IN ARRAY ARRAY[least(v_one.debit_account_id, v_one.credit_account_id),
                                           greatest(v_one.debit_account_id, v_one.credit_account_id)] LOOP
                UPDATE ledger_account a
                SET debits_pending = a.debits_pending + CASE WHEN a.id = v_one.debit_account_id THEN v_pend ELSE 0 END,
                    debits_posted = a.debits_posted + CASE WHEN a.id = v_one.debit_account_id THEN v_post ELSE 0 END,
                    credits_pending = a.credits_pending + CASE WHEN a.id = v_one.credit_account_id THEN v_pend ELSE 0 END,
                    credits_posted = a.credits_posted + CASE WHEN a.id = v_one.credit_account_id THEN v_post ELSE 0 END
                WHERE a.id = v_account;
            END LOOP;
        ELSE
            PERFORM 1 FROM ledger_account
            WHERE id IN (SELECT r.debit_account_id FROM unnest(v_in) r UNION SELECT r.credit_account_id FROM unnest(v_in) r)
            ORDER BY id
            FOR NO KEY UPDATE;
            UPDATE ledger_account a
            SET debits_pending = a.debits_pending + d.dp,
                debits_posted = a.debits_posted + d.dpo,
                credits_pending = a.credits_pending + d.cp,
                credits_posted = a.credits_posted + d.cpo
            FROM (
                SELECT x.account_id, sum(x.dp) AS dp, sum(x.dpo) AS dpo, sum(x.cp) AS cp, sum(x.cpo) AS cpo
                FROM unnest(v_in) r
                CROSS JOIN LATERAL (
                    SELECT CASE r.phase WHEN 'pending' THEN r.amount WHEN 'single' THEN 0
                                        ELSE -r.pending_amount END AS pend,
                           CASE WHEN r.phase IN ('single', 'post') THEN r.amount ELSE 0 END AS post
                ) e
                CROSS JOIN LATERAL (
                    VALUES (r.debit_account_id, e.pend, e.post, 0::bigint, 0::bigint),
                           (r.credit_account_id, 0::bigint, 0::bigint, e.pend, e.post)
                ) AS x (account_id, dp, dpo, cp, cpo)
                WHERE v_new ? r.id
                GROUP BY x.account_id
            ) d
            WHERE a.id = d.account_id;
        END IF;
        PERFORM set_config('payor.ledger_posting', 'off', true);
    END IF;

    RETURN QUERY
    SELECT r.id,
           coalesce((v_new ->> r.id)::bigint, (SELECT t.seq FROM ledger_transfer t WHERE t.id = r.id LIMIT 1)),
           v_new ? r.id
    FROM unnest(v_in) WITH ORDINALITY AS r
    ORDER BY r.ordinality;
END;
$fn$;

-- The statements above plan the same whatever the input: skip re-planning them on each connection's first calls.
ALTER FUNCTION ledger_post(jsonb) SET plan_cache_mode = force_generic_plan;
