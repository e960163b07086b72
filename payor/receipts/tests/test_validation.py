"""Every generated XML passes its XSD and the EN 16931 schematron with zero errors, across the variety of cases:
retention and withholding, a USDC payment, a EUR contractor with a VAT id (reverse charge), a US contractor
without VAT, VAT charged at the standard rate, a VAT-registered seller without tax (exempt). And the checks do
fail when the rules are broken (they are not silently passing)."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from lxml import etree

from payor.core.money import Money
from payor.invoices.models import Invoice
from payor.payments.models import Disbursement
from payor.receipts.cii import RAM_NS, build_cii, cii_bytes
from payor.receipts.content import receipt_content
from payor.receipts.services import receipt_documents
from payor.receipts.tests.conftest import one_line, paid, set_buyer
from payor.receipts.ubl import ubl_bytes
from payor.receipts.validation import validate_xml
from payor.vendors.models import Vendor

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


def content_of(disbursement: Disbursement, invoice: Invoice | None = None) -> dict:
    invoice = invoice or Invoice.objects.select_related("project__organization", "vendor").get(
        pk=disbursement.invoice_id
    )
    return receipt_content(
        disbursement=disbursement,
        invoice=invoice,
        kind="invoice",
        type_code="389",
        number="SB-000042",
        issue_date=NOW.date(),
        issued_at=NOW,
    )


def as_currency(obj: Invoice | Disbursement, code: str, fields: tuple[str, ...]) -> None:
    """Restate ``obj``'s amounts (in memory) in ``code``: the same decimal amounts in the other currency."""
    amounts = {name: getattr(obj, name).to_decimal() for name in fields}
    obj.currency = code
    for name, amount in amounts.items():
        setattr(obj, name, Money.from_decimal(amount, code))


