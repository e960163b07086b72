"""``/api/v1/invoices``: submit and read with exact figures, the status flow through bands 2 and 3 (DAO signatures
from the typed-data endpoint), return for revision and resubmission, lists, who sees what, idempotency keys,
refusals that write nothing, attachments."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import struct
import uuid
import zlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from eth_account.messages import encode_typed_data

from payor.accounts.models import User
from payor.accounts.services import api_token_create
from payor.approvals.decisions import decision_typed_data
from payor.approvals.models import ApprovalDecision
from payor.audit.models import AuditEvent
from payor.invoices.models import Invoice, InvoiceAttachment
from payor.invoices.services import invoice_item
from payor.invoices.tests.conftest import CHAIN, DAO, FIN, PM, TREAS, Billing, contract_for, state, usd, vendor_user_for
from payor.ledger.models import Transfer
from payor.projects.services import budget_line_create
from payor.rbac.roles import ProjectRole
from payor.testing.factories import ProjectFactory, ProjectRoleFactory, UserFactory, VendorFactory
from payor.vendors.tests.conftest import compliant

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
URL = "/api/v1/invoices"


# -- helpers ------------------------------------------------------------------------------------------------


def client_for(user: User) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(email=user.email, name='tests').secret}")


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == code, body
    return body


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.content
    return response.json()


def m(amount: str, currency: str = "USD") -> dict:
    return {"amount": amount, "currency": currency}


def amounts(items: list[dict], key: str) -> list[str]:
    return [item[key]["amount"] for item in items]


def coding(billing: Billing, **parts: str) -> list[dict]:
    """``coding(billing, **{"1.1": "10.00"})``: coding rows by WBS code."""
    return [{"budget_line_id": str(billing.line_id(code)), "amount": m(amount)} for code, amount in parts.items()]


def sov_body(billing: Billing, **overrides: object) -> dict:
    """The 3-line SOV worked example of test_worked_examples (subtotal 12,778.92, band 2)."""
    body: dict = {
        "contract_id": str(billing.contract.pk),
        "period_start": "2026-10-01",
        "period_end": "2026-10-31",
        "vendor_reference": "WCR-2026-014",
        "description": "October progress",
        "lines": [
            {
                "item_code": "1",
                "description": "Site preparation and invasive removal",
                "scheduled_value": m("12000.00"),
                "this_period": m("3333.35"),
            },
            {
                "item_code": "2",
                "description": "Live-stake planting",
                "scheduled_value": m("20001.00"),
                "percent_complete": "41.67",
            },
            {
                "item_code": "3",
                "description": "Erosion-control matting",
                "scheduled_value": m("8000.00"),
                "this_period": m("1111.15"),
            },
        ],
        "coding": coding(billing, **{"1.1": "11667.77", "1.2": "1111.15"}),
        "retention": m("1277.89"),
        "total": m("12778.92"),
    }
    body.update(overrides)
    return body


def small_body(
    billing: Billing, amount: str = "1000.00", *, contract=None, item_code: str = "9", **overrides: object
) -> dict:
    """One SOV line billing ``amount`` coded to 1.1 (band 1 below 10,000.00)."""
    body: dict = {
        "contract_id": str((contract or billing.contract).pk),
        "period_start": "2026-10-01",
        "period_end": "2026-10-31",
        "lines": [
            {
                # Not one of sov_body's items (an item keeps its scheduled value), and with them within the NTE.
                "item_code": item_code,
                "description": "Site preparation",
                "scheduled_value": m("4000.00"),
                "this_period": m(amount),
            }
        ],
        "coding": coding(billing, **{"1.1": amount}),
    }
    body.update(overrides)
    return body


def post_invoice(client: Client, body: dict, key: str | None = None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(URL, data=body, content_type="application/json", **headers)


def set_status(client: Client, invoice_id: str, status: str, role: str, key: str | None = None, **fields: object):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.patch(
        f"{URL}/{invoice_id}/status",
        data={"status": status, "role": role, **fields},
        content_type="application/json",
        **headers,
    )


def typed_data(client: Client, invoice_id: str, decision: str = "approved") -> dict:
    return ok(
        client.get(f"{URL}/{invoice_id}/typed-data", {"role": DAO.value, "decision": decision, "chain_id": CHAIN})
    )


def sign(billing: Billing, name: str, typed: dict) -> str:
    return "0x" + billing.world.keys[name].sign_message(encode_typed_data(full_message=typed)).signature.hex()


def pdf_bytes(text: str = "SOV") -> bytes:
    body = f"1 0 obj << /Type /Catalog >> endobj\n% {text}\n".encode()
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + body + b"trailer << /Root 1 0 R >>\n%%EOF\n"


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")
    )


def attach(client: Client, invoice_id: str, content: bytes, name: str = "sov.pdf", description: str = "SOV"):
    upload = SimpleUploadedFile(name, content, content_type="application/octet-stream")
    return client.post(f"{URL}/{invoice_id}/attachments", data={"file": upload, "description": description})


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    """Uploaded files go to a fresh directory per test."""
    root = tmp_path / "media"
    root.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": root}},
    }
    return root


@pytest.fixture
def readers(billing) -> dict[str, User]:
    """More people on the project: procurement, auditor, beneficiary, another vendor's user, a non-member."""
    world = billing.world
    people: dict[str, User] = {}
    for name, role in (
        ("proc", ProjectRole.PROCUREMENT),
        ("aud", ProjectRole.AUDITOR),
        ("ben", ProjectRole.BENEFICIARY),
    ):
        people[name] = UserFactory(email=f"{name}@example.test")
        ProjectRoleFactory(project=world.project, user=people[name], role=role)
    other = VendorFactory(organization=world.project.organization, name="Alder Ecological")
    people["other"] = vendor_user_for(world, other, email="billing@alder.test")
    people["outsider"] = UserFactory(email="outsider@example.test")
    return people


