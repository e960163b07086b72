"""Realistic demo data: an organization, a user per role of seed 004, funded projects and, on the first
project, its finance data (WBS, vendors, contracts, change orders, invoices: :mod:`payor.demo.finance`), and on
the second, the milestone project of seed 000 (work requests in every state, a milestone paid through the Stripe
rail: :mod:`payor.demo.milestones`).

Idempotent: every object is looked up by a natural key first, so a second run
reuses what the first created. Later features extend this module.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from payor.accounts.models import Organization, User, Wallet
from payor.accounts.services import membership_ensure, organization_create, user_create
from payor.accounts.wallets import wallet_find, wallet_link, wallet_nonce_issue
from payor.core.money import Money
from payor.demo.finance import Cast, DemoFinance, seed_finance
from payor.demo.milestones import DemoMilestones, seed_milestones
from payor.ledger import services as ledger
from payor.projects.models import FundingEvent, Project, ProjectPhase
from payor.projects.services import funding_record, project_create
from payor.rbac.models import ProjectRoleAssignment
from payor.rbac.services import role_assign, role_set_limit

DEMO_PASSWORD = "payor-demo-pass"  # printed by `payor demo`; demo data only

#: DEMO ONLY, PUBLIC, NEVER FOR REAL FUNDS: the well-known development mnemonic of Anvil and Hardhat. The DAO
#: multisig demo users get its accounts 1-3 (m/44'/60'/0'/0/1..3) as linked wallets, so the demo can sign in with
#: Ethereum (import the mnemonic into a browser wallet) and a local Anvil chain funds the same addresses.
DEMO_MNEMONIC = "test test test test test test test test test test test junk"
DEMO_WALLET_SITE = ("localhost", "http")  # the EIP-4361 domain and scheme of the seed's own link messages


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    role: str
    superuser: bool = False
    project_role: str | None = None  # granted on every demo project by the platform admin
    approval_limit: str | None = None  # USD
    wallet_index: int | None = None  # account index under DEMO_MNEMONIC of the user's linked wallet
    vendor: str | None = None  # the demo vendor this user acts for (VENDOR role on the first demo project)


DEMO_USERS = (
    DemoUser("admin@orenna.test", "Ada Admin", "Platform admin", superuser=True),
    # The creator of the demo projects (their PROJECT_MANAGER from the start); the admin sets the approval limit.
    DemoUser(
        "pm@orenna.test",
        "Priya Manager",
        "Project manager",
        project_role="PROJECT_MANAGER",
        approval_limit="100000.00",
    ),
    # A second project manager: proposes change orders, which the PM stage then needs someone else to approve.
    DemoUser(
        "sitelead@orenna.test",
        "Sofia Sitelead",
        "Project manager (site lead)",
        project_role="PROJECT_MANAGER",
        approval_limit="25000.00",
    ),
    DemoUser(
        "finance@orenna.test",
        "Felix Reviewer",
        "Finance reviewer",
        project_role="FINANCE_REVIEWER",
        approval_limit="50000.00",
    ),
    DemoUser(
        "treasurer@orenna.test", "Tomas Treasurer", "Treasurer", project_role="TREASURER", approval_limit="250000.00"
    ),
    DemoUser(
        "signer1@orenna.test",
        "Sana Signer",
        "DAO multisig signer",
        project_role="DAO_MULTISIG",
        approval_limit="5000000.00",
        wallet_index=1,
    ),
    DemoUser(
        "signer2@orenna.test",
        "Dmitri Signer",
        "DAO multisig signer",
        project_role="DAO_MULTISIG",
        approval_limit="5000000.00",
        wallet_index=2,
    ),
    DemoUser(
        "signer3@orenna.test",
        "Grace Signer",
        "DAO multisig signer",
        project_role="DAO_MULTISIG",
        approval_limit="5000000.00",
        wallet_index=3,
    ),
    DemoUser(
        "procurement@orenna.test",
        "Paula Procurement",
        "Procurement",
        project_role="PROCUREMENT",
        approval_limit="10000.00",
    ),
    DemoUser("auditor@orenna.test", "Aurelio Auditor", "Auditor (read-only)", project_role="AUDITOR"),
    DemoUser("beneficiary@orenna.test", "Bea Beneficiary", "Beneficiary (read-only)", project_role="BENEFICIARY"),
    DemoUser("contractor@riverworks.test", "Rosa Riverworks", "Vendor / contractor", vendor="Riverworks Restoration"),
    DemoUser(
        "billing@willowcreek.test", "Wendell Willow", "Vendor / plant nursery", vendor="Willow Creek Native Plants"
    ),
    DemoUser("field@cascade-eco.test", "Carmen Cascade", "Vendor / monitoring firm", vendor="Cascade EcoMetrics"),
    DemoUser(
        "office@siskiyou-hydroseed.test", "Hana Siskiyou", "Vendor / hydroseeding firm", vendor="Siskiyou Hydroseed"
    ),
    # The milestone project's contractors (payor.demo.milestones): paid through Stripe Connect, and a second one.
    DemoUser(
        "contractor@mckenzie-eco.test",
        "Mateo McKenzie",
        "Contractor (milestones, Stripe Connect)",
        vendor="McKenzie Field Ecology",
    ),
    DemoUser(
        "permits@tualatin-permits.test",
        "Tessa Tualatin",
        "Contractor (milestones, second contractor)",
        vendor="Tualatin Permitting Partners",
    ),
)


@dataclass(frozen=True)
class DemoFunding:
    source: str
    amount: str
    received_on: dt.date
    reference: str
    tx_hash: str = ""


@dataclass(frozen=True)
class DemoProject:
    name: str
    description: str
    phase: str
    start: dt.date
    end: dt.date
    funding: tuple[DemoFunding, ...]


DEMO_PROJECTS = (
    DemoProject(
        name="Klamath River Riparian Restoration",
        description=(
            "Replant 42 ha of riparian buffer along the lower Klamath after dam removal: "
            "site preparation, native seedlings, browse protection and 3 years of survival monitoring. "
            "Retention is released when vegetation survival reaches 70% at 12 months."
        ),
        phase=ProjectPhase.IMPLEMENTATION,
        start=dt.date(2026, 3, 1),
        end=dt.date(2028, 2, 29),
        funding=(
            DemoFunding("lift_bond", "750000.00", dt.date(2026, 2, 12), "Lift Bond series KR-1 proceeds"),
            DemoFunding("treasury_allocation", "250000.00", dt.date(2026, 4, 1), "Orenna treasury allocation Q2"),
            DemoFunding(
                "beneficiary_prepurchase",
                "48500.00",
                dt.date(2026, 6, 18),
                "Pre-purchase of Lift Units, Pacific Salmon Fund",
            ),
        ),
    ),
    DemoProject(
        name="Willamette Floodplain Reforestation",
        description=(
            "Reconnect 18 ha of floodplain and plant cottonwood gallery forest; "
            "origination: surveys, permits and landowner agreements."
        ),
        phase=ProjectPhase.ORIGINATION,
        start=dt.date(2026, 9, 1),
        end=dt.date(2029, 8, 31),
        funding=(DemoFunding("treasury_allocation", "120000.00", dt.date(2026, 9, 15), "Seed allocation WF-0"),),
    ),
)


@dataclass(frozen=True)
class SeedResult:
    organization: Organization
    users: list[tuple[DemoUser, User]]
    projects: list[Project]
    wallets: dict[str, str]  # demo user email -> linked wallet address
    finance: DemoFinance  # the first project's budget, vendors, contracts and invoices
    milestones: DemoMilestones  # the second project's work requests, milestones and Stripe payment


def demo_wallet_key(index: int) -> Any:
    """The DEMO-ONLY key of account ``index`` under :data:`DEMO_MNEMONIC` (an eth-account LocalAccount)."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(DEMO_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


