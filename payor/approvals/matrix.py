"""The approval matrix as plain values: ordered bands by amount, each a list of stages.

A band covers ``lower < amount <= upper`` (``upper`` ``None``: no upper bound).
The bands of a matrix are contiguous: the first starts at 0, each starts where
the previous one ends, and only the last is unbounded, so every positive amount
falls in exactly one band. A stage is a role that must approve, in order; a
stage may need ``signers_required`` distinct signers out of ``signers_of``
(the DAO multisig's "2 of 3"; ``signers_of`` is the size of the signer set, e.g.
the Safe's owners, and is informational beyond ``signers_required <= signers_of``).

The JSON form (stored in ``ApprovalBand.stages``, shown by the API and recorded
in the audit log) is::

    {"currency": "USD", "bands": [
        {"lower": {"amount": "0.00", "currency": "USD"},
         "upper": {"amount": "10000.00", "currency": "USD"},
         "stages": [{"role": "PROJECT_MANAGER", "signers_required": 1, "signers_of": 1}, ...]},
        ...]}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from payor.approvals.errors import (
    ApprovalMatrixBandInvalid,
    ApprovalMatrixCurrencyMismatch,
    ApprovalMatrixGap,
    ApprovalMatrixOverlap,
    ApprovalMatrixSignersInvalid,
    ApprovalMatrixStageInvalid,
    ApprovalMatrixUnboundedLast,
)
from payor.core.money import Money
from payor.rbac.roles import ProjectRole

#: Roles that can fill an approval stage; vendors, beneficiaries and auditors only ever read.
APPROVER_ROLES: Final[tuple[ProjectRole, ...]] = (
    ProjectRole.PROJECT_MANAGER,
    ProjectRole.FINANCE_REVIEWER,
    ProjectRole.TREASURER,
    ProjectRole.DAO_MULTISIG,
    ProjectRole.PROCUREMENT,
)
MAX_BANDS: Final = 20
MAX_SIGNERS: Final = 100
#: Bounds are stored as BIGINT minor units.
MAX_BOUND_MINOR: Final = 2**63 - 1

#: The seed's thresholds, in major units of the project's currency (10,000.00 USD; 10,000 JPY; 10,000 USDC).
DEFAULT_THRESHOLDS: Final = ("10000", "50000")
DEFAULT_MULTISIG_REQUIRED: Final = 2
DEFAULT_MULTISIG_OF: Final = 3


@dataclass(frozen=True, slots=True)
class Stage:
    """One approval stage: ``signers_required`` distinct holders of ``role`` (of ``signers_of``)."""

    role: ProjectRole
    signers_required: int = 1
    signers_of: int = 1

    @property
    def is_multisig(self) -> bool:
        return self.signers_of > 1

    def as_json(self) -> dict[str, Any]:
        return {"role": self.role.value, "signers_required": self.signers_required, "signers_of": self.signers_of}


@dataclass(frozen=True, slots=True)
class Band:
    """Amounts ``lower < amount <= upper`` (``upper`` None: unbounded) need ``stages``, in order."""

    lower: Money
    upper: Money | None
    stages: tuple[Stage, ...]

    def contains(self, amount: Money) -> bool:
        return self.lower < amount and (self.upper is None or amount <= self.upper)

    def stage_for(self, role: str) -> tuple[int, Stage] | None:
        """The 0-based index and stage for ``role`` (roles are unique within a band)."""
        for index, stage in enumerate(self.stages):
            if stage.role == role:
                return index, stage
        return None

    def as_json(self) -> dict[str, Any]:
        return {
            "lower": _money_json(self.lower),
            "upper": None if self.upper is None else _money_json(self.upper),
            "stages": [stage.as_json() for stage in self.stages],
        }


@dataclass(frozen=True, slots=True)
class MatrixDocument:
    """A whole matrix: its currency and its contiguous bands, lowest first."""

    currency: str
    bands: tuple[Band, ...]

    def band_for(self, amount: Money) -> tuple[int, Band]:
        """The 1-based position and band covering ``amount`` (positive, in the matrix currency)."""
        for position, band in enumerate(self.bands, start=1):
            if band.contains(amount):
                return position, band
        raise LookupError(f"no band covers {amount}")  # pragma: no cover - validated matrices cover every amount > 0

    def as_json(self) -> dict[str, Any]:
        return {"currency": self.currency, "bands": [band.as_json() for band in self.bands]}


@dataclass(frozen=True, slots=True)
class StageSpec:
    """A requested stage, before validation (``role`` as given; ``signers_of`` defaults to ``signers_required``)."""

    role: str
    signers_required: int = 1
    signers_of: int | None = None


@dataclass(frozen=True, slots=True)
class BandSpec:
    """A requested band, before validation."""

    lower: Money
    upper: Money | None
    stages: Sequence[StageSpec] = field(default_factory=tuple)


def _money_json(money: Money) -> dict[str, str]:
    return {"amount": money.amount_str(), "currency": money.code}


def default_document(currency: str) -> MatrixDocument:
    """The seed's matrix, in ``currency`` with the same thresholds in that currency's major units.

    ≤ 10,000: PM + Finance; 10,000-50,000: + Treasurer; > 50,000: + DAO multisig, 2 of 3 distinct signers.
    """
    low, high = (Money.parse(threshold, currency) for threshold in DEFAULT_THRESHOLDS)
    pm_finance = (Stage(ProjectRole.PROJECT_MANAGER), Stage(ProjectRole.FINANCE_REVIEWER))
    with_treasurer = (*pm_finance, Stage(ProjectRole.TREASURER))
    with_multisig = (
        *with_treasurer,
        Stage(ProjectRole.DAO_MULTISIG, signers_required=DEFAULT_MULTISIG_REQUIRED, signers_of=DEFAULT_MULTISIG_OF),
    )
    return MatrixDocument(
        currency=currency,
        bands=(
            Band(lower=Money.zero(currency), upper=low, stages=pm_finance),
            Band(lower=low, upper=high, stages=with_treasurer),
            Band(lower=high, upper=None, stages=with_multisig),
        ),
    )


def _count(value: object) -> int | None:
    """``value`` if it is a plain int (not a bool, never a float), else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return int(value)