@pytest.fixture
def vendor_api(billing) -> Client:
    return client_for(billing.vendor_user)


@pytest.fixture
def submitted(billing, vendor_api) -> dict:
    """The 3-line SOV invoice, submitted through the API."""
    return ok(post_invoice(vendor_api, sov_body(billing)), 201)


# -- submit and read ----------------------------------------------------------------------------------------


def test_submit_then_read_the_detail_with_exact_figures(billing, vendor_api, submitted):
    body = submitted
    assert (body["status"], body["round"], body["number"]) == ("submitted", 1, "INV-0001")
    assert body["vendor"] == {"id": str(billing.vendor.pk), "name": "Willow Creek Restoration"}
    assert body["contract"]["id"] == str(billing.contract.pk)
    names = ("subtotal", "taxes", "total", "retention", "withholds", "early_pay_discount", "net_payable", "fees")
    assert {name: body[name]["amount"] for name in (*names, "funds_required")} == {
        "subtotal": "12778.92",
        "taxes": "0.00",
        "total": "12778.92",
        "retention": "1277.89",
        "withholds": "0.00",
        "early_pay_discount": "230.02",
        "net_payable": "11271.01",
        "fees": "0.00",
        "funds_required": "12548.90",
    }
    assert body["net_payable"] == {"amount": "11271.01", "currency": "USD", "minor": 1127101}
    assert body["retention_percent"] == "10.00"
    assert body["payment_terms"] == {
        "kind": "early_pay",
        "net_days": 30,
        "discount_percent": "2.00",
        "discount_days": 10,
        "label": "2/10 net 30",
    }
    assert (body["due_on"], body["discount_until"]) == (None, None)  # set at approval
    lines = body["lines"]
    assert [line["item_code"] for line in lines] == ["1", "2", "3"]
    assert amounts(lines, "this_period") == ["3333.35", "8334.42", "1111.15"]
    assert [line["percent_complete"] for line in lines] == ["27.77", "41.67", "13.88"]
    assert amounts(lines, "retention") == ["333.33", "833.44", "111.12"]
    assert amounts(lines, "previous") == ["0.00", "0.00", "0.00"]
    assert amounts(lines, "billed_to_date") == ["3333.35", "8334.42", "1111.15"]
    assert amounts(lines, "balance_to_finish") == ["8666.65", "11666.58", "6888.85"]
    rows = body["coding"]
    assert [row["wbs_code"] for row in rows] == ["1.1", "1.2"]
    assert [row["description"] for row in rows] == ["Planting", "Monitoring"]
    assert amounts(rows, "amount") == ["11667.77", "1111.15"]
    assert amounts(rows, "gross") == ["11667.77", "1111.15"]
    assert amounts(rows, "retention") == ["1166.78", "111.11"]
    assert amounts(rows, "withholds") == ["0.00", "0.00"]

    # The vendor's own view: stage roles and statuses, no names, no ledger, no treasury figures.
    assert body["submitted_by"]["email"] == "billing@willow.test"
    plan = body["approval"]
    assert (plan["band"], plan["complete"], plan["next_role"]) == (2, False, PM.value)
    assert [(s["role"], s["status"], s["signed"], s["signers_required"]) for s in plan["stages"]] == [
        (PM.value, "next", 0, 1),
        (FIN.value, "waiting", 0, 1),
        (TREAS.value, "waiting", 0, 1),
    ]
    assert all(stage["signers"] is None and stage["eligible"] is None for stage in plan["stages"])
    assert (body["ledger"], body["funds"]) == (None, None)

    # The PM's view of the same invoice: who may sign next, the ledger effects, the funds block.
    detail = ok(client_for(billing.people["pm"]).get(f"{URL}/{body['id']}"))
    stages = detail["approval"]["stages"]
    assert [person["email"] for person in stages[0]["eligible"]] == ["pm2@example.test", "pm@example.test"]
    assert (stages[0]["signers"], stages[1]["eligible"]) == ([], None)
    effects = detail["ledger"]
    assert [(e["code"], e["from_account"], e["to_account"], e["wbs_code"], e["amount"]["amount"]) for e in effects] == [
        ("ENCUMBER", "committed", "encumbered", "1.1", "11667.77"),
        ("ENCUMBER", "committed", "encumbered", "1.2", "1111.15"),
    ]
    assert all(e["id"].startswith(f"invoice:{body['id']}:r1") and e["posted_at"] for e in effects)
    funds = detail["funds"]
    assert funds["bucket_available"]["amount"] == "105000.00"
    assert funds["funds_required"]["amount"] == "12548.90"
    assert (funds["encumbered"], funds["covered"]) == (True, True)
    assert [
        (f["wbs_code"], f["coded"]["amount"], f["remaining_commitment"]["amount"], f["fits"]) for f in funds["lines"]
    ] == [
        ("1.1", "11667.77", "18332.23", True),
        ("1.2", "1111.15", "13888.85", True),
    ]
    assert detail["timeline"] == []
    viewer_dependent = ("approval", "ledger", "funds")
    assert {k: v for k, v in detail.items() if k not in viewer_dependent} == {
        k: v for k, v in body.items() if k not in viewer_dependent
    }


