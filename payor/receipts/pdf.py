"""The human-readable receipt: HTML template → PDF/A-3b (WeasyPrint) → the CII embedded as ``factur-x.xml``.

WeasyPrint renders ``receipts/receipt.html`` as PDF/A-3b (sRGB output intent, embedded fonts); the ``factur-x``
library then attaches the CII with the Factur-X conventions (``/AF`` relationship ``Data``, the Factur-X XMP
extension schema declaring the EN 16931 conformance level, PDF/A-3 identification B). Its XSD check is skipped
there because :mod:`payor.receipts.validation` ran XSD and schematron before.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import segno
from django.template.loader import render_to_string

from payor.receipts.content import Content, decimal_str

HEADINGS = {"invoice": "Self-billed invoice", "credit_note": "Self-billed credit note"}
VAT_LABELS = {
    "O": "not subject to VAT",
    "AE": "reverse charge",
    "E": "exempt",
    "S": "standard rate",
}


def qr_payload(content: Content, cii_sha256: str) -> str:
    """What the QR code encodes: the transaction id and the structured document's SHA-256."""
    return f"payor-receipt:{content['number']};tx={content['payment']['reference']};cii-sha256={cii_sha256}"


def receipt_html(content: Content, cii: bytes) -> str:
    cii_sha256 = hashlib.sha256(cii).hexdigest()
    amounts = {key: decimal_str(value) for key, value in content["amounts"].items()}
    vat = content["vat"]
    label = VAT_LABELS.get(vat["category"], vat["category"])
    if vat["rate"]:
        label = f"{label} {vat['rate']} %"
    issued_at = dt.datetime.fromisoformat(content["issued_at"])
    return render_to_string(
        "receipts/receipt.html",
        {
            "c": content,
            "heading": HEADINGS[content["kind"]],
            "credit": content["kind"] == "credit_note",
            "issued_at": issued_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip(),
            "lines": [{**line, "amount": decimal_str(line["net"])} for line in content["lines"]],
            "a": amounts,
            "vat_label": label,
            "cii_sha256": cii_sha256,
            "qr": segno.make(qr_payload(content, cii_sha256), error="m").svg_data_uri(scale=4, border=2),
        },
    )


def render_pdf(content: Content, cii: bytes) -> bytes:
    """The PDF/A-3b receipt with ``cii`` embedded as ``factur-x.xml``."""
    from facturx import generate_from_binary
    from weasyprint import HTML

    pdf = HTML(string=receipt_html(content, cii)).write_pdf(pdf_variant="pdf/a-3b")
    heading = HEADINGS[content["kind"]]
    return bytes(
        generate_from_binary(
            pdf,
            cii,
            flavor="factur-x",
            level="en16931",
            check_xsd=False,
            check_schematron=False,
            pdf_metadata={
                "author": content["buyer"]["name"],
                "keywords": "Factur-X, EN 16931, self-billed invoice",
                "title": f"{heading} {content['number']}",
                "subject": f"{heading} {content['number']} dated {content['issue_date']} for "
                f"{content['seller']['name']}, payment {content['payment']['reference']}",
            },
            lang="en-US",
        )
    )
