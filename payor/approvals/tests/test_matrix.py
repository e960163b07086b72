"""The matrix: the seed's defaults, validation of a new matrix, the audited versioned update, the DB checks."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from payor.approvals.errors import ApprovalMatrixInvalid, ApprovalMatrixVersionConflict
from payor.approvals.matrix import APPROVER_ROLES, BandSpec, document_validate
from payor.approvals.models import ApprovalBand, ApprovalMatrix
from payor.approvals.selectors import approval_matrix_current
from payor.approvals.services import approval_matrix_ensure, approval_matrix_get, approval_matrix_update
from payor.approvals.tests.conftest import DAO, FIN, PM, TREAS, band, stage, state, usd
from payor.audit.models import AuditEvent
from payor.core.errors import PermissionDenied
from payor.core.money import Money
from payor.rbac.roles import APPROVAL_LIMIT_ROLES, ProjectRole
from payor.rbac.services import role_revoke
from payor.testing.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def money(amount: str, currency: str = "USD") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def one(role: str) -> dict[str, object]:
    return {"role": role, "signers_required": 1, "signers_of": 1}


MULTISIG_2_OF_3 = {"role": "DAO_MULTISIG", "signers_required": 2, "signers_of": 3}

DEFAULT_USD = {
    "currency": "USD",
    "bands": [
        {
            "lower": money("0.00"),
            "upper": money("10000.00"),
            "stages": [one("PROJECT_MANAGER"), one("FINANCE_REVIEWER")],
        },
        {
            "lower": money("10000.00"),
            "upper": money("50000.00"),
            "stages": [one("PROJECT_MANAGER"), one("FINANCE_REVIEWER"), one("TREASURER")],
        },
        {
            "lower": money("50000.00"),
            "upper": None,
            "stages": [one("PROJECT_MANAGER"), one("FINANCE_REVIEWER"), one("TREASURER"), MULTISIG_2_OF_3],
        },
    ],
}

# A valid replacement: two bands, a 2-of-2 PM stage and procurement below 25k, the DAO alone above.
NEW_BANDS = [
    band("0.00", "25000.00", stage(PM, 2, 2), stage(ProjectRole.PROCUREMENT), stage(FIN)),
    band("25000.00", None, stage(DAO, 3, 5)),
]
NEW_USD = {
    "currency": "USD",
    "bands": [
        {
            "lower": money("0.00"),
            "upper": money("25000.00"),
            "stages": [
                {"role": "PROJECT_MANAGER", "signers_required": 2, "signers_of": 2},
                one("PROCUREMENT"),
                one("FINANCE_REVIEWER"),
            ],
        },
        {
            "lower": money("25000.00"),
            "upper": None,
            "stages": [{"role": "DAO_MULTISIG", "signers_required": 3, "signers_of": 5}],
        },
    ],
}


@pytest.fixture
def dao(grant):
    return grant("dao@example.test", DAO)


# --------------------------------------------------------------------------
# Defaults
# --------------------------------------------------------------------------


def test_a_project_without_a_stored_matrix_reads_the_defaults_and_nothing_is_written(project):
    current = approval_matrix_current(project=project)
    assert current.version == 1
    assert current.document.as_json() == DEFAULT_USD
    assert ApprovalMatrix.objects.count() == 0


def test_first_read_stores_the_defaults_once_without_an_audit_event(project, dao):
    events = AuditEvent.objects.count()
    matrix = approval_matrix_get(viewer=dao, project=project)
    assert (matrix.version, matrix.currency, matrix.updated_by_id) == (1, "USD", None)
    assert matrix.document().as_json() == DEFAULT_USD
    assert [(b.position, b.lower.minor, b.upper and b.upper.minor) for b in matrix.bands.all()] == [
        (1, 0, 1_000_000),
        (2, 1_000_000, 5_000_000),
        (3, 5_000_000, None),
    ]
    again = approval_matrix_get(viewer=dao, project=project)
    assert again.pk == matrix.pk
    assert ApprovalMatrix.objects.count() == 1
    assert ApprovalBand.objects.count() == 3
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    ("currency", "low_minor", "high_minor", "low_text"),
    [
        ("EUR", 1_000_000, 5_000_000, "10000.00"),
        ("JPY", 10_000, 50_000, "10000"),
        ("USDC", 10_000_000_000, 50_000_000_000, "10000.000000"),
    ],
)
def test_defaults_use_the_same_thresholds_in_the_project_currency(currency, low_minor, high_minor, low_text):
    project = ProjectFactory(currency=currency)
    matrix = approval_matrix_ensure(project=project)
    bands = list(matrix.bands.all())
    assert {b.currency for b in bands} == {currency} == {matrix.currency}
    assert [(b.lower.minor, b.upper and b.upper.minor) for b in bands] == [
        (0, low_minor),
        (low_minor, high_minor),
        (high_minor, None),
    ]
    assert matrix.document().as_json()["bands"][0]["upper"] == money(low_text, currency)


def test_approver_roles_are_the_roles_rbac_lets_carry_a_limit():
    assert frozenset(APPROVER_ROLES) == APPROVAL_LIMIT_ROLES


# --------------------------------------------------------------------------
# Update
# --------------------------------------------------------------------------


def test_dao_multisig_replaces_the_bands_bumps_the_version_and_audits_before_and_after(project, dao):
    approval_matrix_ensure(project=project)
    events = AuditEvent.objects.count()
    matrix = approval_matrix_update(actor=dao, project=project, version=1, bands=NEW_BANDS)
    assert (matrix.version, matrix.updated_by_id) == (2, dao.pk)
    assert matrix.document().as_json() == NEW_USD
    assert [b.position for b in matrix.bands.all()] == [1, 2]
    assert ApprovalBand.objects.count() == 2
    assert AuditEvent.objects.count() == events + 1
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.action == "approval_matrix.updated"
    assert (event.subject_type, event.subject_id) == ("approvals.approvalmatrix", str(matrix.pk))
    assert (event.actor_id, event.project_id) == (dao.pk, project.pk)
    assert event.before == {"version": 1, **DEFAULT_USD}
    assert event.after == {"version": 2, **NEW_USD}


def test_the_first_update_of_a_never_read_matrix_starts_from_the_defaults(project, dao):
    matrix = approval_matrix_update(actor=dao, project=project, version=1, bands=NEW_BANDS)
    assert matrix.version == 2
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.before == {"version": 1, **DEFAULT_USD}


def test_successive_updates_each_need_the_version_just_read(project, dao):
    approval_matrix_update(actor=dao, project=project, version=1, bands=NEW_BANDS)
    bands = [band("0.00", None, stage(TREAS))]
    matrix = approval_matrix_update(actor=dao, project=project, version=2, bands=bands)
    assert matrix.version == 3
    assert approval_matrix_current(project=project).document.as_json()["bands"] == [
        {"lower": money("0.00"), "upper": None, "stages": [one("TREASURER")]}
    ]
    assert list(
        AuditEvent.objects.filter(action="approval_matrix.updated").values_list("after__version", flat=True)
    ) == [
        2,
        3,
    ]


def test_sending_the_current_matrix_unchanged_is_a_no_op(project, dao):
    approval_matrix_update(actor=dao, project=project, version=1, bands=NEW_BANDS)
    before = state(project)
    matrix = approval_matrix_update(actor=dao, project=project, version=2, bands=NEW_BANDS)
    assert matrix.version == 2
    assert state(project) == before


def test_a_stale_version_is_a_409_and_changes_nothing(project, dao):
    approval_matrix_update(actor=dao, project=project, version=1, bands=NEW_BANDS)
    before = state(project)
    with pytest.raises(ApprovalMatrixVersionConflict) as excinfo:
        approval_matrix_update(actor=dao, project=project, version=1, bands=[band("0.00", None, stage(PM))])
    assert (excinfo.value.code, excinfo.value.status) == ("approval_matrix_version_conflict", 409)
    assert excinfo.value.extra == {"current_version": 2}
    assert state(project) == before


@pytest.mark.parametrize(
    "role",
    [
        ProjectRole.PROJECT_MANAGER,
        ProjectRole.FINANCE_REVIEWER,
        ProjectRole.TREASURER,
        ProjectRole.PROCUREMENT,
        ProjectRole.AUDITOR,
        ProjectRole.BENEFICIARY,
        ProjectRole.VENDOR,
    ],
)
def test_only_the_dao_multisig_may_update(project, grant, role):
    user = grant("someone@example.test", role)
    approval_matrix_ensure(project=project)
    before = state(project)
    with pytest.raises(PermissionDenied) as excinfo:
        approval_matrix_update(actor=user, project=project, version=1, bands=NEW_BANDS)
    assert excinfo.value.code == "permission_denied"
    assert state(project) == before


def test_platform_admins_and_other_projects_signers_may_not_update(project, admin, grant):
    approval_matrix_ensure(project=project)
    elsewhere = ProjectFactory(organization=project.organization)
    other_dao = grant("other-dao@example.test", DAO, on=elsewhere)
    before = state(project)
    for actor in (admin, other_dao):
        with pytest.raises(PermissionDenied):
            approval_matrix_update(actor=actor, project=project, version=1, bands=NEW_BANDS)
    assert state(project) == before


def test_revoked_signer_may_not_update(project, admin, dao):
    role_revoke(actor=admin, project=project, user=dao, role=DAO)
    with pytest.raises(PermissionDenied):
        approval_matrix_update(actor=dao, project=project, version=1, bands=NEW_BANDS)
    assert ApprovalMatrix.objects.filter(project=project, version__gt=1).count() == 0


# --------------------------------------------------------------------------
# Validation: each rule, through the service, nothing written
# --------------------------------------------------------------------------

FULL = (stage(PM), stage(FIN))

INVALID: dict[str, tuple[list[BandSpec], str, dict[str, int]]] = {
    "first band starts above 0": (
        [band("1.00", "10000.00", *FULL), band("10000.00", None, *FULL)],
        "approval_matrix_gap",
        {"band": 1},
    ),
    "gap between bands": (
        [band("0.00", "10000.00", *FULL), band("10000.01", None, *FULL)],
        "approval_matrix_gap",
        {"band": 2},
    ),
    "overlapping bands": (
        [band("0.00", "10000.00", *FULL), band("9999.99", None, *FULL)],
        "approval_matrix_overlap",
        {"band": 2},
    ),
    "bands out of order": (
        [band("0.00", "10000.00", *FULL), band("50000.00", None, *FULL), band("10000.00", "50000.00", *FULL)],
        "approval_matrix_gap",
        {"band": 2},
    ),
    "last band bounded": (
        [band("0.00", "10000.00", *FULL), band("10000.00", "50000.00", *FULL)],
        "approval_matrix_unbounded_last",
        {"band": 2},
    ),
    "unbounded band before the last": (
        [band("0.00", None, *FULL), band("10000.00", None, *FULL)],
        "approval_matrix_unbounded_last",
        {"band": 1},
    ),
    "no bands": ([], "approval_matrix_band_invalid", {}),
    "inverted band": (
        [band("0.00", "10000.00", *FULL), band("10000.00", "10000.00", *FULL), band("10000.00", None, *FULL)],
        "approval_matrix_band_invalid",
        {"band": 2},
    ),
    "bound beyond BIGINT": (
        [band("0.00", "92233720368547758.08", *FULL), band("92233720368547758.08", None, *FULL)],
        "approval_matrix_band_invalid",
        {"band": 1},
    ),
    "negative lower bound": ([band("-1.00", None, *FULL)], "approval_matrix_band_invalid", {"band": 1}),
    "too many bands": (
        [band(str(i), str(i + 1), *FULL) for i in range(20)] + [band("20", None, *FULL)],
        "approval_matrix_band_invalid",
        {},
    ),
    "no stages": ([band("0.00", None)], "approval_matrix_stage_invalid", {"band": 1}),
    "vendor stage": (
        [band("0.00", None, stage(PM), stage("VENDOR"))],
        "approval_matrix_stage_invalid",
        {"band": 1, "stage": 2},
    ),
    "auditor stage": ([band("0.00", None, stage("AUDITOR"))], "approval_matrix_stage_invalid", {"band": 1, "stage": 1}),
    "beneficiary stage": (
        [band("0.00", None, stage("BENEFICIARY"))],
        "approval_matrix_stage_invalid",
        {"band": 1, "stage": 1},
    ),
    "unknown role": (
        [band("0.00", None, stage("project_manager"))],
        "approval_matrix_stage_invalid",
        {"band": 1, "stage": 1},
    ),
    "role twice in a band": (
        [band("0.00", "10000.00", *FULL), band("10000.00", None, stage(PM), stage(FIN), stage(PM))],
        "approval_matrix_stage_invalid",
        {"band": 2, "stage": 3},
    ),
    "k above n": ([band("0.00", None, stage(DAO, 3, 2))], "approval_matrix_signers_invalid", {"band": 1, "stage": 1}),
    "k zero": ([band("0.00", None, stage(DAO, 0, 3))], "approval_matrix_signers_invalid", {"band": 1, "stage": 1}),
    "k negative": ([band("0.00", None, stage(DAO, -1))], "approval_matrix_signers_invalid", {"band": 1, "stage": 1}),
    "n above 100": (
        [band("0.00", None, stage(DAO, 2, 101))],
        "approval_matrix_signers_invalid",
        {"band": 1, "stage": 1},
    ),
    "k a bool": ([band("0.00", None, stage(DAO, True, 3))], "approval_matrix_signers_invalid", {"band": 1, "stage": 1}),
    "lower bound in another currency": (
        [band("0.00", "10000.00", *FULL), band("10000.00", None, *FULL, currency="EUR")],
        "approval_matrix_currency_mismatch",
        {"band": 2},
    ),
    "upper bound in another currency": (
        [
            BandSpec(lower=usd("0.00"), upper=Money.parse("10000.00", "USDC"), stages=FULL),
            band("10000.00", None, *FULL),
        ],
        "approval_matrix_currency_mismatch",
        {"band": 1},
    ),
}


@pytest.mark.parametrize("case", INVALID, ids=list(INVALID))
def test_each_validation_rule_refuses_with_its_code_and_changes_nothing(project, dao, case):
    bands, code, where = INVALID[case]
    approval_matrix_ensure(project=project)
    before = state(project)
    with pytest.raises(ApprovalMatrixInvalid) as excinfo:
        approval_matrix_update(actor=dao, project=project, version=1, bands=bands)
    assert (excinfo.value.code, excinfo.value.status) == (code, 422)
    assert excinfo.value.extra == where
    assert state(project) == before


def test_signers_of_defaults_to_signers_required_and_defaults_validate():
    document = document_validate(currency="USD", bands=[band("0.00", None, stage(DAO, 2))])
    assert document.bands[0].stages[0].as_json() == {"role": "DAO_MULTISIG", "signers_required": 2, "signers_of": 2}
    assert document.bands[0].stages[0].is_multisig


def test_the_defaults_pass_their_own_validation(project):
    default = approval_matrix_current(project=project).document
    specs = [
        BandSpec(
            lower=b.lower, upper=b.upper, stages=[stage(s.role, s.signers_required, s.signers_of) for s in b.stages]
        )
        for b in default.bands
    ]
    assert document_validate(currency="USD", bands=specs) == default


# --------------------------------------------------------------------------
# What the database itself refuses
# --------------------------------------------------------------------------


def _insert_band(matrix: ApprovalMatrix, **fields: object) -> None:
    values = {"position": 9, "currency": "USD", "lower": 90_000_000, "upper": None, "stages": [one("TREASURER")]}
    values.update(fields)
    with transaction.atomic():
        ApprovalBand.objects.create(matrix=matrix, **values)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"position": 3}, "approvals_band_position_unique"),
        ({"upper": 100_000_000}, None),  # a second bounded band is fine for the row checks
        ({}, "approvals_band_one_unbounded"),
        ({"lower": 5_000_000, "upper": 6_000_000}, "approvals_band_lower_unique"),
        ({"lower": -1, "upper": 1}, "approvals_band_lower_not_negative"),
        ({"upper": 90_000_000}, "approvals_band_upper_above_lower"),
        ({"position": 0, "upper": 100_000_000}, "approvals_band_position_positive"),
        ({"upper": 100_000_000, "stages": []}, "approvals_band_stages_valid"),
        ({"upper": 100_000_000, "stages": [one("VENDOR")]}, "approvals_band_stages_valid"),
        (
            {"upper": 100_000_000, "stages": [{"role": "DAO_MULTISIG", "signers_required": 3, "signers_of": 2}]},
            "approvals_band_stages_valid",
        ),
        (
            {"upper": 100_000_000, "stages": [{"role": "DAO_MULTISIG", "signers_required": 2}]},
            "approvals_band_stages_valid",
        ),
        (
            {"upper": 100_000_000, "stages": [{"role": "TREASURER", "signers_required": "1", "signers_of": 1}]},
            "approvals_band_stages_valid",
        ),
        ({"upper": 100_000_000, "stages": {"role": "TREASURER"}}, "approvals_band_stages_valid"),
        ({"upper": 100_000_000, "currency": "EUR"}, "approvals_band_matrix_currency_fk"),
    ],
)
def test_the_database_checks_each_band_row(project, fields, constraint):
    matrix = approval_matrix_ensure(project=project)
    if constraint is None:
        _insert_band(matrix, **fields)
        return
    with pytest.raises(IntegrityError, match=constraint):
        _insert_band(matrix, **fields)


def test_the_database_refuses_a_second_matrix_or_version_zero(project):
    matrix = approval_matrix_ensure(project=project)
    with pytest.raises(IntegrityError, match="project_id"), transaction.atomic():
        ApprovalMatrix.objects.create(project=project, currency="USD")
    with pytest.raises(IntegrityError, match="approvals_matrix_version_positive"), transaction.atomic():
        ApprovalMatrix.objects.filter(pk=matrix.pk).update(version=0)