def test_drafts_their_funds_block_and_submission(billing, vendor_api):
    fin = client_for(billing.people["fin"])
    draft = ok(post_invoice(vendor_api, sov_body(billing, submit=False)), 201)
    assert (draft["status"], draft["submitted_at"], draft["submitted_by"]) == ("draft", None, None)
    assert Transfer.objects.filter(invoice_id=draft["id"]).count() == 0
    seen = ok(fin.get(f"{URL}/{draft['id']}"))
    assert (seen["funds"]["encumbered"], seen["funds"]["covered"]) == (False, True)
    assert [f["remaining_commitment"]["amount"] for f in seen["funds"]["lines"]] == ["30000.00", "15000.00"]
    assert seen["approval"]["band"] == 2  # what it will need
    assert seen["approval"]["stages"][0]["eligible"] is None  # not in review: nobody signs yet

    submitted = ok(vendor_api.post(f"{URL}/{draft['id']}/submit"))
    assert submitted["status"] == "submitted"
    assert submitted["net_payable"]["amount"] == "11271.01"
    again = ok(vendor_api.post(f"{URL}/{draft['id']}/submit"))  # a double click encumbers once
    assert again["status"] == "submitted"
    assert Transfer.objects.filter(invoice_id=draft["id"], code="ENCUMBER").count() == 2

    # A draft whose payer fees exceed the bucket's available funds is not covered, and cannot be submitted.
    short = small_body(billing, "1000.00", vendor_reference="FEES", fees=m("105000.01"), submit=False)
    short = ok(post_invoice(vendor_api, short), 201)
    funds = ok(fin.get(f"{URL}/{short['id']}"))["funds"]
    assert (funds["bucket_available"]["amount"], funds["covered"]) == ("105000.00", False)
    assert [line["fits"] for line in funds["lines"]] == [True]
    before = state(billing)
    problem(vendor_api.post(f"{URL}/{short['id']}/submit"), 409, "insufficient_funds")
    assert state(billing) == before


# -- the status flow ----------------------------------------------------------------------------------------


def test_band_two_review_and_approvals_through_patch_status(billing, vendor_api, submitted):
    people, invoice_id = billing.people, submitted["id"]
    pm = client_for(people["pm"])
    body = ok(set_status(pm, invoice_id, "under_review", PM.value))
    assert body["status"] == "under_review"
    body = ok(set_status(pm, invoice_id, "approved", PM.value, note="Work verified on site"))
    assert body["status"] == "under_review"  # one stage of three
    assert [s["status"] for s in body["approval"]["stages"]] == ["done", "next", "waiting"]
    assert [p["email"] for p in body["approval"]["stages"][1]["eligible"]] == ["fin@example.test"]
    body = ok(set_status(client_for(people["fin"]), invoice_id, "approved", FIN.value))
    assert body["status"] == "under_review"
    body = ok(set_status(client_for(people["tre"]), invoice_id, "approved", TREAS.value))
    assert body["status"] == "approved"
    today = timezone.localdate()
    assert body["due_on"] == (today + dt.timedelta(days=30)).isoformat()
    assert body["discount_until"] == (today + dt.timedelta(days=10)).isoformat()
    assert body["approval"]["complete"] is True
    assert [(d["role"], d["decision"], d["approver"]["email"], d["round"]) for d in body["timeline"]] == [
        (PM.value, "approved", "pm@example.test", 1),
        (FIN.value, "approved", "fin@example.test", 1),
        (TREAS.value, "approved", "tre@example.test", 1),
    ]
    assert body["timeline"][0]["note"] == "Work verified on site"
    codes = [effect["code"] for effect in body["ledger"]]
    assert codes == ["ENCUMBER", "ENCUMBER", "RETAIN", "RETAIN"]
    assert [e["amount"]["amount"] for e in body["ledger"] if e["code"] == "RETAIN"] == ["1166.78", "111.11"]

    # The vendor sees the decisions (role, note, time) but not who made them.
    mine = ok(vendor_api.get(f"{URL}/{invoice_id}"))
    assert [(d["role"], d["decision"], d["approver"], d["signer_address"]) for d in mine["timeline"]] == [
        (PM.value, "approved", None, None),
        (FIN.value, "approved", None, None),
        (TREAS.value, "approved", None, None),
    ]
    assert mine["timeline"][0]["note"] == "Work verified on site"
    assert all(stage["signers"] is None for stage in mine["approval"]["stages"])
    assert "example.test" not in str(mine)


