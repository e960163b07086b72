"""``/api/v1/contracts`` and ``/api/v1/change-orders``: worked examples through the API, who may do what, and
refusals that are 4xx with a stable code and write nothing."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from eth_account.messages import encode_typed_data

from payor.accounts.models import User
from payor.accounts.services import api_token_create
from payor.api.models import IdempotencyRecord
from payor.approvals.models import ApprovalDecision
from payor.audit.models import AuditEvent
from payor.contracts.models import ChangeOrder, ChangeOrderLine, Contract, ContractAllocation
from payor.contracts.services import Allocation, contract_create
from payor.contracts.tests.conftest import CHAIN, usd
from payor.events.models import OutboxEvent
from payor.ledger import selectors as ledger_selectors
from payor.ledger.models import Transfer
from payor.projects.services import budget_line_create
from payor.rbac.roles import ProjectRole
from payor.testing.factories import ProjectFactory, ProjectRoleFactory, UserFactory, VendorFactory

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


# --------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------


def client_for(user: User) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(email=user.email, name='tests').secret}")


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == code, body
    return body


def money(amount: str, currency: str = "USD") -> dict:
    return {"amount": amount, "currency": currency}


def out(amount: str) -> dict:
    """A MoneyOut in USD."""
    return {"amount": amount, "currency": "USD", "minor": usd(amount).minor}


def post(client: Client, url: str, body: dict | None = None, **headers: str):
    return client.post(url, data=body or {}, content_type="application/json", headers=headers)


def contract_body(world, vendor, *allocations: tuple[str, str], nte: str, **fields) -> dict:
    return {
        "project_id": str(world.project.pk),
        "vendor_id": str(vendor.pk),
        "title": "Riparian planting, phase 1",
        "not_to_exceed": money(nte),
        "allocations": [
            {"budget_line_id": str(world.line(code).pk), "amount": money(amount)} for code, amount in allocations
        ],
        **fields,
    }


def create(world, vendor, *allocations: tuple[str, str], nte: str, execute: bool = False, **fields) -> dict:
    pm = client_for(world.people["pm"])
    response = post(pm, "/api/v1/contracts", contract_body(world, vendor, *allocations, nte=nte, **fields))
    assert response.status_code == 201, response.content
    if execute:
        response = post(pm, f"/api/v1/contracts/{response.json()['id']}/execute")
        assert response.status_code == 200, response.content
    return response.json()


def change_order(world, contract: dict, *lines: tuple[str, str], reason: str = "Extra 2 ha of willow") -> dict:
    body = {
        "reason": reason,
        "lines": [{"budget_line_id": str(world.line(code).pk), "delta": money(delta)} for code, delta in lines],
    }
    response = post(client_for(world.people["pm"]), f"/api/v1/contracts/{contract['id']}/change-orders", body)
    assert response.status_code == 201, response.content
    return response.json()


def decide(client: Client, change: dict, role: ProjectRole, decision: str = "approved", **fields):
    body = {"role": role.value, "decision": decision, **fields}
    return post(client, f"/api/v1/change-orders/{change['id']}/decisions", body)


def rows() -> tuple[int, ...]:
    """Everything a refused request must leave alone."""
    return tuple(
        model.objects.count()
        for model in (
            Contract,
            ContractAllocation,
            ChangeOrder,
            ChangeOrderLine,
            ApprovalDecision,
            AuditEvent,
            Transfer,
            OutboxEvent,
            IdempotencyRecord,
        )
    )


def project_figures(world):
    return ledger_selectors.project_summary(project_id=world.project.pk)["USD"]


def figures(body: dict) -> dict[str, str]:
    return {name: value["amount"] for name, value in body["figures"].items()}


def zero_figures(**amounts: str) -> dict[str, str]:
    names = ("committed", "encumbered", "retention", "withheld", "pending", "disbursed", "invoiced")
    return {name: amounts.get(name, "0.00") for name in (*names, "remaining_commitment")}


# --------------------------------------------------------------------------------------------------------------
# Worked examples
# --------------------------------------------------------------------------------------------------------------


def test_create_a_draft_execute_it_and_close_it_with_the_ledger_figures(world, vendor):
    pm, fin = client_for(world.people["pm"]), client_for(world.people["fin"])
    body = contract_body(
        world,
        vendor,
        ("1.2", "15000.00"),
        ("1.1", "30000.00"),
        nte="45000.00",
        scope="Plant 12 ha of willow and alder.\nMonitor for two seasons.",
        retention_percent="5.5",
        payment_terms={"kind": "early_pay", "net_days": 30, "discount_percent": "2", "discount_days": 10},
        start_date="2026-03-01",
        end_date="2026-10-31",
    )
    created = post(pm, "/api/v1/contracts", body)
    assert created.status_code == 201, created.content
    draft = created.json()
    assert {key: draft[key] for key in ("number", "status", "currency", "retention_percent", "scope")} == {
        "number": "PO-0001",
        "status": "draft",
        "currency": "USD",
        "retention_percent": "5.50",
        "scope": "Plant 12 ha of willow and alder.\nMonitor for two seasons.",
    }
    assert draft["vendor"] == {"id": str(vendor.pk), "name": "Willow Creek Restoration"}
    assert (draft["not_to_exceed"], draft["original_not_to_exceed"]) == (out("45000.00"), out("45000.00"))
    assert draft["payment_terms"] == {
        "kind": "early_pay",
        "net_days": 30,
        "discount_percent": "2.00",
        "discount_days": 10,
        "label": "2/10 net 30",
    }
    assert (draft["start_date"], draft["end_date"], draft["executed_at"], draft["executed_by"]) == (
        "2026-03-01",
        "2026-10-31",
        None,
        None,
    )
    assert draft["created_by"]["email"] == "pm@example.test"
    assert draft["allocations"] == [
        {
            "budget_line_id": str(world.line("1.1").pk),
            "wbs_code": "1.1",
            "description": "Planting",
            "amount": out("30000.00"),
        },
        {
            "budget_line_id": str(world.line("1.2").pk),
            "wbs_code": "1.2",
            "description": "Monitoring",
            "amount": out("15000.00"),
        },
    ]
    assert figures(draft) == zero_figures()  # a draft commits nothing
    assert draft["change_orders"] == []
    assert project_figures(world).available == usd("150000.00")

    url = f"/api/v1/contracts/{draft['id']}"
    executed = post(pm, f"{url}/execute")
    assert executed.status_code == 200, executed.content
    assert (executed.json()["status"], executed.json()["executed_by"]["email"]) == ("executed", "pm@example.test")
    assert figures(executed.json()) == zero_figures(committed="45000.00", remaining_commitment="45000.00")
    f = project_figures(world)
    assert (f.available, f.committed) == (usd("105000.00"), usd("45000.00"))
    transfers = Transfer.objects.count()
    assert post(pm, f"{url}/execute").json() == executed.json()  # repeated: a no-op
    assert Transfer.objects.count() == transfers
    assert fin.get(url).json() == executed.json()  # finance reads what the PM sees

    closed = post(pm, f"{url}/close")
    assert closed.status_code == 200, closed.content
    assert (closed.json()["status"], closed.json()["closed_by"]["email"]) == ("closed", "pm@example.test")
    assert figures(closed.json()) == zero_figures()
    f = project_figures(world)
    assert (f.available, f.committed) == (usd("150000.00"), usd("0.00"))
    problem(post(pm, f"{url}/cancel"), 409, "contract_state_invalid")
    actions = AuditEvent.objects.filter(subject_id=draft["id"]).order_by("seq").values_list("action", flat=True)
    assert list(actions) == ["contract.created", "contract.executed", "contract.closed"]


def test_a_draft_is_canceled_and_then_cannot_be_executed(world, vendor):
    pm = client_for(world.people["pm"])
    draft = create(world, vendor, ("1.1", "1000.00"), nte="1000.00", payment_terms={"kind": "on_approval"})
    assert (draft["payment_terms"]["label"], draft["payment_terms"]["net_days"]) == ("On approval", None)
    url = f"/api/v1/contracts/{draft['id']}"
    canceled = post(pm, f"{url}/cancel")
    assert canceled.status_code == 200, canceled.content
    assert canceled.json()["status"] == "canceled"
    before = rows()
    problem(post(pm, f"{url}/execute"), 409, "contract_state_invalid")
    problem(post(pm, f"{url}/close"), 409, "contract_state_invalid")
    assert rows() == before
    assert project_figures(world).committed == usd("0.00")


def test_execution_refusals_change_nothing(world, vendor):
    pm = client_for(world.people["pm"])
    too_much = create(world, vendor, ("1.1", "100000.00"), ("1.2", "60000.00"), nte="160000.00")
    over_cap = create(world, vendor, ("1.1", "120000.01"), nte="120000.01")
    before = rows()
    # Only leaf lines take money: a draft on a parent line is refused when drafted.
    problem(
        post(pm, "/api/v1/contracts", contract_body(world, vendor, ("1", "100.00"), nte="100.00")),
        409,
        "budget_line_not_leaf",
    )
    problem(post(pm, f"/api/v1/contracts/{too_much['id']}/execute"), 409, "insufficient_funds")
    problem(post(pm, f"/api/v1/contracts/{over_cap['id']}/execute"), 409, "budget_cap_exceeded")
    problem(post(pm, f"/api/v1/contracts/{too_much['id']}/close"), 409, "contract_state_invalid")
    problem(post(pm, f"/api/v1/contracts/{uuid.uuid4()}/execute"), 404, "contract_not_found")
    assert rows() == before
    assert pm.get(f"/api/v1/contracts/{too_much['id']}").json()["status"] == "draft"
    assert project_figures(world).available == usd("150000.00")


def test_the_list_filters_and_pages_newest_first(world, vendor):
    second_vendor = VendorFactory(organization=world.project.organization, name="Alder Survey Co")
    first = create(world, vendor, ("1.1", "1000.00"), nte="1000.00")
    middle = create(world, second_vendor, ("1.2", "2000.00"), nte="2000.00")
    last = create(world, vendor, ("1.1", "3000.00"), nte="3000.00", execute=True)
    # Another project's contract, which nobody on the world's project can see.
    elsewhere = ProjectFactory(currency="USD")
    boss = UserFactory(email="boss@elsewhere.test")
    ProjectRoleFactory(project=elsewhere, user=boss, role=ProjectRole.PROJECT_MANAGER)
    line = budget_line_create(actor=boss, project=elsewhere, wbs_code="1", description="All", cap=usd("100.00"))
    hidden = contract_create(
        actor=boss,
        project=elsewhere,
        vendor=VendorFactory(organization=elsewhere.organization),
        title="Elsewhere",
        not_to_exceed=usd("100.00"),
        allocations=[Allocation(line.pk, usd("100.00"))],
    )

    fin = client_for(world.people["fin"])

    def ids(url: str) -> list[str]:
        response = fin.get(url)
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["results"]]

    page = fin.get("/api/v1/contracts?page_size=2").json()
    assert [item["id"] for item in page["results"]] == [last["id"], middle["id"]]
    assert page["results"][0]["status"] == "executed"
    assert page["results"][0]["not_to_exceed"] == out("3000.00")
    assert "allocations" not in page["results"][0]  # the list carries no detail
    rest = fin.get(page["next"]).json()
    assert ([item["id"] for item in rest["results"]], rest["next"]) == ([first["id"]], None)
    assert ids(f"/api/v1/contracts?vendor_id={vendor.pk}") == [last["id"], first["id"]]
    assert ids("/api/v1/contracts?status=executed") == [last["id"]]
    assert ids(f"/api/v1/contracts?status=draft&vendor_id={second_vendor.pk}") == [middle["id"]]
    assert ids(f"/api/v1/contracts?project_id={world.project.pk}&status=closed") == []
    assert ids(f"/api/v1/contracts?vendor_id={uuid.uuid4()}") == []
    problem(fin.get(f"/api/v1/contracts?project_id={elsewhere.pk}"), 404, "project_not_found")
    problem(fin.get(f"/api/v1/contracts?project_id={uuid.uuid4()}"), 404, "project_not_found")
    problem(fin.get("/api/v1/contracts?status=signed"), 422, "validation_error")
    problem(fin.get("/api/v1/contracts?cursor=not-a-cursor"), 422, "validation_error")
    problem(fin.get("/api/v1/contracts?page_size=0"), 422, "validation_error")
    assert [item["id"] for item in client_for(boss).get("/api/v1/contracts").json()["results"]] == [str(hidden.pk)]


# --------------------------------------------------------------------------------------------------------------
# Change orders
# --------------------------------------------------------------------------------------------------------------


def sign(world, name: str, typed: dict) -> str:
    return "0x" + world.keys[name].sign_message(encode_typed_data(full_message=typed)).signature.hex()


def test_a_change_order_across_the_dao_threshold_needs_two_wallet_signatures(world, vendor):
    people = world.people
    contract = create(world, vendor, ("1.1", "30000.00"), ("1.2", "15000.00"), nte="45000.00", execute=True)
    # +10,000.00 takes the contract from 45,000.00 (band 2) to 55,000.00 (band 3): decided as the new total.
    change = change_order(world, contract, ("1.1", "10000.00"))
    assert (change["number"], change["status"], change["delta"], change["approval_amount"]) == (
        1,
        "pending",
        out("10000.00"),
        out("55000.00"),
    )
    assert change["lines"] == [
        {
            "budget_line_id": str(world.line("1.1").pk),
            "wbs_code": "1.1",
            "description": "Planting",
            "delta": out("10000.00"),
        }
    ]
    plan = change["approval"]
    assert (plan["band"], plan["matrix_version"], plan["complete"], plan["next_role"]) == (
        3,
        1,
        False,
        "PROJECT_MANAGER",
    )
    assert [(s["role"], s["signers_required"], s["signed"], s["status"]) for s in plan["stages"]] == [
        ("PROJECT_MANAGER", 1, 0, "next"),
        ("FINANCE_REVIEWER", 1, 0, "waiting"),
        ("TREASURER", 1, 0, "waiting"),
        ("DAO_MULTISIG", 2, 0, "waiting"),
    ]
    listed = client_for(people["fin"]).get(f"/api/v1/contracts/{contract['id']}/change-orders").json()
    assert [(item["id"], item["status"]) for item in listed["results"]] == [(change["id"], "pending")]

    for name, role in (("pm2", ProjectRole.PROJECT_MANAGER), ("fin", ProjectRole.FINANCE_REVIEWER)):
        response = decide(client_for(people[name]), change, role, note="Checked")
        assert response.status_code == 200, response.content
    tre = decide(client_for(people["tre"]), change, ProjectRole.TREASURER)
    assert tre.json()["approval"]["next_role"] == "DAO_MULTISIG"

    dao1, dao2 = client_for(people["dao1"]), client_for(people["dao2"])
    before = rows()
    problem(decide(dao1, change, ProjectRole.DAO_MULTISIG), 422, "approval_signature_required")
    typed_url = f"/api/v1/change-orders/{change['id']}/typed-data?role=DAO_MULTISIG&decision=approved&chain_id={CHAIN}"
    typed = dao1.get(typed_url)
    assert typed.status_code == 200, typed.content
    typed = typed.json()
    assert typed["primaryType"] == "ApprovalDecision"
    assert typed["domain"] == {"name": "Payor", "version": "1", "chainId": CHAIN}
    assert typed["message"] == {
        "project": str(world.project.pk),
        "targetType": "change_order",
        "targetId": change["id"],
        "round": 1,
        "role": "DAO_MULTISIG",
        "decision": "approved",
        "amount": "55000.00",
        "currency": "USD",
        "amountMinor": 5500000,
        "matrixVersion": 1,
    }
    # dao2's wallet signing dao1's decision is refused; so is a signature of another message.
    problem(
        decide(dao1, change, ProjectRole.DAO_MULTISIG, chain_id=CHAIN, signature=sign(world, "dao2", typed)),
        403,
        "approval_signer_not_linked",
    )
    rejected_typed = dao1.get(typed_url.replace("decision=approved", "decision=rejected")).json()
    assert rejected_typed["message"]["decision"] == "rejected"
    problem(
        decide(dao1, change, ProjectRole.DAO_MULTISIG, chain_id=CHAIN, signature=sign(world, "dao1", rejected_typed)),
        403,
        "approval_signer_not_linked",  # recovers to some other address
    )
    assert rows() == before

    first = decide(dao1, change, ProjectRole.DAO_MULTISIG, chain_id=CHAIN, signature=sign(world, "dao1", typed))
    assert first.status_code == 200, first.content
    assert first.json()["status"] == "pending"  # 1 of 2 signatures
    assert first.json()["approval"]["stages"][3]["signed"] == 1
    assert first.json()["approval"]["stages"][3]["signers"][0]["email"] == "dao1@example.test"
    assert project_figures(world).committed == usd("45000.00")
    problem(
        decide(dao1, change, ProjectRole.DAO_MULTISIG, chain_id=CHAIN, signature=sign(world, "dao1", typed)),
        409,
        "approval_duplicate_signer",
    )

    second = decide(dao2, change, ProjectRole.DAO_MULTISIG, chain_id=CHAIN, signature=sign(world, "dao2", typed))
    assert second.status_code == 200, second.content
    done = second.json()
    assert (done["status"], done["approval"]["complete"], done["approval"]["next_role"]) == ("approved", True, None)
    assert done["contract"]["not_to_exceed"] == out("55000.00")
    assert [
        (d["role"], d["decision"], d["approver"]["email"], d["note"], d["signer_address"], d["amount"]["amount"])
        for d in done["timeline"]
    ] == [
        ("PROJECT_MANAGER", "approved", "pm2@example.test", "Checked", None, "55000.00"),
        ("FINANCE_REVIEWER", "approved", "fin@example.test", "Checked", None, "55000.00"),
        ("TREASURER", "approved", "tre@example.test", "", None, "55000.00"),
        ("DAO_MULTISIG", "approved", "dao1@example.test", "", world.keys["dao1"].address, "55000.00"),
        ("DAO_MULTISIG", "approved", "dao2@example.test", "", world.keys["dao2"].address, "55000.00"),
    ]
    assert [d["chain_id"] for d in done["timeline"]] == [None, None, None, CHAIN, CHAIN]

    detail = client_for(people["pm"]).get(f"/api/v1/contracts/{contract['id']}").json()
    assert (detail["not_to_exceed"], detail["original_not_to_exceed"]) == (out("55000.00"), out("45000.00"))
    assert [(a["wbs_code"], a["amount"]["amount"]) for a in detail["allocations"]] == [
        ("1.1", "40000.00"),
        ("1.2", "15000.00"),
    ]
    assert figures(detail) == zero_figures(committed="55000.00", remaining_commitment="55000.00")
    assert [(c["number"], c["status"]) for c in detail["change_orders"]] == [(1, "approved")]
    f = project_figures(world)
    assert (f.available, f.committed) == (usd("95000.00"), usd("55000.00"))
    problem(dao1.get(typed_url), 409, "change_order_state_invalid")  # nothing left to sign


def test_a_rejected_change_order_posts_nothing_and_is_final(world, vendor):
    contract = create(world, vendor, ("1.2", "5000.00"), nte="5000.00", execute=True)
    change = change_order(world, contract, ("1.2", "1000.00"), reason="Two more site visits")
    assert [s["role"] for s in change["approval"]["stages"]] == ["PROJECT_MANAGER", "FINANCE_REVIEWER"]
    pm2 = client_for(world.people["pm2"])
    problem(decide(pm2, change, ProjectRole.PROJECT_MANAGER, "rejected"), 422, "approval_note_required")
    problem(decide(pm2, change, ProjectRole.PROJECT_MANAGER, "returned", note="x"), 422, "validation_error")
    transfers = Transfer.objects.count()
    response = decide(pm2, change, ProjectRole.PROJECT_MANAGER, "rejected", note="Not in scope")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["rejection_reason"], body["decided_at"] is not None) == (
        "rejected",
        "Not in scope",
        True,
    )
    assert [(d["role"], d["decision"], d["note"]) for d in body["timeline"]] == [
        ("PROJECT_MANAGER", "rejected", "Not in scope")
    ]
    assert Transfer.objects.count() == transfers
    fin = client_for(world.people["fin"])
    before = rows()
    problem(decide(fin, change, ProjectRole.FINANCE_REVIEWER), 409, "change_order_state_invalid")
    assert rows() == before
    detail = client_for(world.people["pm"]).get(f"/api/v1/contracts/{contract['id']}").json()
    assert (detail["not_to_exceed"], figures(detail)["committed"]) == (out("5000.00"), "5000.00")


def test_a_decrease_releases_money_back_to_available(world, vendor):
    contract = create(world, vendor, ("1.1", "8000.00"), nte="8000.00", execute=True)
    change = change_order(world, contract, ("1.1", "-3000.00"), reason="Smaller site")
    assert (change["delta"], change["approval_amount"]) == (out("-3000.00"), out("3000.00"))
    decide(client_for(world.people["pm2"]), change, ProjectRole.PROJECT_MANAGER)
    done = decide(client_for(world.people["fin"]), change, ProjectRole.FINANCE_REVIEWER).json()
    assert (done["status"], done["contract"]["not_to_exceed"]) == ("approved", out("5000.00"))
    f = project_figures(world)
    assert (f.available, f.committed) == (usd("145000.00"), usd("5000.00"))


# --------------------------------------------------------------------------------------------------------------
# Who may do what
# --------------------------------------------------------------------------------------------------------------


def test_who_reads_contracts_and_change_orders(world, vendor, readers):
    contract = create(world, vendor, ("1.1", "1000.00"), nte="1000.00", execute=True)
    other_vendor = VendorFactory(organization=world.project.organization)
    theirs = create(world, other_vendor, ("1.2", "500.00"), nte="500.00")
    change = change_order(world, contract, ("1.1", "100.00"))
    everyone = {**world.people, **readers}
    expected = {
        "pm": 200,
        "fin": 200,
        "tre": 200,
        "dao1": 200,
        "proc": 200,
        "aud": 200,
        "own": 200,  # a VENDOR user reads their own vendor's contracts (they invoice against them)
        "other": 403,  # another vendor's user sees the project, not this contract
        "ben": 403,  # beneficiaries see project totals only
        "outsider": 404,  # no role on the project: it does not exist for them
    }
    not_found = {
        f"/api/v1/contracts/{contract['id']}": "contract_not_found",
        f"/api/v1/contracts/{contract['id']}/change-orders": "contract_not_found",
        f"/api/v1/change-orders/{change['id']}": "change_order_not_found",
        f"/api/v1/change-orders/{change['id']}/typed-data?chain_id=1": "change_order_not_found",
    }
    clients = {name: client_for(everyone[name]) for name in expected}
    before = rows()
    for name, status in expected.items():
        client = clients[name]
        for url, code in not_found.items():
            response = client.get(url)
            assert response.status_code == status, (name, url, response.content)
            if status == 404:
                assert response.json()["code"] == code
            if status == 403:
                assert response.json()["code"] == "permission_denied"
                assert response.json()["permission"] == "contract.view"
        listed = client.get("/api/v1/contracts")
        assert listed.status_code == 200, (name, listed.content)
        visible = {item["id"] for item in listed.json()["results"]}
        if status == 200 and name != "own":
            assert visible == {contract["id"], theirs["id"]}, name
        elif name == "own":
            assert visible == {contract["id"]}
        else:
            assert visible == set(), name
        by_project = client.get(f"/api/v1/contracts?project_id={world.project.pk}")
        if name in ("ben", "other"):
            # other acts for a vendor here (an empty list of its own); a beneficiary may read no contract at all
            assert by_project.status_code == (403 if name == "ben" else 200), (name, by_project.content)
        elif name == "outsider":
            problem(by_project, 404, "project_not_found")
    assert rows() == before  # reading writes nothing (api tokens aside)


def test_only_project_managers_write_contracts(world, vendor, readers):
    everyone = {**world.people, **readers}
    contract = create(world, vendor, ("1.1", "1000.00"), nte="1000.00", execute=True)
    draft = create(world, vendor, ("1.2", "1000.00"), nte="1000.00")
    body = contract_body(world, vendor, ("1.1", "10.00"), nte="10.00")
    co_body = {"reason": "More", "lines": [{"budget_line_id": str(world.line("1.1").pk), "delta": money("10.00")}]}
    clients = {name: client_for(user) for name, user in everyone.items()}
    before = rows()
    for name in ("fin", "tre", "dao1", "proc", "aud", "own", "other", "ben"):
        client = clients[name]
        problem(post(client, "/api/v1/contracts", body), 403, "permission_denied")
        problem(post(client, f"/api/v1/contracts/{draft['id']}/execute"), 403, "permission_denied")
        problem(post(client, f"/api/v1/contracts/{draft['id']}/cancel"), 403, "permission_denied")
        problem(post(client, f"/api/v1/contracts/{contract['id']}/close"), 403, "permission_denied")
        problem(post(client, f"/api/v1/contracts/{contract['id']}/change-orders", co_body), 403, "permission_denied")
    outsider = clients["outsider"]
    problem(post(outsider, "/api/v1/contracts", body), 404, "project_not_found")
    problem(post(outsider, f"/api/v1/contracts/{draft['id']}/execute"), 404, "contract_not_found")
    problem(post(outsider, f"/api/v1/contracts/{contract['id']}/change-orders", co_body), 404, "contract_not_found")
    assert rows() == before


def test_change_order_decisions_follow_the_matrix_and_segregation(world, vendor, readers):
    contract = create(world, vendor, ("1.1", "1000.00"), nte="1000.00", execute=True)
    change = change_order(world, contract, ("1.1", "500.00"))
    c = {name: client_for(user) for name, user in {**world.people, **readers}.items()}
    pm = ProjectRole.PROJECT_MANAGER
    before = rows()
    problem(decide(c["pm"], change, pm), 403, "approval_submitter_cannot_approve")
    problem(decide(c["own"], change, pm), 403, "approval_role_missing")
    problem(decide(c["other"], change, pm), 403, "permission_denied")  # cannot even read it
    problem(decide(c["outsider"], change, pm), 404, "change_order_not_found")
    problem(decide(c["fin"], change, ProjectRole.FINANCE_REVIEWER), 409, "approval_not_in_turn")
    problem(decide(c["dao1"], change, ProjectRole.DAO_MULTISIG), 409, "approval_stage_not_required")
    # A second PM who also acts for the contract's vendor decides nothing on it.
    ProjectRoleFactory(project=world.project, user=world.people["pm2"], role=ProjectRole.VENDOR, vendor=vendor)
    problem(decide(c["pm2"], change, pm), 403, "approval_vendor_conflict")
    assert rows() == before


# --------------------------------------------------------------------------------------------------------------
# Idempotency and bad input
# --------------------------------------------------------------------------------------------------------------


def test_creating_a_contract_replays_with_the_same_idempotency_key(world, vendor):
    pm = client_for(world.people["pm"])
    body = contract_body(world, vendor, ("1.1", "1000.00"), nte="1000.00")
    first = post(pm, "/api/v1/contracts", body, **{"Idempotency-Key": "po-willow-1"})
    assert first.status_code == 201, first.content
    again = post(pm, "/api/v1/contracts", body, **{"Idempotency-Key": "po-willow-1"})
    assert (again.status_code, again["Idempotent-Replayed"]) == (201, "true")
    assert again.json() == first.json()
    assert Contract.objects.count() == 1
    assert AuditEvent.objects.filter(action="contract.created").count() == 1
    changed = {**body, "title": "Another title"}
    problem(post(pm, "/api/v1/contracts", changed, **{"Idempotency-Key": "po-willow-1"}), 409, "idempotency_key_reused")
    execute = f"/api/v1/contracts/{first.json()['id']}/execute"
    executed = post(pm, execute, **{"Idempotency-Key": "po-willow-1-execute"})
    replayed = post(pm, execute, **{"Idempotency-Key": "po-willow-1-execute"})
    assert (replayed["Idempotent-Replayed"], replayed.json()) == ("true", executed.json())
    assert Contract.objects.count() == 1


def _other_org_vendor(world, vendor) -> str:
    return str(VendorFactory().pk)


BAD_CONTRACTS = [
    ("float retention", {"retention_percent": 10.0}, 422, "validation_error"),
    ("integer retention", {"retention_percent": 10}, 422, "validation_error"),
    ("retention with 3 decimals", {"retention_percent": "10.001"}, 422, "validation_error"),
    ("retention above 100", {"retention_percent": "100.01"}, 422, "contract_invalid"),
    ("negative NTE", {"not_to_exceed": money("-1000.00")}, 422, "contract_invalid"),
    ("zero NTE", {"not_to_exceed": money("0.00")}, 422, "contract_invalid"),
    ("float NTE", {"not_to_exceed": {"amount": 1000.0, "currency": "USD"}}, 422, "validation_error"),
    ("allocations short of the NTE", {"not_to_exceed": money("1000.01")}, 422, "contract_allocation_mismatch"),
    (
        "allocations above the NTE",
        {"allocations": [("1.1", "600.00"), ("1.2", "500.00")]},
        422,
        "contract_allocation_mismatch",
    ),
    ("a line listed twice", {"allocations": [("1.1", "500.00"), ("1.1", "500.00")]}, 422, "contract_invalid"),
    ("a negative allocation", {"allocations": [("1.1", "1500.00"), ("1.2", "-500.00")]}, 422, "contract_invalid"),
    ("no allocations", {"allocations": []}, 422, "validation_error"),
    ("unknown budget line", {"allocations": [("unknown", "1000.00")]}, 404, "budget_line_not_found"),
    ("wrong currency", {"not_to_exceed": money("1000.00", "EUR")}, 422, "contract_currency_mismatch"),
    ("unknown currency", {"not_to_exceed": money("1000.00", "ZZZ")}, 422, "currency_unknown"),
    ("too many decimals", {"not_to_exceed": money("1000.001")}, 422, "money_invalid"),
    ("huge amount", {"not_to_exceed": money("1" + "0" * 30)}, 422, "money_invalid"),
    ("unknown vendor", {"vendor_id": "unknown"}, 422, "contract_vendor_invalid"),
    ("another organization's vendor", {"vendor_id": _other_org_vendor}, 422, "contract_vendor_invalid"),
    ("unknown project", {"project_id": "unknown"}, 404, "project_not_found"),
    ("execute in the same request", {"execute": True}, 422, "validation_error"),
    ("blank title", {"title": "   "}, 422, "contract_invalid"),
    ("NUL in the title", {"title": "Planting\x00"}, 422, "validation_error"),
    ("NUL in the scope", {"scope": "Plant\x00"}, 422, "validation_error"),
    ("ends before it starts", {"start_date": "2026-05-01", "end_date": "2026-04-30"}, 422, "contract_invalid"),
    ("unknown terms", {"payment_terms": {"kind": "net_60"}}, 422, "validation_error"),
    ("net terms without days", {"payment_terms": {"kind": "net_days"}}, 422, "contract_invalid"),
    ("net days past a year", {"payment_terms": {"kind": "net_days", "net_days": 366}}, 422, "validation_error"),
    (
        "a discount on net terms",
        {"payment_terms": {"kind": "net_days", "net_days": 30, "discount_percent": "2"}},
        422,
        "validation_error",
    ),
    (
        "a float discount",
        {"payment_terms": {"kind": "early_pay", "net_days": 30, "discount_percent": 2.0, "discount_days": 10}},
        422,
        "validation_error",
    ),
    (
        "a discount period past the net days",
        {"payment_terms": {"kind": "early_pay", "net_days": 10, "discount_percent": "2", "discount_days": 20}},
        422,
        "contract_invalid",
    ),
    ("a PO number too long", {"number": "PO-" + "9" * 40}, 422, "validation_error"),
]


@pytest.mark.parametrize(("case", "change", "status", "code"), BAD_CONTRACTS, ids=[c[0] for c in BAD_CONTRACTS])
def test_bad_contracts_are_refused_with_a_code_and_write_nothing(world, vendor, case, change, status, code):
    body = contract_body(world, vendor, ("1.1", "1000.00"), nte="1000.00")
    for key, value in change.items():
        if key == "allocations":
            value = [
                {
                    "budget_line_id": str(uuid.uuid4() if line == "unknown" else world.line(line).pk),
                    "amount": money(amount),
                }
                for line, amount in value
            ]
        elif value == "unknown":
            value = str(uuid.uuid4())
        elif callable(value):
            value = value(world, vendor)
        body[key] = value
    pm = client_for(world.people["pm"])
    key = "bad-" + case.replace(" ", "-").replace("'", "")
    before = rows()
    response = post(pm, "/api/v1/contracts", body, **{"Idempotency-Key": key})
    problem(response, status, code)
    assert rows() == before
    assert project_figures(world).available == usd("150000.00")


def test_a_taken_po_number_is_a_conflict(world, vendor):
    create(world, vendor, ("1.1", "10.00"), nte="10.00", number="PO-7")
    pm = client_for(world.people["pm"])
    before = rows()
    body = contract_body(world, vendor, ("1.1", "10.00"), nte="10.00", number=" PO-7 ")
    problem(post(pm, "/api/v1/contracts", body), 409, "contract_number_taken")
    assert rows() == before


def test_bad_change_orders_and_decisions_are_refused_and_write_nothing(world, vendor):
    pm, pm2 = client_for(world.people["pm"]), client_for(world.people["pm2"])
    contract = create(world, vendor, ("1.1", "8000.00"), nte="8000.00", execute=True)
    draft = create(world, vendor, ("1.2", "100.00"), nte="100.00")
    change = change_order(world, contract, ("1.1", "100.00"))
    line_1, line_2 = str(world.line("1.1").pk), str(world.line("1.2").pk)

    def co(*lines: tuple[str, str], reason: str = "More") -> dict:
        return {"reason": reason, "lines": [{"budget_line_id": line, "delta": money(delta)} for line, delta in lines]}

    url = f"/api/v1/contracts/{contract['id']}/change-orders"
    refused_change_orders = [
        (url, co((line_1, "100.00"), (line_2, "-100.00")), 422, "change_order_invalid"),  # cancels out
        (url, co((line_1, "0.00")), 422, "change_order_invalid"),
        (url, co((line_1, "-8000.01")), 409, "change_order_release_exceeded"),
        (url, co((line_2, "-1.00")), 409, "change_order_release_exceeded"),  # nothing allocated on 1.2
        (url, co((str(uuid.uuid4()), "1.00")), 404, "budget_line_not_found"),
        (url, co((line_1, "1.00"), (line_1, "2.00")), 422, "change_order_invalid"),
        (url, co((line_1, "100.00")) | {"reason": " "}, 422, "change_order_invalid"),
        (url, co((line_1, "100.00")) | {"reason": "More\x00"}, 422, "validation_error"),
        (url, co((line_1, "1" + "0" * 30)), 422, "money_invalid"),
        (url, co((line_1, "100.00")) | {"lines": []}, 422, "validation_error"),
        (
            url,
            {"reason": "More", "lines": [{"budget_line_id": line_1, "delta": money("1.00", "EUR")}]},
            422,
            "contract_currency_mismatch",
        ),
        (f"/api/v1/contracts/{draft['id']}/change-orders", co((line_2, "1.00")), 409, "contract_state_invalid"),
        (f"/api/v1/contracts/{uuid.uuid4()}/change-orders", co((line_2, "1.00")), 404, "contract_not_found"),
    ]
    decisions = f"/api/v1/change-orders/{change['id']}/decisions"
    refused_decisions = [
        ({"role": "PROJECT_MANAGER", "decision": "approved", "note": "ok\x00"}, 422, "validation_error"),
        ({"role": "PROJECT_MANAGER", "decision": "maybe"}, 422, "validation_error"),
        ({"role": "KING", "decision": "approved"}, 422, "validation_error"),
        ({"role": "PROJECT_MANAGER", "decision": "approved", "chain_id": 2**64}, 422, "validation_error"),
        ({"role": "PROJECT_MANAGER", "decision": "approved", "signature": "0x" + "a" * 200}, 422, "validation_error"),
    ]
    before = rows()
    for target, body, status, code in refused_change_orders:
        problem(post(pm, target, body), status, code)
    for body, status, code in refused_decisions:
        problem(post(pm2, decisions, body), status, code)
    problem(
        post(
            pm2, f"/api/v1/change-orders/{uuid.uuid4()}/decisions", {"role": "PROJECT_MANAGER", "decision": "approved"}
        ),
        404,
        "change_order_not_found",
    )
    for query in (
        "chain_id=0",
        "chain_id=abc",
        f"chain_id={2**64}",
        "chain_id=1&role=KING",
        "chain_id=1&decision=returned",
        "",
    ):
        problem(pm.get(f"/api/v1/change-orders/{change['id']}/typed-data?{query}"), 422, "validation_error")
    assert rows() == before