def _link_demo_wallet(spec: DemoUser, user: User) -> Wallet | None:
    """Link the user's demo wallet through the real Sign-In with Ethereum flow (idempotent; audited)."""
    if spec.wallet_index is None:
        return None
    from eth_account.messages import encode_defunct

    account = demo_wallet_key(spec.wallet_index)
    existing = wallet_find(account.address)
    if existing is not None:
        return existing if existing.user_id == user.pk else None
    domain, scheme = DEMO_WALLET_SITE
    issued = wallet_nonce_issue(
        purpose="link", address=account.address, chain_id=31337, domain=domain, scheme=scheme, user=user
    )
    signature = account.sign_message(encode_defunct(text=issued.message)).signature.hex()
    wallet, _ = wallet_link(
        actor=user,
        message=issued.message,
        signature=signature if signature.startswith("0x") else f"0x{signature}",
        domain=domain,
        scheme=scheme,
        label="Demo signer key (public test mnemonic)",
    )
    return wallet


def _user(spec: DemoUser) -> User:
    existing = User.objects.filter(email__iexact=spec.email).first()
    if existing is not None:
        return existing
    return user_create(
        email=spec.email, password=DEMO_PASSWORD, full_name=spec.name, is_superuser=spec.superuser, check_password=False
    )


def _grant_roles(*, project: Project, users: list[tuple[DemoUser, User]]) -> None:
    """The platform admin grants each demo user their role, or sets the limit of a role they already hold (the
    project creator's PROJECT_MANAGER). Idempotent; each grant and limit change is audited."""
    admin = next(user for spec, user in users if spec.superuser)
    for spec, user in users:
        if spec.project_role is None:
            continue
        limit = Money.parse(spec.approval_limit, project.currency) if spec.approval_limit else None
        held = ProjectRoleAssignment.objects.filter(
            project=project, user=user, role=spec.project_role, revoked_at__isnull=True
        ).exists()
        if held:
            role_set_limit(actor=admin, project=project, user=user, role=spec.project_role, approval_limit=limit)
        else:
            role_assign(actor=admin, project=project, user=user, role=spec.project_role, approval_limit=limit)