def test_band_three_with_dao_signatures_from_the_typed_data_endpoint(billing, vendor_api):
    world, people = billing.world, billing.people
    big = contract_for(
        world,
        billing.vendor,
        nte="60000.00",
        allocations=[world.alloc("1.1", "40000.00"), world.alloc("1.2", "20000.00")],
    )
    body = small_body(billing, contract=big, vendor_reference="WCR-BIG-1")
    body["lines"] = [
        {"item_code": "A", "description": "Planting", "scheduled_value": m("60000.00"), "this_period": m("55000.00")}
    ]
    body["coding"] = coding(billing, **{"1.1": "40000.00", "1.2": "15000.00"})
    invoice = ok(post_invoice(vendor_api, body), 201)
    invoice_id = invoice["id"]
    assert invoice["approval"]["band"] == 3
    for name, role in (("pm", PM), ("fin", FIN), ("tre", TREAS)):
        ok(set_status(client_for(people[name]), invoice_id, "approved", role.value))

    dao1, dao2 = client_for(people["dao1"]), client_for(people["dao2"])
    typed = typed_data(dao1, invoice_id)
    stored = Invoice.objects.select_related("project", "submitted_by").get(pk=invoice_id)
    assert typed == decision_typed_data(
        item=invoice_item(stored), role=DAO.value, decision="approved", chain_id=CHAIN, matrix_version=1
    )
    assert typed["message"]["amount"] == "55000.00"
    assert typed["message"]["amountMinor"] == 5500000

    # A DAO stage needs a signature; one by another signer's wallet is refused. Nothing is written either way.
    before = state(billing)
    problem(set_status(dao1, invoice_id, "approved", DAO.value), 422, "approval_signature_required")
    problem(
        set_status(dao1, invoice_id, "approved", DAO.value, chain_id=CHAIN, signature=sign(billing, "dao2", typed)),
        403,
        "approval_signer_not_linked",
    )
    assert state(billing) == before

    body = ok(
        set_status(dao1, invoice_id, "approved", DAO.value, chain_id=CHAIN, signature=sign(billing, "dao1", typed))
    )
    assert body["status"] == "under_review"  # 1 of 2 signatures
    dao_stage = body["approval"]["stages"][3]
    assert (dao_stage["role"], dao_stage["signed"], dao_stage["signers_required"], dao_stage["signers_of"]) == (
        DAO.value,
        1,
        2,
        3,
    )
    assert [p["email"] for p in dao_stage["eligible"]] == ["dao2@example.test"]
    typed = typed_data(dao2, invoice_id)
    body = ok(
        set_status(dao2, invoice_id, "approved", DAO.value, chain_id=CHAIN, signature=sign(billing, "dao2", typed))
    )
    assert body["status"] == "approved"
    signed = [d for d in body["timeline"] if d["role"] == DAO.value]
    assert [(d["approver"]["email"], d["signer_address"].lower(), d["chain_id"]) for d in signed] == [
        ("dao1@example.test", world.keys["dao1"].address.lower(), CHAIN),
        ("dao2@example.test", world.keys["dao2"].address.lower(), CHAIN),
    ]
    assert [d["signer_address"] for d in ok(vendor_api.get(f"{URL}/{invoice_id}"))["timeline"]] == [None] * 5


