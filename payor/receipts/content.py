"""The frozen content of a self-billed receipt: every fact the CII, UBL and PDF are rendered from.

:func:`receipt_content` is called inside the transaction that executes (or reverses) a payment and must never
refuse: missing party data is carried as blank and reported by validation at render time, so a payment the rail
has made is always recorded. The result is plain JSON (stored on ``Receipt.content``): rendering later reads
nothing else, so the documents say what was true when the payment executed.

Amounts are integer minor units of the *stated* currency. EN 16931 requires ISO 4217 codes, and USDC is not
one: a USDC payment is stated in USD at 1 USDC = 1 USD (said in a note), its micro-units rounded half-even to
cents, the on-chain transaction hash staying the payment reference. Totals are derived from the rounded parts so
the EN 16931 sums hold.

VAT category (UNCL 5305) from the parties, so the EN 16931 rules pass:

* taxes charged by a VAT-registered seller → ``S`` (standard rate; the rate is taxes / net, two decimals);
* taxes charged by a seller without a VAT id (a US state's sales tax) → ``O`` below, the sales tax stated as a
  document-level charge that is itself not subject to VAT (the VAT total stays 0);
* no taxes, seller without a VAT id (a US contractor) → ``O``, not subject to VAT (``VATEX-EU-O``); the rules
  forbid any VAT id of either party on such an invoice (BR-O-02), so the buyer's VAT id is left out;
* no taxes, both parties with VAT ids in different countries → ``AE``, reverse charge (``VATEX-EU-AE``): the
  usual case of EU B2B cross-border self-billing;
* no taxes otherwise (a VAT-registered seller) → ``E``, exempt, with the exemption reason text.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from payor.core.money import Money

if TYPE_CHECKING:
    from payor.invoices.models import Invoice
    from payor.payments.models import Disbursement

Content = dict[str, Any]

#: Stated currency for codes that are not ISO 4217 (1:1 pegs).
STATED_CURRENCY: dict[str, str] = {"USDC": "USD"}

#: UNCL 4461 payment means per disbursement method: bank transfers without a payee account on the receipt are
#: "payment to bank account" (42; 30/58 would require the account, BR-61), provider payouts "online payment
#: service" (68), on-chain and off-platform payments "mutually defined" (ZZZ) with a text.
PAYMENT_MEANS: dict[str, tuple[str, str]] = {
    "ach": ("42", "ACH credit"),
    "wire": ("42", "Wire transfer"),
    "sepa": ("42", "SEPA credit transfer"),
    "usdc": ("ZZZ", "USDC on-chain transfer"),
    "onchain_safe": ("ZZZ", "USDC on-chain transfer from a Safe multisig"),
    "stripe_connect": ("68", "Stripe Connect transfer"),
    "trolley": ("68", "Trolley payout"),
    "manual": ("ZZZ", "Off-platform payment recorded with its reference"),
}

SELF_BILLING_NOTE = "Self-billing"


def _stated(amount: Money, stated: str) -> int:
    """``amount`` in minor units of the stated currency (two decimals)."""
    if amount.code == stated:
        return amount.minor
    cents = (amount.to_decimal() * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return int(cents)


def _party_vendor(invoice: Invoice) -> dict[str, str]:
    vendor = invoice.vendor
    return {
        "id": str(vendor.pk),
        "name": vendor.legal_name or vendor.name,
        "trading_name": vendor.name,
        "address_line1": vendor.address_line1,
        "address_line2": vendor.address_line2,
        "city": vendor.city,
        "region": vendor.region,
        "postal_code": vendor.postal_code,
        "country": vendor.country.upper(),
        "vat_id": vendor.vat_id,
        "tax_id": "",
        "email": vendor.email,
    }


def _party_organization(invoice: Invoice) -> dict[str, str]:
    org = invoice.project.organization
    return {
        "id": str(org.pk),
        "name": org.legal_name or org.name,
        "trading_name": org.name,
        "address_line1": org.address_line1,
        "address_line2": org.address_line2,
        "city": org.city,
        "region": org.region,
        "postal_code": org.postal_code,
        "country": org.country.upper(),
        "vat_id": org.vat_id,
        "tax_id": org.tax_id,
        "email": "",
    }


def vat_treatment(*, taxes: int, net: int, seller: dict[str, str], buyer: dict[str, str]) -> dict[str, str]:
    """The VAT category, rate and exemption reason for the parties (module docstring)."""
    if taxes > 0 and seller["vat_id"]:
        rate = (Decimal(taxes) * 100 / Decimal(net)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
        return {"category": "S", "rate": str(rate), "exemption_code": "", "exemption_reason": ""}
    if not seller["vat_id"]:
        return {
            "category": "O",
            "rate": "",
            "exemption_code": "VATEX-EU-O",
            "exemption_reason": "Not subject to VAT",
        }
    if buyer["vat_id"] and seller["country"] != buyer["country"]:
        return {"category": "AE", "rate": "0", "exemption_code": "VATEX-EU-AE", "exemption_reason": "Reverse charge"}
    return {"category": "E", "rate": "0", "exemption_code": "", "exemption_reason": "Exempt from VAT"}


def _milestone(invoice: Invoice) -> tuple[str, str]:
    """(title, description) of the milestone a self-billed invoice pays, else empty."""
    from payor.contracts.models import Milestone

    milestone = Milestone.objects.filter(invoice_id=invoice.pk).first()
    if milestone is None:
        return "", ""
    return milestone.title, milestone.description


def _lines(invoice: Invoice, stated: str, milestone_title: str, milestone_description: str) -> list[dict[str, Any]]:
    """One line for a milestone (its title and description), else one per SOV line billed this period."""
    if milestone_title:
        description = milestone_description or invoice.description
        return [
            {
                "id": "1",
                "name": milestone_title,
                "description": description,
                "net": _stated(invoice.subtotal, stated),
            }
        ]
    lines: list[dict[str, Any]] = []
    for line in invoice.lines.order_by("position"):
        if line.this_period.is_zero:
            continue
        lines.append(
            {
                "id": str(len(lines) + 1),
                "name": line.description,
                "description": f"SOV item {line.item_code}: {line.percent_complete} % complete",
                "net": _stated(line.this_period, stated),
            }
        )
    if not lines:
        lines.append(
            {
                "id": "1",
                "name": invoice.description or f"Invoice {invoice.number}",
                "description": "",
                "net": _stated(invoice.subtotal, stated),
            }
        )
    return lines


def receipt_content(
    *,
    disbursement: Disbursement,
    invoice: Invoice,
    kind: str,
    type_code: str,
    number: str,
    issue_date: dt.date,
    issued_at: dt.datetime,
    corrects: dict[str, str] | None = None,
    reason: str = "",
) -> Content:
    """Everything the documents say (module docstring)."""
    original = invoice.currency
    stated = STATED_CURRENCY.get(original, original)
    seller = _party_vendor(invoice)
    buyer = _party_organization(invoice)
    title, description = _milestone(invoice)
    title = title or disbursement.milestone_title
    lines = _lines(invoice, stated, title, description)
    net = sum(line["net"] for line in lines)
    taxes = _stated(invoice.taxes, stated)
    vat = vat_treatment(taxes=taxes, net=net, seller=seller, buyer=buyer)
    charges: list[dict[str, Any]] = []
    if vat["category"] == "O" and taxes:
        # A seller outside VAT charging a sales tax (a US state's): not VAT, so a document-level charge that is
        # itself not subject to VAT; the VAT total stays 0 (BR-O-09).
        charges.append({"amount": taxes, "reason": "Sales tax charged by the seller (not VAT)"})
        taxes = 0
    charge_total = sum(charge["amount"] for charge in charges)
    total = net + charge_total + taxes
    means_code, means_text = PAYMENT_MEANS.get(disbursement.method, ("ZZZ", disbursement.method))
    approved_on = timezone_date(invoice.approved_at)
    notes = [SELF_BILLING_NOTE]
    if kind == "credit_note":
        notes.append(f"Self-billed credit note cancelling {corrects['number'] if corrects else ''}: {reason}".strip())
    notes.append(
        f"Issued by {buyer['name']} on behalf of {seller['name']} for payment {disbursement.pk} "
        f"of invoice {invoice.number}."
    )
    if approved_on:
        notes.append(f"Work approved on {approved_on}.")
    if original != stated:
        notes.append(
            f"Paid in {original}; stated in {stated} at 1 {original} = 1 {stated}. "
            f"Amount paid on-chain: {disbursement.amount.amount_str()} {original}."
        )
    amounts = {
        "net": net,
        "charges": charge_total,
        "tax_basis": net + charge_total,
        "taxes": taxes,
        "total": total,
        "retention": _stated(invoice.retention, stated),
        "withholding": _stated(invoice.withholds, stated),
        "discount": _stated(disbursement.discount_taken, stated),
        "paid": _stated(disbursement.amount, stated),
    }
    notes.append(
        "Settlement: "
        f"paid {_fmt(amounts['paid'])}, retention withheld {_fmt(amounts['retention'])}, "
        f"tax withheld {_fmt(amounts['withholding'])}, early-pay discount {_fmt(amounts['discount'])} {stated}."
    )
    return {
        "version": 1,
        "kind": kind,
        "type_code": type_code,
        "number": number,
        "issue_date": issue_date.isoformat(),
        "issued_at": issued_at.isoformat(),
        "currency": stated,
        "original_currency": original,
        "notes": notes,
        "seller": seller,
        "buyer": buyer,
        "lines": lines,
        "charges": charges,
        "amounts": amounts,
        "vat": vat,
        "payment": {
            "means_code": means_code,
            "means_text": means_text,
            "method": disbursement.method,
            "reference": disbursement.rail_reference,
            "executed_on": disbursement.executed_on.isoformat() if disbursement.executed_on else "",
            "original_amount": disbursement.amount.amount_str(),
        },
        "period": {"start": invoice.period_start.isoformat(), "end": invoice.period_end.isoformat()},
        "approval_date": approved_on,
        "milestone_title": title,
        "job_description": description or invoice.description,
        "project": {"id": str(invoice.project_id), "name": invoice.project.name},
        "invoice": {"id": str(invoice.pk), "number": invoice.number},
        "disbursement_id": str(disbursement.pk),
        "corrects": corrects or {},
        "reason": reason,
    }


def _fmt(minor: int) -> str:
    return Money.of_minor(minor, "USD").amount_str()


def timezone_date(value: dt.datetime | None) -> str:
    """The local date of ``value`` (ISO), or ``""``."""
    if value is None:
        return ""
    from django.utils import timezone

    return timezone.localdate(value).isoformat()


def decimal_str(minor: int) -> str:
    """Two-decimal amount text of ``minor`` cents, as EN 16931 amounts are written."""
    return _fmt(minor)