def _cast(users: list[tuple[DemoUser, User]]) -> Cast:
    """Who does the finance work of the demo (by their demo e-mail)."""
    by_email = {spec.email: user for spec, user in users}
    return Cast(
        pm=by_email["pm@orenna.test"],
        site_lead=by_email["sitelead@orenna.test"],
        finance=by_email["finance@orenna.test"],
        treasurer=by_email["treasurer@orenna.test"],
        procurement=by_email["procurement@orenna.test"],
        vendor_users={spec.vendor: user for spec, user in users if spec.vendor},
    )


@transaction.atomic
def seed() -> SeedResult:
    organization = Organization.objects.filter(slug="orenna-dao").first() or organization_create(
        name="Orenna DAO LLC", kind=Organization.Kind.DAO, slug="orenna-dao"
    )
    if not organization.legal_name:
        organization.legal_name = "Orenna DAO LLC"
        organization.country = "US"
        organization.save(update_fields=["legal_name", "country", "updated_at"])
    if not organization.address_line1:  # the buyer's postal address on its self-billed receipts (EN 16931 BG-8)
        organization.address_line1, organization.city, organization.region = "1 Ferry Building", "San Francisco", "CA"
        organization.postal_code, organization.tax_id = "94111", "88-1234567"
        organization.save(update_fields=["address_line1", "city", "region", "postal_code", "tax_id", "updated_at"])
    users = []
    demo_wallets: dict[str, str] = {}
    for spec in DEMO_USERS:
        user = _user(spec)
        if spec.vendor is None:  # vendors' users act for their vendor; they do not belong to the DAO
            membership_ensure(organization=organization, user=user)
        users.append((spec, user))
        wallet = _link_demo_wallet(spec, user)
        if wallet is not None:
            demo_wallets[spec.email] = wallet.address
    pm = next(user for spec, user in users if spec.email.startswith("pm@"))
    treasurer = next(user for spec, user in users if spec.email.startswith("treasurer@"))

    projects = []
    for demo in DEMO_PROJECTS:
        project = Project.objects.filter(organization=organization, name=demo.name).first()
        if project is None:
            project = project_create(
                actor=pm,
                organization=organization,
                name=demo.name,
                description=demo.description,
                currency="USD",
                phase=demo.phase,
                start_date=demo.start,
                end_date=demo.end,
            )
        bucket = project.buckets.get(currency="USD")
        for funding in demo.funding:
            existing = FundingEvent.objects.filter(bucket=bucket, reference=funding.reference).first()
            if existing is not None:
                # Idempotent: posts the FUND transfer only if an older demo database lacks it.
                ledger.fund(bucket=bucket, amount=existing.amount, key=f"funding:{existing.pk}", actor_id=treasurer.pk)
            else:
                funding_record(
                    actor=treasurer,
                    bucket=bucket,
                    amount=Money.parse(funding.amount, "USD"),
                    source=funding.source,
                    received_on=funding.received_on,
                    reference=funding.reference,
                    tx_hash=funding.tx_hash,
                )
        _grant_roles(project=project, users=users)
        projects.append(project)
    cast = _cast(users)
    finance = seed_finance(project=projects[0], cast=cast)
    milestones = seed_milestones(project=projects[1], cast=cast)
    return SeedResult(
        organization=organization,
        users=users,
        projects=projects,
        wallets=demo_wallets,
        finance=finance,
        milestones=milestones,
    )