def test_return_for_revision_then_put_and_resubmit_in_round_two(billing, vendor_api):
    people = billing.people
    invoice_id = ok(post_invoice(vendor_api, small_body(billing, "1000.00")), 201)["id"]
    pm = client_for(people["pm"])
    before = state(billing)
    problem(set_status(pm, invoice_id, "draft", PM.value), 422, "approval_note_required")
    assert state(billing) == before
    body = ok(set_status(pm, invoice_id, "draft", PM.value, note="Attach the October timecards"))
    assert (body["status"], body["round"], body["return_note"]) == ("draft", 2, "Attach the October timecards")
    assert [e["code"] for e in body["ledger"]] == ["ENCUMBER", "RELEASE"]
    assert (body["funds"]["encumbered"], body["funds"]["covered"]) == (False, True)
    assert body["funds"]["lines"][0]["remaining_commitment"]["amount"] == "30000.00"
    assert [s["status"] for s in body["approval"]["stages"]] == ["next", "waiting"]

    revised = small_body(billing, "1500.00", vendor_reference="WCR-2026-015")
    del revised["contract_id"]
    body = ok(vendor_api.put(f"{URL}/{invoice_id}", data=revised, content_type="application/json"))
    assert (body["status"], body["subtotal"]["amount"], body["vendor_reference"]) == (
        "draft",
        "1500.00",
        "WCR-2026-015",
    )
    body = ok(vendor_api.post(f"{URL}/{invoice_id}/submit"))
    assert (body["status"], body["round"]) == ("submitted", 2)
    assert body["approval"]["stages"][0]["status"] == "next"  # round 2 needs every stage again
    ok(set_status(pm, invoice_id, "approved", PM.value))
    body = ok(set_status(client_for(people["fin"]), invoice_id, "approved", FIN.value))
    assert body["status"] == "approved"
    assert [(d["round"], d["role"], d["decision"]) for d in body["timeline"]] == [
        (1, PM.value, "returned"),
        (2, PM.value, "approved"),
        (2, FIN.value, "approved"),
    ]
    assert body["funds"]["lines"][0]["remaining_commitment"]["amount"] == "28500.00"


def test_reject_and_withdraw(billing, vendor_api):
    first = ok(post_invoice(vendor_api, small_body(billing, "1000.00", vendor_reference="A")), 201)["id"]
    second = ok(post_invoice(vendor_api, small_body(billing, "2000.00", vendor_reference="B")), 201)["id"]
    body = ok(set_status(client_for(billing.people["pm"]), first, "rejected", PM.value, note="Not our scope"))
    assert (body["status"], body["rejection_reason"]) == ("rejected", "Not our scope")
    assert (body["funds"]["encumbered"], body["funds"]["covered"]) == (False, None)
    body = ok(
        vendor_api.post(f"{URL}/{second}/withdraw", data={"note": "Wrong period"}, content_type="application/json")
    )
    assert (body["status"], body["round"], body["return_note"]) == ("draft", 2, "Wrong period")
    assert sorted(Transfer.objects.filter(invoice_id__in=[first, second]).values_list("code", flat=True)) == [
        "ENCUMBER",
        "ENCUMBER",
        "RELEASE",
        "RELEASE",
    ]


# -- lists --------------------------------------------------------------------------------------------------


def test_list_filters_and_pagination(billing, vendor_api, readers):
    world, people = billing.world, billing.people
    other = compliant(
        VendorFactory(organization=world.project.organization, name="Birch Surveys"), coi_until=dt.date(2099, 12, 31)
    )
    other_user = vendor_user_for(world, other, email="billing@birch.test")
    other_contract = contract_for(
        world, other, nte="20000.00", allocations=[world.alloc("1.1", "10000.00"), world.alloc("1.2", "10000.00")]
    )
    a = ok(post_invoice(vendor_api, small_body(billing, "1000.00", vendor_reference="A")), 201)
    b = ok(post_invoice(vendor_api, small_body(billing, "2000.00", vendor_reference="B", submit=False)), 201)
    c = ok(post_invoice(client_for(other_user), small_body(billing, "3000.00", contract=other_contract)), 201)
    d = ok(post_invoice(vendor_api, small_body(billing, "4000.00", item_code="8", vendor_reference="D")), 201)
    ok(set_status(client_for(people["pm"]), d["id"], "approved", PM.value))
    d = ok(set_status(client_for(people["fin"]), d["id"], "approved", FIN.value))
    assert d["status"] == "approved"

    fin = client_for(people["fin"])

    def ids(query: str = "", client: Client = fin) -> list[str]:
        return [item["id"] for item in ok(client.get(f"{URL}{query}"))["results"]]

    assert ids() == [d["id"], c["id"], b["id"], a["id"]]  # newest first
    item = ok(fin.get(URL))["results"][0]
    assert item == {
        "id": d["id"],
        "number": "INV-0004",
        "project_id": str(world.project.pk),
        "vendor": {"id": str(billing.vendor.pk), "name": "Willow Creek Restoration"},
        "contract": {
            "id": str(billing.contract.pk),
            "number": billing.contract.number,
            "title": billing.contract.title,
        },
        "vendor_reference": "D",
        "period_start": "2026-10-01",
        "period_end": "2026-10-31",
        "status": "approved",
        "round": 1,
        "total": {"amount": "4000.00", "currency": "USD", "minor": 400000},
        "net_payable": {"amount": "3528.00", "currency": "USD", "minor": 352800},  # 4,000 - 400 - 2 % of 3,600
        "due_on": d["due_on"],
        "submitted_at": d["submitted_at"],
    }
    assert ids("?status=draft") == [b["id"]]
    assert ids("?status=draft,approved") == [d["id"], b["id"]]
    assert ids("?status=draft&status=submitted") == [c["id"], b["id"], a["id"]]
    assert ids(f"?vendor_id={other.pk}") == [c["id"]]
    assert ids(f"?contract_id={billing.contract.pk}&status=submitted") == [a["id"]]
    assert ids(f"?project_id={world.project.pk}") == [d["id"], c["id"], b["id"], a["id"]]
    due = dt.date.fromisoformat(d["due_on"])
    assert ids(f"?due_before={due}") == [d["id"]]
    assert ids(f"?due_before={due - dt.timedelta(days=1)}") == []
    assert ids(f"?due_after={due}") == [d["id"]]
    assert ids(f"?due_after={due + dt.timedelta(days=1)}") == []
    assert ids(f"?vendor_id={uuid.uuid4()}") == []

    first = ok(fin.get(f"{URL}?page_size=3"))
    assert [i["id"] for i in first["results"]] == [d["id"], c["id"], b["id"]]
    second = ok(fin.get(first["next"]))
    assert [i["id"] for i in second["results"]] == [a["id"]]
    assert second["next"] is None

    # Each viewer lists what they may see.
    assert ids(client=vendor_api) == [d["id"], b["id"], a["id"]]
    assert ids(client=client_for(other_user)) == [c["id"]]
    assert ids(client=client_for(readers["other"])) == []
    assert ids(client=client_for(readers["aud"])) == [d["id"], c["id"], b["id"], a["id"]]
    for name in ("ben", "proc", "outsider"):
        assert ids(client=client_for(readers[name])) == []
    problem(client_for(readers["ben"]).get(f"{URL}?project_id={world.project.pk}"), 403, "permission_denied")
    problem(client_for(readers["outsider"]).get(f"{URL}?project_id={world.project.pk}"), 404, "project_not_found")
    problem(fin.get(f"{URL}?project_id={ProjectFactory().pk}"), 404, "project_not_found")
    problem(fin.get(f"{URL}?status=paid,bogus"), 422, "validation_error")
    problem(fin.get(f"{URL}?due_before=tomorrow"), 422, "validation_error")
    problem(fin.get(f"{URL}?cursor=garbage"), 422, "validation_error")


