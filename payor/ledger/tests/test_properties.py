"""Hypothesis stateful test: random flows keep every ledger invariant.

A model of what each bucket should hold runs beside the real ledger; after
every step the stored balances must equal the model and their recomputation
from the transfers, available is never negative, and funding is conserved.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from payor.core.money import Money
from payor.ledger import services as ledger
from payor.ledger.errors import BalanceExceeded, CommitmentExceeded, InsufficientFunds
from payor.ledger.selectors import project_summary
from payor.ledger.verify import ledger_verify
from payor.testing.factories import ProjectFactory

AMOUNTS = st.integers(min_value=1, max_value=50_000)


def usd(minor: int) -> Money:
    return Money.of_minor(minor, "USD")


class LedgerMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.bucket = ProjectFactory().buckets.get()
        self.party = ledger.Party(bucket=self.bucket, contract_id=uuid.uuid4(), vendor_id=uuid.uuid4())
        self.model = dict.fromkeys(
            ("funded", "available", "committed", "encumbered", "retention", "withheld", "disbursed", "pending"), 0
        )
        self.pending: list[tuple[uuid.UUID, int]] = []
        self.n = 0
        self.run = uuid.uuid4().hex  # examples share the database: keep their transfer ids apart

    def key(self) -> str:
        self.n += 1
        return f"{self.run}:op:{self.n}"

    def move(self, source: str, target: str, amount: int, call, error) -> None:
        if self.model[source] >= amount:
            call()
            self.model[source] -= amount
            self.model[target] += amount
        else:
            with pytest.raises(error):
                call()

    @rule(amount=AMOUNTS)
    def fund(self, amount: int) -> None:
        ledger.fund(bucket=self.bucket, amount=usd(amount), key=self.key())
        self.model["funded"] += amount
        self.model["available"] += amount

    @rule(amount=AMOUNTS)
    def commit(self, amount: int) -> None:
        self.move(
            "available",
            "committed",
            amount,
            lambda: ledger.commit(party=self.party, lines=[ledger.Line(usd(amount))], key=self.key()),
            InsufficientFunds,
        )

    @rule(amount=AMOUNTS)
    def release_commitment(self, amount: int) -> None:
        self.move(
            "committed",
            "available",
            amount,
            lambda: ledger.change_order(party=self.party, lines=[ledger.Line(usd(-amount))], key=self.key()),
            CommitmentExceeded,
        )

    @rule(amount=AMOUNTS)
    def encumber(self, amount: int) -> None:
        self.move(
            "committed",
            "encumbered",
            amount,
            lambda: ledger.encumber(
                party=self.party, lines=[ledger.Line(usd(amount))], key=self.key(), invoice_id=uuid.uuid4()
            ),
            CommitmentExceeded,
        )

    @rule(amount=AMOUNTS)
    def reject(self, amount: int) -> None:
        self.move(
            "encumbered",
            "committed",
            amount,
            lambda: ledger.encumbrance_release(
                party=self.party, lines=[ledger.Line(usd(amount))], key=self.key(), invoice_id=uuid.uuid4()
            ),
            BalanceExceeded,
        )

    @rule(amount=AMOUNTS)
    def retain(self, amount: int) -> None:
        self.move(
            "encumbered",
            "retention",
            amount,
            lambda: ledger.retain(
                party=self.party, lines=[ledger.Line(usd(amount))], key=self.key(), invoice_id=uuid.uuid4()
            ),
            BalanceExceeded,
        )

    @rule(amount=AMOUNTS)
    def withhold(self, amount: int) -> None:
        self.move(
            "encumbered",
            "withheld",
            amount,
            lambda: ledger.withhold(
                party=self.party, lines=[ledger.Line(usd(amount))], key=self.key(), invoice_id=uuid.uuid4()
            ),
            BalanceExceeded,
        )

    @rule(amount=AMOUNTS)
    def release_retention(self, amount: int) -> None:
        self.move(
            "retention",
            "encumbered",
            amount,
            lambda: ledger.retention_release(party=self.party, lines=[ledger.Line(usd(amount))], key=self.key()),
            BalanceExceeded,
        )

    @rule(amount=AMOUNTS)
    def schedule(self, amount: int) -> None:
        disbursement = uuid.uuid4()

        def call() -> None:
            ledger.disbursement_schedule(
                party=self.party, lines=[ledger.Line(usd(amount))], disbursement_id=disbursement, year=2026
            )

        if self.model["encumbered"] >= amount:
            call()
            self.model["encumbered"] -= amount
            self.model["pending"] += amount
            self.pending.append((disbursement, amount))
        else:
            with pytest.raises(BalanceExceeded):
                call()

    @precondition(lambda self: self.pending)
    @rule(data=st.data(), execute=st.booleans())
    def resolve(self, data, execute: bool) -> None:
        disbursement, amount = self.pending.pop(data.draw(st.integers(0, len(self.pending) - 1)))
        if execute:
            ledger.disbursement_execute(disbursement_id=disbursement)
            self.model["disbursed"] += amount
        else:
            ledger.disbursement_fail(disbursement_id=disbursement)
            self.model["encumbered"] += amount
        self.model["pending"] -= amount

    @rule()
    def close(self) -> None:
        ledger.contract_close(party=self.party, key=self.key())
        self.model["available"] += self.model["committed"]
        self.model["committed"] = 0

    @invariant()
    def matches_model_and_recomputation(self) -> None:
        figures = project_summary(project_id=self.bucket.project_id).get("USD")
        actual = (
            {name: getattr(figures, name).minor for name in self.model} if figures else dict.fromkeys(self.model, 0)
        )
        assert actual == self.model
        assert actual["available"] >= 0
        assert figures is None or figures.balanced
        report = ledger_verify()
        assert report.ok, report.problems


def test_random_flows_keep_every_invariant(db):
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck)
        ),
    )