def _stage(spec: StageSpec, *, band: int, stage: int) -> Stage:
    approver_roles = {role.value for role in APPROVER_ROLES}
    if not isinstance(spec.role, str) or spec.role not in approver_roles:
        raise ApprovalMatrixStageInvalid(
            f"band {band} stage {stage}: {spec.role!r} is not a role that can approve "
            f"(one of {', '.join(sorted(approver_roles))})",
            band=band,
            stage=stage,
        )
    required = _count(spec.signers_required)
    of = required if spec.signers_of is None else _count(spec.signers_of)
    if required is None or of is None or not 1 <= required <= of <= MAX_SIGNERS:
        raise ApprovalMatrixSignersInvalid(
            f"band {band} stage {stage}: {spec.signers_required!r} of {spec.signers_of!r} signers; "
            f"need whole numbers with 1 ≤ signers_required ≤ signers_of ≤ {MAX_SIGNERS}",
            band=band,
            stage=stage,
        )
    return Stage(role=ProjectRole(spec.role), signers_required=required, signers_of=of)


def document_validate(*, currency: str, bands: Sequence[BandSpec]) -> MatrixDocument:
    """Check requested bands against the matrix rules and return them as a :class:`MatrixDocument`.

    Bands are taken in the order given (lowest first). Raises, for the first
    problem found: ``approval_matrix_band_invalid`` (no or too many bands, a
    negative or out-of-range bound, ``upper <= lower``), ``approval_matrix_currency_mismatch``,
    ``approval_matrix_gap`` (the first band does not start at 0, or a band
    starts above where the previous one ends), ``approval_matrix_overlap``
    (starts below it), ``approval_matrix_unbounded_last`` (a band before the
    last is unbounded, or the last is bounded), ``approval_matrix_stage_invalid``
    (no stages, a role that cannot approve, a role twice in a band),
    ``approval_matrix_signers_invalid`` (not ``1 <= k <= n <= 100``).
    """
    if not bands:
        raise ApprovalMatrixBandInvalid("a matrix needs at least one band")
    if len(bands) > MAX_BANDS:
        raise ApprovalMatrixBandInvalid(f"a matrix has at most {MAX_BANDS} bands, got {len(bands)}")
    result: list[Band] = []
    previous: Band | None = None
    for position, spec in enumerate(bands, start=1):
        for bound in (spec.lower, spec.upper):
            if bound is not None and bound.code != currency:
                raise ApprovalMatrixCurrencyMismatch(
                    f"band {position}: {bound} is not in the project's currency {currency}", band=position
                )
        if spec.lower.is_negative:
            raise ApprovalMatrixBandInvalid(f"band {position}: the lower bound {spec.lower} is negative", band=position)
        if max(spec.lower.minor, 0 if spec.upper is None else spec.upper.minor) > MAX_BOUND_MINOR:
            raise ApprovalMatrixBandInvalid(f"band {position}: a bound is out of the supported range", band=position)
        if previous is None:
            if not spec.lower.is_zero:
                raise ApprovalMatrixGap(
                    f"band 1 must start at 0, not {spec.lower}: amounts up to it would need no approval", band=position
                )
        elif previous.upper is None:
            raise ApprovalMatrixUnboundedLast(
                f"band {position - 1} is unbounded but is not the last band", band=position - 1
            )
        elif spec.lower > previous.upper:
            raise ApprovalMatrixGap(
                f"band {position} starts at {spec.lower} but band {position - 1} ends at {previous.upper}",
                band=position,
            )
        elif spec.lower < previous.upper:
            raise ApprovalMatrixOverlap(
                f"band {position} starts at {spec.lower}, below the end of band {position - 1} ({previous.upper})",
                band=position,
            )
        if spec.upper is not None and spec.upper <= spec.lower:
            raise ApprovalMatrixBandInvalid(
                f"band {position}: the upper bound {spec.upper} must be above the lower bound {spec.lower}",
                band=position,
            )
        if not spec.stages:
            raise ApprovalMatrixStageInvalid(f"band {position} has no stages", band=position)
        stages = tuple(_stage(stage, band=position, stage=index) for index, stage in enumerate(spec.stages, start=1))
        seen: set[ProjectRole] = set()
        for index, stage in enumerate(stages, start=1):
            if stage.role in seen:
                raise ApprovalMatrixStageInvalid(
                    f"band {position} lists {stage.role.value} twice: one stage per role", band=position, stage=index
                )
            seen.add(stage.role)
        previous = Band(lower=spec.lower, upper=spec.upper, stages=stages)
        result.append(previous)
    if result[-1].upper is not None:
        raise ApprovalMatrixUnboundedLast(
            f"the last band ends at {result[-1].upper}: it must be unbounded so every amount is covered",
            band=len(result),
        )
    return MatrixDocument(currency=currency, bands=tuple(result))