# -- who sees what ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status", "internal"),
    [
        ("vendor", 200, False),
        ("other", 404, None),
        ("pm", 200, True),
        ("fin", 200, True),
        ("tre", 200, True),
        ("dao1", 200, True),
        ("aud", 200, True),
        # Procurement (budgets, contracts, vendors) and beneficiaries (totals only) hold neither invoice.view_all
        # nor invoice.view_own: the invoice does not exist for them, like for a non-member.
        ("proc", 404, None),
        ("ben", 404, None),
        ("outsider", 404, None),
    ],
)
def test_who_reads_an_invoice(billing, readers, submitted, who, status, internal):
    user = billing.vendor_user if who == "vendor" else billing.people.get(who) or readers[who]
    client = client_for(user)
    invoice_id = submitted["id"]
    response = client.get(f"{URL}/{invoice_id}")
    if status == 404:
        problem(response, 404, "invoice_not_found")
        problem(client.get(f"{URL}/{uuid.uuid4()}"), 404, "invoice_not_found")  # same answer: no leak
        problem(client.get(f"{URL}/{invoice_id}/typed-data?chain_id=1"), 404, "invoice_not_found")
        before = state(billing)
        problem(set_status(client, invoice_id, "approved", PM.value), 404, "invoice_not_found")
        problem(client.post(f"{URL}/{invoice_id}/submit"), 404, "invoice_not_found")
        problem(attach(client, invoice_id, pdf_bytes()), 404, "invoice_not_found")
        assert state(billing) == before
        return
    body = ok(response)
    assert (body["ledger"] is not None, body["funds"] is not None) == (internal, internal)
    assert (body["approval"]["stages"][0]["eligible"] is not None) == internal


def test_writes_by_the_wrong_people_are_refused_and_write_nothing(billing, readers, submitted):
    people, invoice_id = billing.people, submitted["id"]
    pm, fin, auditor, other = (
        client_for(user) for user in (people["pm"], people["fin"], readers["aud"], readers["other"])
    )
    vendor = client_for(billing.vendor_user)
    before = state(billing)
    # Only the vendor's users enter invoices; the PM sees the contract but may not submit on it.
    problem(post_invoice(pm, sov_body(billing, vendor_reference="X")), 403, "permission_denied")
    # Another vendor's user cannot see the contract.
    problem(post_invoice(other, sov_body(billing, vendor_reference="X")), 404, "contract_not_found")
    # An auditor reads but never decides; the vendor cannot approve its own invoice.
    problem(set_status(auditor, invoice_id, "approved", PM.value), 403, "approval_role_missing")
    problem(set_status(vendor, invoice_id, "approved", PM.value), 403, "approval_submitter_cannot_approve")
    # The finance stage is not next.
    problem(set_status(fin, invoice_id, "approved", FIN.value), 409, "approval_not_in_turn")
    problem(set_status(fin, invoice_id, "under_review", FIN.value), 403, "approval_not_allowed")
    problem(pm.post(f"{URL}/{invoice_id}/withdraw", data={}, content_type="application/json"), 403, "permission_denied")
    problem(
        pm.put(f"{URL}/{invoice_id}", data=small_body(billing), content_type="application/json"),
        422,
        "validation_error",
    )
    assert state(billing) == before


