"""OASIS UBL 2.1 (EN 16931 core) of a receipt's frozen content, built with lxml's element API.

A self-billed invoice is an ``Invoice`` with ``InvoiceTypeCode`` 389; a self-billed credit note a ``CreditNote``
with ``CreditNoteTypeCode`` 261 that refers to the invoice it corrects (``BillingReference``). Checked against the
UBL 2.1 XSD and the CEN EN 16931 UBL schematron by :mod:`payor.receipts.validation`.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from lxml.builder import ElementMaker

from payor.receipts.cii import GUIDELINE_ID
from payor.receipts.content import Content, decimal_str

INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC_NS = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC_NS = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

CAC = ElementMaker(namespace=CAC_NS, nsmap={"cac": CAC_NS, "cbc": CBC_NS})
CBC = ElementMaker(namespace=CBC_NS, nsmap={"cac": CAC_NS, "cbc": CBC_NS})


def _party(party: dict[str, str], *, with_vat_id: bool) -> etree._Element:
    address: list[Any] = []
    if party["address_line1"]:
        address.append(CBC.StreetName(party["address_line1"]))
    if party["address_line2"]:
        address.append(CBC.AdditionalStreetName(party["address_line2"]))
    if party["city"]:
        address.append(CBC.CityName(party["city"]))
    if party["postal_code"]:
        address.append(CBC.PostalZone(party["postal_code"]))
    if party["region"]:
        address.append(CBC.CountrySubentity(party["region"]))
    address.append(CAC.Country(CBC.IdentificationCode(party["country"])))
    children: list[Any] = []
    if party["email"]:
        children.append(CBC.EndpointID(party["email"], schemeID="EM"))
    if party.get("id"):
        children.append(CAC.PartyIdentification(CBC.ID(party["id"])))
    if party["trading_name"] and party["trading_name"] != party["name"]:
        children.append(CAC.PartyName(CBC.Name(party["trading_name"])))
    children.append(CAC.PostalAddress(*address))
    if with_vat_id and party["vat_id"]:
        children.append(CAC.PartyTaxScheme(CBC.CompanyID(party["vat_id"]), CAC.TaxScheme(CBC.ID("VAT"))))
    legal: list[Any] = [CBC.RegistrationName(party["name"])]
    if party["tax_id"] and not party["vat_id"]:
        legal.append(CBC.CompanyID(party["tax_id"]))
    children.append(CAC.PartyLegalEntity(*legal))
    return CAC.Party(*children)


def _category(vat: dict[str, str], *, classified: bool, with_reason: bool) -> etree._Element:
    children: list[Any] = [CBC.ID(vat["category"])]
    if vat["rate"]:
        children.append(CBC.Percent(vat["rate"]))
    if with_reason and vat["exemption_code"]:
        children.append(CBC.TaxExemptionReasonCode(vat["exemption_code"]))
    if with_reason and vat["exemption_reason"]:
        children.append(CBC.TaxExemptionReason(vat["exemption_reason"]))
    children.append(CAC.TaxScheme(CBC.ID("VAT")))
    return (CAC.ClassifiedTaxCategory if classified else CAC.TaxCategory)(*children)


def build_ubl(content: Content) -> etree._Element:
    """The UBL tree of ``content``: an Invoice (389) or a CreditNote (261)."""
    credit = content["kind"] == "credit_note"
    root_ns = CREDIT_NOTE_NS if credit else INVOICE_NS
    nsmap = {None: root_ns, "cac": CAC_NS, "cbc": CBC_NS}
    root = ElementMaker(namespace=root_ns, nsmap=nsmap)
    vat = content["vat"]
    amounts = content["amounts"]
    currency = content["currency"]
    with_vat_ids = vat["category"] != "O"

    def amount(tag: str, minor: int) -> etree._Element:
        return getattr(CBC, tag)(decimal_str(minor), currencyID=currency)

    children: list[Any] = [
        CBC.CustomizationID(GUIDELINE_ID),
        CBC.ID(content["number"]),
        CBC.IssueDate(content["issue_date"]),
        (CBC.CreditNoteTypeCode if credit else CBC.InvoiceTypeCode)(content["type_code"]),
        *[CBC.Note(note) for note in content["notes"]],
        CBC.DocumentCurrencyCode(currency),
        CBC.BuyerReference(content["project"]["name"]),
        CAC.InvoicePeriod(CBC.StartDate(content["period"]["start"]), CBC.EndDate(content["period"]["end"])),
    ]
    if content["corrects"]:
        children.append(
            CAC.BillingReference(
                CAC.InvoiceDocumentReference(
                    CBC.ID(content["corrects"]["number"]), CBC.IssueDate(content["corrects"]["issue_date"])
                )
            )
        )
    children += [
        CAC.AccountingSupplierParty(_party(content["seller"], with_vat_id=with_vat_ids)),
        CAC.AccountingCustomerParty(_party(content["buyer"], with_vat_id=with_vat_ids)),
    ]
    if content["approval_date"]:
        children.append(CAC.Delivery(CBC.ActualDeliveryDate(content["approval_date"])))
    children += [
        CAC.PaymentMeans(
            CBC.PaymentMeansCode(content["payment"]["means_code"], name=content["payment"]["means_text"]),
            CBC.PaymentID(content["payment"]["reference"]),
        ),
        *[
            CAC.AllowanceCharge(
                CBC.ChargeIndicator("true"),
                CBC.AllowanceChargeReason(charge["reason"]),
                amount("Amount", charge["amount"]),
                _category(vat, classified=False, with_reason=False),
            )
            for charge in content["charges"]
        ],
        CAC.TaxTotal(
            amount("TaxAmount", amounts["taxes"]),
            CAC.TaxSubtotal(
                amount("TaxableAmount", amounts["tax_basis"]),
                amount("TaxAmount", amounts["taxes"]),
                _category(vat, classified=False, with_reason=True),
            ),
        ),
        CAC.LegalMonetaryTotal(
            amount("LineExtensionAmount", amounts["net"]),
            amount("TaxExclusiveAmount", amounts["tax_basis"]),
            amount("TaxInclusiveAmount", amounts["total"]),
            *([amount("ChargeTotalAmount", amounts["charges"])] if content["charges"] else []),
            amount("PrepaidAmount", amounts["total"]),
            amount("PayableAmount", 0),
        ),
    ]
    for line in content["lines"]:
        item: list[Any] = []
        if line["description"]:
            item.append(CBC.Description(line["description"]))
        item += [CBC.Name(line["name"]), _category(vat, classified=True, with_reason=False)]
        children.append(
            (CAC.CreditNoteLine if credit else CAC.InvoiceLine)(
                CBC.ID(line["id"]),
                (CBC.CreditedQuantity if credit else CBC.InvoicedQuantity)("1", unitCode="C62"),
                amount("LineExtensionAmount", line["net"]),
                CAC.Item(*item),
                CAC.Price(amount("PriceAmount", line["net"])),
            )
        )
    return (root.CreditNote if credit else root.Invoice)(*children)


def ubl_bytes(content: Content) -> bytes:
    """The serialized UBL (UTF-8, with declaration)."""
    return etree.tostring(build_ubl(content), xml_declaration=True, encoding="UTF-8", pretty_print=True)
