"""UN/CEFACT CII (Factur-X / ZUGFeRD, EN 16931 profile) of a receipt's frozen content, built with lxml's element
API (``ElementMaker`` per namespace): no string concatenation, the serializer escapes everything.

The element order follows the Factur-X 1.09 EN16931 XSD; the result is checked against that XSD and the Factur-X
EN16931 schematron (which carries the CEN EN 16931 rules for CII) by :mod:`payor.receipts.validation`.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from lxml.builder import ElementMaker

from payor.receipts.content import Content, decimal_str

RSM_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM_NS = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT_NS = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT_NS = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
NSMAP = {"rsm": RSM_NS, "ram": RAM_NS, "udt": UDT_NS, "qdt": QDT_NS}

#: The EN 16931 Factur-X profile (BT-24).
GUIDELINE_ID = "urn:cen.eu:en16931:2017"

RSM = ElementMaker(namespace=RSM_NS, nsmap=NSMAP)
RAM = ElementMaker(namespace=RAM_NS, nsmap=NSMAP)
UDT = ElementMaker(namespace=UDT_NS, nsmap=NSMAP)
QDT = ElementMaker(namespace=QDT_NS, nsmap=NSMAP)


def _date(iso: str) -> etree._Element:
    return UDT.DateTimeString(iso.replace("-", ""), format="102")


def _party(party: dict[str, str], *, with_vat_id: bool) -> list[etree._Element]:
    children: list[Any] = [RAM.ID(party["id"])] if party.get("id") else []
    children.append(RAM.Name(party["name"]))
    if party["tax_id"] and not party["vat_id"]:
        children.append(RAM.SpecifiedLegalOrganization(RAM.ID(party["tax_id"])))
    address: list[Any] = []
    if party["postal_code"]:
        address.append(RAM.PostcodeCode(party["postal_code"]))
    if party["address_line1"]:
        address.append(RAM.LineOne(party["address_line1"]))
    if party["address_line2"]:
        address.append(RAM.LineTwo(party["address_line2"]))
    if party["city"]:
        address.append(RAM.CityName(party["city"]))
    address.append(RAM.CountryID(party["country"]))
    if party["region"]:
        address.append(RAM.CountrySubDivisionName(party["region"]))
    children.append(RAM.PostalTradeAddress(*address))
    if party["email"]:
        children.append(RAM.URIUniversalCommunication(RAM.URIID(party["email"], schemeID="EM")))
    if with_vat_id and party["vat_id"]:
        children.append(RAM.SpecifiedTaxRegistration(RAM.ID(party["vat_id"], schemeID="VA")))
    return children


def _tax(vat: dict[str, str], *, calculated: int | None = None, basis: int | None = None) -> etree._Element:
    children: list[Any] = []
    if calculated is not None:
        children.append(RAM.CalculatedAmount(decimal_str(calculated)))
    children.append(RAM.TypeCode("VAT"))
    if calculated is not None and vat["exemption_reason"]:
        children.append(RAM.ExemptionReason(vat["exemption_reason"]))
    if basis is not None:
        children.append(RAM.BasisAmount(decimal_str(basis)))
    children.append(RAM.CategoryCode(vat["category"]))
    if calculated is not None and vat["exemption_code"]:
        children.append(RAM.ExemptionReasonCode(vat["exemption_code"]))
    if vat["rate"]:
        children.append(RAM.RateApplicablePercent(vat["rate"]))
    return RAM.ApplicableTradeTax(*children)


def _line(line: dict[str, Any], vat: dict[str, str]) -> etree._Element:
    product: list[Any] = [RAM.Name(line["name"])]
    if line["description"]:
        product.append(RAM.Description(line["description"]))
    return RAM.IncludedSupplyChainTradeLineItem(
        RAM.AssociatedDocumentLineDocument(RAM.LineID(line["id"])),
        RAM.SpecifiedTradeProduct(*product),
        RAM.SpecifiedLineTradeAgreement(RAM.NetPriceProductTradePrice(RAM.ChargeAmount(decimal_str(line["net"])))),
        RAM.SpecifiedLineTradeDelivery(RAM.BilledQuantity("1", unitCode="C62")),
        RAM.SpecifiedLineTradeSettlement(
            _tax(vat),
            RAM.SpecifiedTradeSettlementLineMonetarySummation(RAM.LineTotalAmount(decimal_str(line["net"]))),
        ),
    )


def build_cii(content: Content) -> etree._Element:
    """The CII tree of ``content`` (a self-billed invoice 389 or credit note 261)."""
    vat = content["vat"]
    amounts = content["amounts"]
    currency = content["currency"]
    # BR-O-02: no VAT identifiers at all on a "not subject to VAT" invoice.
    with_vat_ids = vat["category"] != "O"
    settlement: list[Any] = [
        RAM.PaymentReference(content["payment"]["reference"]),
        RAM.InvoiceCurrencyCode(currency),
        RAM.SpecifiedTradeSettlementPaymentMeans(
            RAM.TypeCode(content["payment"]["means_code"]),
            RAM.Information(content["payment"]["means_text"]),
        ),
        _tax(vat, calculated=amounts["taxes"], basis=amounts["tax_basis"]),
        RAM.BillingSpecifiedPeriod(
            RAM.StartDateTime(_date(content["period"]["start"])),
            RAM.EndDateTime(_date(content["period"]["end"])),
        ),
        *[
            RAM.SpecifiedTradeAllowanceCharge(
                RAM.ChargeIndicator(UDT.Indicator("true")),
                RAM.ActualAmount(decimal_str(charge["amount"])),
                RAM.Reason(charge["reason"]),
                RAM.CategoryTradeTax(RAM.TypeCode("VAT"), RAM.CategoryCode(vat["category"])),
            )
            for charge in content["charges"]
        ],
        RAM.SpecifiedTradeSettlementHeaderMonetarySummation(
            RAM.LineTotalAmount(decimal_str(amounts["net"])),
            *([RAM.ChargeTotalAmount(decimal_str(amounts["charges"]))] if content["charges"] else []),
            RAM.TaxBasisTotalAmount(decimal_str(amounts["tax_basis"])),
            RAM.TaxTotalAmount(decimal_str(amounts["taxes"]), currencyID=currency),
            RAM.GrandTotalAmount(decimal_str(amounts["total"])),
            RAM.TotalPrepaidAmount(decimal_str(amounts["total"])),
            RAM.DuePayableAmount(decimal_str(0)),
        ),
    ]
    corrects = content["corrects"]
    if corrects:
        settlement.append(
            RAM.InvoiceReferencedDocument(
                RAM.IssuerAssignedID(corrects["number"]),
                RAM.FormattedIssueDateTime(QDT.DateTimeString(corrects["issue_date"].replace("-", ""), format="102")),
            )
        )
    delivery: list[Any] = []
    if content["approval_date"]:
        delivery.append(RAM.ActualDeliverySupplyChainEvent(RAM.OccurrenceDateTime(_date(content["approval_date"]))))
    return RSM.CrossIndustryInvoice(
        RSM.ExchangedDocumentContext(RAM.GuidelineSpecifiedDocumentContextParameter(RAM.ID(GUIDELINE_ID))),
        RSM.ExchangedDocument(
            RAM.ID(content["number"]),
            RAM.TypeCode(content["type_code"]),
            RAM.IssueDateTime(_date(content["issue_date"])),
            *[RAM.IncludedNote(RAM.Content(note)) for note in content["notes"]],
        ),
        RSM.SupplyChainTradeTransaction(
            *[_line(line, vat) for line in content["lines"]],
            RAM.ApplicableHeaderTradeAgreement(
                RAM.BuyerReference(content["project"]["name"]),
                RAM.SellerTradeParty(*_party(content["seller"], with_vat_id=with_vat_ids)),
                RAM.BuyerTradeParty(*_party(content["buyer"], with_vat_id=with_vat_ids)),
            ),
            RAM.ApplicableHeaderTradeDelivery(*delivery),
            RAM.ApplicableHeaderTradeSettlement(*settlement),
        ),
    )


def cii_bytes(content: Content) -> bytes:
    """The serialized CII (UTF-8, with declaration): what is validated, embedded as ``factur-x.xml`` and stored."""
    return etree.tostring(build_cii(content), xml_declaration=True, encoding="UTF-8", pretty_print=True)