# -- idempotency keys ---------------------------------------------------------------------------------------


def test_a_repeated_post_with_its_idempotency_key_replays_and_encumbers_once(billing, vendor_api):
    body = sov_body(billing)
    first = post_invoice(vendor_api, body, key="inv-2026-014")
    second = post_invoice(vendor_api, body, key="inv-2026-014")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert Invoice.objects.count() == 1
    assert Transfer.objects.filter(code="ENCUMBER").count() == 2  # one per coded line, once
    assert AuditEvent.objects.filter(action="invoice.submitted").count() == 1
    problem(
        post_invoice(vendor_api, sov_body(billing, description="changed"), key="inv-2026-014"),
        409,
        "idempotency_key_reused",
    )
    assert Invoice.objects.count() == 1


def test_a_repeated_patch_status_with_its_idempotency_key_replays(billing, submitted):
    pm = client_for(billing.people["pm"])
    first = set_status(pm, submitted["id"], "approved", PM.value, key="approve-1")
    second = set_status(pm, submitted["id"], "approved", PM.value, key="approve-1")
    assert first.status_code == second.status_code == 200, second.content
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert ApprovalDecision.objects.filter(target_id=submitted["id"]).count() == 1
    assert AuditEvent.objects.filter(action="approval.approved").count() == 1
    # Without the key, the same request runs again and is refused: the PM stage is done.
    problem(set_status(pm, submitted["id"], "approved", PM.value), 409, "approval_not_in_turn")


# -- refusals write nothing ---------------------------------------------------------------------------------


def _line(body: dict, index: int = 0, **fields: object) -> dict:
    body["lines"][index].update(fields)
    return body


BAD_BODIES = [
    ("negative amount", lambda b, x: _line(b, 0, this_period=m("-3333.35")), 422, "invoice_invalid"),
    (
        "float amount",
        lambda b, x: _line(b, 0, this_period={"amount": 3333.35, "currency": "USD"}),
        422,
        "validation_error",
    ),
    ("float percent", lambda b, x: _line(b, 1, percent_complete=41.67), 422, "validation_error"),
    ("percent out of range", lambda b, x: _line(b, 1, percent_complete="141.67"), 422, "invoice_sov_invalid"),
    ("both amount and percent", lambda b, x: _line(b, 0, percent_complete="10"), 422, "invoice_sov_invalid"),
    ("wrong currency", lambda b, x: _line(b, 0, this_period=m("3333.35", "EUR")), 422, "invoice_currency_mismatch"),
    ("unknown currency", lambda b, x: _line(b, 0, this_period=m("3333.35", "XYZ")), 422, "currency_unknown"),
    ("huge amount", lambda b, x: _line(b, 0, this_period=m("1000000000000000.01")), 422, "money_invalid"),
    ("over scheduled", lambda b, x: _line(b, 0, this_period=m("12000.01")), 422, "invoice_sov_over_scheduled"),
    ("NUL in an item code", lambda b, x: _line(b, 0, item_code="1\x00"), 422, "validation_error"),
    ("unknown field", lambda b, x: b | {"approved": True}, 422, "validation_error"),
    ("no lines", lambda b, x: b | {"lines": []}, 422, "validation_error"),
    (
        "coding short of the subtotal",
        lambda b, x: b | {"coding": coding(x, **{"1.1": "11667.77", "1.2": "1111.14"})},
        422,
        "invoice_coding_mismatch",
    ),
    (
        "unknown budget line",
        lambda b, x: b | {"coding": [{"budget_line_id": str(uuid.uuid4()), "amount": m("12778.92")}]},
        422,
        "invoice_coding_line_unknown",
    ),
    (
        "line not on the contract",
        lambda b, x: b | {"coding": [{"budget_line_id": str(x.world.lines["2"].pk), "amount": m("12778.92")}]},
        422,
        "invoice_coding_line_not_on_contract",
    ),
    ("stated retention off by a cent", lambda b, x: b | {"retention": m("1277.90")}, 422, "invoice_retention_mismatch"),
    ("stated total off by a cent", lambda b, x: b | {"total": m("12778.93")}, 422, "invoice_total_mismatch"),
    ("period in the future", lambda b, x: b | {"period_end": "2999-01-31"}, 422, "invoice_period_invalid"),
    ("unknown contract", lambda b, x: b | {"contract_id": str(uuid.uuid4())}, 404, "contract_not_found"),
]


