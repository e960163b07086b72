"""Recompute the ledger from its transfers and check its identities (``payor ledger verify``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection

# Each transfer's effect on its two accounts' four balances; post/void take the pending amount back out.
_RECOMPUTE = """
WITH effects AS (
    SELECT t.debit_account_id AS account_id,
           CASE t.phase WHEN 'pending' THEN t.amount WHEN 'single' THEN 0 ELSE -p.amount END AS dp,
           CASE WHEN t.phase IN ('single', 'post') THEN t.amount ELSE 0 END AS dpo,
           0::bigint AS cp, 0::bigint AS cpo
    FROM ledger_transfer t LEFT JOIN ledger_transfer p ON p.id = t.pending_id
    UNION ALL
    SELECT t.credit_account_id, 0, 0,
           CASE t.phase WHEN 'pending' THEN t.amount WHEN 'single' THEN 0 ELSE -p.amount END,
           CASE WHEN t.phase IN ('single', 'post') THEN t.amount ELSE 0 END
    FROM ledger_transfer t LEFT JOIN ledger_transfer p ON p.id = t.pending_id
), sums AS (
    SELECT account_id, sum(dp) AS dp, sum(dpo) AS dpo, sum(cp) AS cp, sum(cpo) AS cpo
    FROM effects GROUP BY account_id
)
SELECT a.id, a.kind, a.project_id,
       a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted,
       coalesce(s.dp, 0), coalesce(s.dpo, 0), coalesce(s.cp, 0), coalesce(s.cpo, 0)
FROM ledger_account a LEFT JOIN sums s ON s.account_id = a.id
WHERE (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)
      IS DISTINCT FROM (coalesce(s.dp, 0), coalesce(s.dpo, 0), coalesce(s.cp, 0), coalesce(s.cpo, 0))
ORDER BY a.id
"""

# funded (funding's debits - credits) = sum of internal posted balances, per bucket.
_CONSERVATION = """
SELECT bucket_id,
       sum(CASE WHEN kind = 'funding' THEN debits_posted - credits_posted ELSE 0 END) AS funded,
       sum(CASE WHEN kind <> 'funding' THEN credits_posted - debits_posted ELSE 0 END) AS held
FROM ledger_account
GROUP BY bucket_id
HAVING sum(CASE WHEN kind = 'funding' THEN debits_posted - credits_posted ELSE 0 END)
       <> sum(CASE WHEN kind <> 'funding' THEN credits_posted - debits_posted ELSE 0 END)
ORDER BY bucket_id
"""

_NEGATIVE = """
SELECT id, kind FROM ledger_account
WHERE kind <> 'funding' AND debits_pending + debits_posted > credits_posted
ORDER BY id
"""

_RESOLUTIONS = """
SELECT t.pending_id, count(*) AS resolutions,
       bool_or(p.phase IS DISTINCT FROM 'pending') AS not_pending,
       bool_or(t.phase = 'post' AND t.amount > p.amount) AS over_posted
FROM ledger_transfer t LEFT JOIN ledger_transfer p ON p.id = t.pending_id
WHERE t.phase IN ('post', 'void')
GROUP BY t.pending_id
HAVING count(*) > 1 OR bool_or(p.phase IS DISTINCT FROM 'pending') OR bool_or(t.phase = 'post' AND t.amount > p.amount)
ORDER BY t.pending_id
"""

_COUNTS = """
SELECT (SELECT count(*) FROM ledger_account), (SELECT count(*) FROM ledger_transfer),
       (SELECT count(DISTINCT bucket_id) FROM ledger_account)
"""


@dataclass
class VerifyReport:
    accounts: int = 0
    transfers: int = 0
    buckets: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def ledger_verify(*, limit: int = 20) -> VerifyReport:
    """Every stored balance equals its recomputation; every bucket conserves its funding; pendings resolve once."""
    report = VerifyReport()
    with connection.cursor() as cursor:
        cursor.execute(_COUNTS)
        report.accounts, report.transfers, report.buckets = cursor.fetchone()
        cursor.execute(_RECOMPUTE)
        for row in cursor.fetchmany(limit):
            account_id, kind, _project, *stored_and_computed = row
            stored, computed = stored_and_computed[:4], stored_and_computed[4:]
            report.problems.append(
                f"account {account_id} ({kind}): stored balances (dp, dpo, cp, cpo) {tuple(stored)} "
                f"!= recomputed from transfers {tuple(computed)}"
            )
        cursor.execute(_CONSERVATION)
        for bucket_id, funded, held in cursor.fetchmany(limit):
            report.problems.append(f"bucket {bucket_id}: funded {funded} != held across accounts {held}")
        cursor.execute(_NEGATIVE)
        for account_id, kind in cursor.fetchmany(limit):
            report.problems.append(f"account {account_id} ({kind}): debits exceed credits")
        cursor.execute(_RESOLUTIONS)
        for pending_id, count, not_pending, over_posted in cursor.fetchmany(limit):
            if count > 1:
                report.problems.append(f"pending transfer {pending_id} resolved {count} times")
            if not_pending:
                report.problems.append(f"transfer {pending_id} is resolved but is not a pending transfer")
            if over_posted:
                report.problems.append(f"pending transfer {pending_id} posted for more than its amount")
    return report