def xpath(xml: bytes, path: str) -> list[str]:
    ns = {
        "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
        "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
        "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
        "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    }
    return [str(v) for v in etree.fromstring(xml).xpath(path, namespaces=ns)]


INVOICE_MONEY = ("subtotal", "taxes", "total", "retention", "withholds", "early_pay_discount", "net_payable", "fees")
DISBURSEMENT_MONEY = ("amount", "discount_taken", "fees")


def test_us_contractor_without_vat_with_retention_and_withholding(billing):
    set_buyer(billing)
    content = content_of(paid(billing, one_line(billing, "2500.00", withholds="125.00")))
    documents = receipt_documents(content)

    assert documents.errors == []
    assert content["vat"]["category"] == "O"
    assert content["amounts"] == {
        "net": 250000,
        "charges": 0,
        "tax_basis": 250000,
        "taxes": 0,
        "total": 250000,
        "retention": 25000,
        "withholding": 12500,
        "discount": 4500,
        "paid": 208000,
    }
    cii = documents.cii
    assert xpath(cii, "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode/text()") == ["O"]
    assert xpath(cii, "//ram:ExemptionReasonCode/text()") == ["VATEX-EU-O"]
    assert xpath(cii, "//ram:SpecifiedTaxRegistration") == []  # BR-O-02: no VAT identifiers at all
    assert xpath(cii, "//ram:GrandTotalAmount/text()") == ["2500.00"]
    assert xpath(cii, "//ram:TotalPrepaidAmount/text()") == ["2500.00"]
    assert xpath(cii, "//ram:DuePayableAmount/text()") == ["0.00"]
    assert xpath(cii, "//ram:PaymentReference/text()") == ["ACH-TRACE-000123"]
    assert xpath(cii, "//rsm:ExchangedDocument/ram:IncludedNote[1]/ram:Content/text()") == ["Self-billing"]
    ubl = documents.ubl
    assert xpath(ubl, "/*/cbc:Note[1]/text()") == ["Self-billing"]
    assert xpath(ubl, "//cac:LegalMonetaryTotal/cbc:PrepaidAmount/text()") == ["2500.00"]
    assert xpath(ubl, "//cac:LegalMonetaryTotal/cbc:PayableAmount/text()") == ["0.00"]
    assert xpath(ubl, "//cac:PaymentMeans/cbc:PaymentID/text()") == ["ACH-TRACE-000123"]
    assert xpath(ubl, "//cac:AccountingSupplierParty//cbc:RegistrationName/text()") == ["Willow Creek Restoration LLC"]


def test_eur_contractor_with_a_vat_id_is_reverse_charged(billing):
    set_buyer(billing, country="FR", city="Lyon", region="", postal_code="69002", vat_id="FR40303265045", tax_id="")
    Vendor.objects.filter(pk=billing.vendor.pk).update(
        country="DE", vat_id="DE123456789", city="Berlin", region="", postal_code="10115"
    )
    disbursement = paid(billing, one_line(billing, "1000.00"), reference="SEPA-E2E-4711")
    invoice = Invoice.objects.select_related("project__organization", "vendor").get(pk=disbursement.invoice_id)
    as_currency(invoice, "EUR", INVOICE_MONEY)
    as_currency(disbursement, "EUR", DISBURSEMENT_MONEY)
    content = content_of(disbursement, invoice)
    documents = receipt_documents(content)

    assert documents.errors == []
    assert (content["currency"], content["vat"]["category"], content["vat"]["exemption_code"]) == (
        "EUR",
        "AE",
        "VATEX-EU-AE",
    )
    assert xpath(documents.cii, "//ram:InvoiceCurrencyCode/text()") == ["EUR"]
    assert xpath(documents.cii, "//ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID/text()") == ["DE123456789"]
    assert xpath(documents.cii, "//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID/text()") == ["FR40303265045"]
    assert xpath(documents.ubl, "//cac:TaxSubtotal/cac:TaxCategory/cbc:ID/text()") == ["AE"]
    assert xpath(documents.ubl, "//cac:TaxSubtotal/cac:TaxCategory/cbc:Percent/text()") == ["0"]


def test_a_usdc_payment_is_stated_in_usd_with_the_transaction_hash_as_reference(billing):
    set_buyer(billing)
    tx_hash = "0x" + "5a" * 32
    disbursement = paid(billing, one_line(billing, "1000.00"), reference=tx_hash)
    invoice = Invoice.objects.select_related("project__organization", "vendor").get(pk=disbursement.invoice_id)
    as_currency(invoice, "USDC", INVOICE_MONEY)
    as_currency(disbursement, "USDC", DISBURSEMENT_MONEY)
    disbursement.method = "usdc"
    content = content_of(disbursement, invoice)
    documents = receipt_documents(content)

    assert documents.errors == []
    assert (content["currency"], content["original_currency"]) == ("USD", "USDC")
    assert content["amounts"]["paid"] == 88200
    assert "Paid in USDC; stated in USD at 1 USDC = 1 USD. Amount paid on-chain: 882.000000 USDC." in content["notes"]
    assert xpath(documents.cii, "//ram:InvoiceCurrencyCode/text()") == ["USD"]
    assert xpath(documents.cii, "//ram:PaymentReference/text()") == [tx_hash]
    assert xpath(documents.cii, "//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode/text()") == ["ZZZ"]
    assert xpath(documents.ubl, "//cac:PaymentMeans/cbc:PaymentID/text()") == [tx_hash]


def test_vat_at_the_standard_rate_and_a_vat_registered_seller_without_tax(billing):
    set_buyer(billing, country="DE", city="Hamburg", region="", postal_code="20095", vat_id="DE987654321", tax_id="")
    Vendor.objects.filter(pk=billing.vendor.pk).update(country="DE", vat_id="DE123456789", region="")
    taxed = content_of(paid(billing, one_line(billing, "1000.00", taxes="190.00"), reference="BANK-1"))
    documents = receipt_documents(taxed)
    assert documents.errors == []
    assert taxed["vat"] == {"category": "S", "rate": "19.00", "exemption_code": "", "exemption_reason": ""}
    assert (taxed["amounts"]["net"], taxed["amounts"]["taxes"], taxed["amounts"]["total"]) == (100000, 19000, 119000)
    assert xpath(documents.cii, "//ram:TaxTotalAmount/text()") == ["190.00"]
    assert xpath(documents.ubl, "//cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount/text()") == ["1190.00"]

    exempt = content_of(paid(billing, one_line(billing, "500.00"), reference="BANK-2"))
    # Same country, no tax charged by a VAT-registered seller: exempt with its reason (not reverse charge).
    assert exempt["vat"] == {"category": "E", "rate": "0", "exemption_code": "", "exemption_reason": "Exempt from VAT"}
    assert receipt_documents(exempt).errors == []


def test_us_sales_tax_is_a_charge_not_subject_to_vat(billing):
    set_buyer(billing)
    content = content_of(paid(billing, one_line(billing, "1000.00", taxes="72.50")))
    documents = receipt_documents(content)

    assert documents.errors == []
    assert content["vat"]["category"] == "O"
    assert content["charges"] == [{"amount": 7250, "reason": "Sales tax charged by the seller (not VAT)"}]
    amounts = content["amounts"]
    assert (amounts["net"], amounts["charges"], amounts["tax_basis"], amounts["taxes"], amounts["total"]) == (
        100000,
        7250,
        107250,
        0,
        107250,
    )
    assert xpath(documents.cii, "//ram:SpecifiedTradeAllowanceCharge/ram:ActualAmount/text()") == ["72.50"]
    assert xpath(documents.cii, "//ram:TaxBasisTotalAmount/text()") == ["1072.50"]
    assert xpath(documents.ubl, "//cac:LegalMonetaryTotal/cbc:ChargeTotalAmount/text()") == ["72.50"]
    assert xpath(documents.ubl, "//cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount/text()") == ["1072.50"]


def test_broken_documents_fail_the_checks(billing):
    set_buyer(billing)
    content = content_of(paid(billing, one_line(billing)))
    not_iso = copy.deepcopy(content)
    not_iso["currency"] = "USDC"  # not ISO 4217
    # The Factur-X code-list rules on the currency (BR-CL-04 in CII, the currency of the VAT total).
    assert [f.rule for f in validate_xml(cii_bytes(not_iso)).errors] == ["FX-SCH-A-000595", "FX-SCH-A-000606"]
    assert "BR-CL-04" in {f.rule for f in validate_xml(ubl_bytes(not_iso)).errors}
    tree = build_cii(content)
    tree.find(f".//{{{RAM_NS}}}GrandTotalAmount").text = "12x"  # not a decimal: the XSD refuses it first
    report = validate_xml(etree.tostring(tree, xml_declaration=True, encoding="UTF-8"))
    assert [f.rule for f in report.errors] == ["XSD"]
    assert "GrandTotalAmount" in report.errors[0].text

    wrong_total = copy.deepcopy(content)
    wrong_total["amounts"]["total"] = 100001  # BR-CO-15: total with VAT = total without VAT + VAT
    rules = {(e["syntax"], e["rule"]) for e in receipt_documents(wrong_total).errors}
    assert rules >= {("cii", "BR-CO-15"), ("ubl", "BR-CO-15")}

    seller_without_country = copy.deepcopy(content)
    seller_without_country["seller"]["country"] = ""
    errors = receipt_documents(seller_without_country).errors
    assert {(e["syntax"], e["rule"]) for e in errors} >= {("cii", "BR-09"), ("ubl", "BR-09")}