@pytest.mark.parametrize(("case", "change", "status", "code"), BAD_BODIES, ids=[case[0] for case in BAD_BODIES])
def test_bad_input_is_refused_with_a_stable_code_and_writes_nothing(billing, vendor_api, case, change, status, code):
    world = billing.world
    world.lines["2"] = budget_line_create(
        actor=billing.people["pm"], project=world.project, wbs_code="2", description="Outreach", cap=usd("0.00")
    )
    before = state(billing)
    problem(
        post_invoice(vendor_api, change(sov_body(billing), billing), key="bad-" + case.replace(" ", "-")), status, code
    )
    assert state(billing) == before


def test_refused_status_changes_and_attachments_write_nothing(billing, vendor_api, submitted, settings):
    invoice_id = submitted["id"]
    draft_id = ok(post_invoice(vendor_api, small_body(billing, "10.00", vendor_reference="D", submit=False)), 201)["id"]
    pm = client_for(billing.people["pm"])
    before = state(billing)
    for target in ("paid", "submitted", "scheduled", "closed", "nonsense"):
        problem(set_status(pm, invoice_id, target, PM.value), 422, "invoice_status_invalid")
    problem(set_status(pm, invoice_id, "approved", "janitor"), 422, "validation_error")
    problem(set_status(pm, draft_id, "approved", PM.value), 409, "invoice_state_invalid")
    problem(set_status(pm, draft_id, "under_review", PM.value), 409, "invoice_state_invalid")
    problem(pm.get(f"{URL}/{draft_id}/typed-data?chain_id=1"), 409, "invoice_state_invalid")
    problem(pm.get(f"{URL}/{invoice_id}/typed-data?chain_id=0"), 422, "validation_error")
    problem(set_status(pm, invoice_id, "approved", PM.value, note="\x00"), 422, "validation_error")
    # Attachments: a GIF is not an accepted type, an empty file is refused, and so is anything over the limit.
    problem(
        attach(vendor_api, invoice_id, b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff", "photo.gif"),
        415,
        "file_type_not_allowed",
    )
    problem(attach(vendor_api, invoice_id, b"", "empty.pdf"), 422, "file_empty")
    settings.PAYOR_UPLOAD_MAX_BYTES = 100
    problem(attach(vendor_api, invoice_id, pdf_bytes("x" * 200)), 413, "file_too_large")
    assert state(billing) == before


# -- attachments --------------------------------------------------------------------------------------------


def test_attachments_upload_list_and_audited_download(billing, vendor_api, readers, submitted, media):
    invoice_id = submitted["id"]
    content = pdf_bytes("Schedule of values, October")
    added = ok(attach(vendor_api, invoice_id, content, "october sov.pdf", "Signed SOV"), 201)
    assert (added["original_filename"], added["content_type"], added["size"]) == (
        "october sov.pdf",
        "application/pdf",
        len(content),
    )
    assert added["sha256"] == hashlib.sha256(content).hexdigest()
    assert added["description"] == "Signed SOV"
    assert added["uploaded_by"]["email"] == "billing@willow.test"
    url = f"{URL}/{invoice_id}/attachments/{added['id']}"
    assert added["download_url"] == url
    photo = ok(attach(client_for(billing.people["pm"]), invoice_id, png_bytes(), "site.png", "Site photo"), 201)

    detail = ok(client_for(billing.people["fin"]).get(f"{URL}/{invoice_id}"))
    assert [(a["id"], a["uploaded_by"]["email"]) for a in detail["attachments"]] == [
        (added["id"], "billing@willow.test"),
        (photo["id"], "pm@example.test"),
    ]
    # The vendor sees the PM's upload, not who made it.
    mine = ok(vendor_api.get(f"{URL}/{invoice_id}"))
    assert [a["uploaded_by"] and a["uploaded_by"]["email"] for a in mine["attachments"]] == [
        "billing@willow.test",
        None,
    ]

    audits = AuditEvent.objects.filter(action="invoice.attachment_downloaded")
    for client in (client_for(billing.people["tre"]), vendor_api):
        response = client.get(url)
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == content
        assert response["Content-Type"] == "application/pdf"
        assert response["Repr-Digest"] == f"sha-256=:{base64.b64encode(hashlib.sha256(content).digest()).decode()}:"
        assert "attachment" in response["Content-Disposition"]
    assert audits.count() == 2
    event = audits.order_by("seq").first()
    assert (event.subject_id, event.project_id, event.after["sha256"]) == (
        added["id"],
        billing.world.project.pk,
        added["sha256"],
    )

    problem(client_for(readers["other"]).get(url), 404, "invoice_not_found")
    problem(vendor_api.get(f"{URL}/{invoice_id}/attachments/{uuid.uuid4()}"), 404, "invoice_attachment_not_found")
    # A file altered on disk is not served.
    stored = InvoiceAttachment.objects.get(pk=added["id"])
    (media / stored.file.name).write_bytes(pdf_bytes("tampered"))
    problem(vendor_api.get(url), 409, "invoice_attachment_integrity_failed")
    assert audits.count() == 2
