"""Receipt services: number inside the payment's transaction, render after commit, credit notes, export.

* :func:`receipt_issue` — called at the end of ``disbursement_execute`` (inside its transaction): takes the next
  number of the issuing organization (the project's organization, the buyer) from its counter row locked
  ``FOR UPDATE``, freezes the content, audits ``receipt.numbered`` and defers ``receipts.receipt.render``. A
  rolled-back payment rolls the number back, so the sequence has no gaps. Executing again returns the receipt.
* :func:`receipt_render` — the job: builds CII and UBL, validates both (XSD + EN 16931 schematron; any error-level
  failure blocks issuing: the receipt becomes ``invalid`` with the findings, audited ``receipt.invalid``), renders
  the PDF/A-3b with the CII embedded, stores PDF, CII, UBL, the approval record, the milestone's deliverables and
  the payment confirmation in the transaction's data-room folder, records the SHA-256s on the receipt and in the
  audit log (with the disbursement's ledger transfer ids). Rendering a rendered receipt is a no-op.
* :func:`receipt_credit_note_issue` — a reversed or corrected payment: a new document, the self-billed credit note
  (261) referring to the invoice; the invoice receipt is never changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from payor import audit
from payor.dataroom.errors import DataRoomIntegrityError
from payor.dataroom.models import DataRoomObject, ObjectKind
from payor.dataroom.services import dataroom_object_store, object_key
from payor.dataroom.storage import DataRoomStorage, configured_storage
from payor.invoices.models import Invoice
from payor.ledger.models import Transfer, TransferCode, TransferPhase
from payor.payments.models import Disbursement, DisbursementStatus
from payor.receipts.cii import cii_bytes
from payor.receipts.content import receipt_content
from payor.receipts.errors import ReceiptNotFound
from payor.receipts.models import TYPE_CODES, Receipt, ReceiptKind, ReceiptSequence, ReceiptStatus
from payor.receipts.pdf import render_pdf
from payor.receipts.ubl import ubl_bytes
from payor.receipts.validation import validate_xml

logger = logging.getLogger(__name__)

NUMBER_FORMAT = "SB-{:06d}"
RENDER_JOB = "receipts.receipt.render"
REASON_MAX = 2000


def _audit(actor: object, action: str, subject: Receipt, **kwargs: Any) -> None:
    """A user is audited as themselves; the platform (the payments' ``SYSTEM`` actor, jobs) as ``system``."""
    from payor.accounts.models import User

    if isinstance(actor, User):
        audit.record(actor, action, subject, **kwargs)
    else:
        audit.record(None, action, subject, actor_label="system", **kwargs)


def _next_sequence(organization_id: uuid.UUID) -> int:
    """The organization's next number: its counter row locked FOR UPDATE (created on first use)."""
    ReceiptSequence.objects.bulk_create([ReceiptSequence(organization_id=organization_id)], ignore_conflicts=True)
    counter = ReceiptSequence.objects.select_for_update().get(organization_id=organization_id)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return counter.last_number


def _ledger_transfer_ids(disbursement: Disbursement) -> list[str]:
    """The disbursement's posted DISBURSE transfers (the ledger entries the receipt evidences)."""
    return list(
        Transfer.objects.filter(
            Q(disbursement_id=disbursement.pk) | Q(pending__disbursement_id=disbursement.pk),
            code__in=[TransferCode.DISBURSE, TransferCode.REVERSE],
        )
        .exclude(phase=TransferPhase.PENDING)
        .order_by("seq")
        .values_list("id", flat=True)
    )


def _defer_render(receipt: Receipt) -> None:
    from procrastinate.contrib.django import app as jobs

    jobs.configure_task(RENDER_JOB, queueing_lock=f"receipt-{receipt.pk}").defer(receipt_id=str(receipt.pk))


def _create(
    *,
    actor: object,
    disbursement: Disbursement,
    invoice: Invoice,
    kind: str,
    content_for: Any,
    corrects: Receipt | None = None,
    reason: str = "",
) -> Receipt:
    organization_id = invoice.project.organization_id
    sequence = _next_sequence(organization_id)
    number = NUMBER_FORMAT.format(sequence)
    now = timezone.now()
    issue_date = timezone.localdate(now) if corrects is not None else (disbursement.executed_on or now.date())
    content = content_for(number=number, issue_date=issue_date, issued_at=now)
    receipt = Receipt.objects.create(
        organization_id=organization_id,
        project_id=invoice.project_id,
        disbursement=disbursement,
        invoice=invoice,
        vendor_id=invoice.vendor_id,
        kind=kind,
        type_code=TYPE_CODES[kind],
        sequence=sequence,
        number=number,
        corrects=corrects,
        reason=reason,
        issue_date=issue_date,
        transaction_id=disbursement.rail_reference,
        currency=content["currency"],
        content=content,
        ledger_transfer_ids=_ledger_transfer_ids(disbursement),
    )
    _audit(
        actor,
        "receipt.numbered",
        receipt,
        after={
            "number": number,
            "type_code": receipt.type_code,
            "disbursement_id": str(disbursement.pk),
            "transaction_id": receipt.transaction_id,
            "corrects": corrects.number if corrects else None,
        },
        project=invoice.project_id,
    )
    _defer_render(receipt)
    return receipt


def receipt_issue(*, actor: object, disbursement: Disbursement) -> Receipt:
    """Number the self-billed invoice of an executed disbursement (module docstring). Call inside the
    transaction that executed it; executing again returns the same receipt."""
    existing = Receipt.objects.filter(disbursement=disbursement, kind=ReceiptKind.INVOICE).first()
    if existing is not None:
        return existing
    invoice = Invoice.objects.select_related("project__organization", "vendor").get(pk=disbursement.invoice_id)

    def content_for(**kw: Any) -> dict[str, Any]:
        return receipt_content(disbursement=disbursement, invoice=invoice, kind="invoice", type_code="389", **kw)

    return _create(
        actor=actor, disbursement=disbursement, invoice=invoice, kind=ReceiptKind.INVOICE, content_for=content_for
    )


def _credit_note_content(
    original: Receipt, *, number: str, issue_date: dt.date, issued_at: dt.datetime, reason: str
) -> dict[str, Any]:
    """The credit note states the facts of the invoice it cancels (its frozen content) under its own number."""
    content = dict(original.content)
    notes = [note for note in content["notes"] if note != "Self-billing"]
    content.update(
        kind="credit_note",
        type_code="261",
        number=number,
        issue_date=issue_date.isoformat(),
        issued_at=issued_at.isoformat(),
        corrects={"number": original.number, "issue_date": original.issue_date.isoformat()},
        reason=reason,
        notes=["Self-billing", f"Self-billed credit note cancelling {original.number}: {reason}", *notes],
    )
    return content


def _refreshed_content(receipt: Receipt) -> dict[str, Any]:
    """The content of a receipt that was never issued (``invalid``) rebuilt from today's records — same number,
    issue date and timestamp — so fixing the data (a party's country, say) lets the next render pass."""
    issued_at = dt.datetime.fromisoformat(receipt.content["issued_at"])
    if receipt.kind == ReceiptKind.CREDIT_NOTE and receipt.corrects is not None:
        return _credit_note_content(
            receipt.corrects,
            number=receipt.number,
            issue_date=receipt.issue_date,
            issued_at=issued_at,
            reason=receipt.reason,
        )
    invoice = Invoice.objects.select_related("project__organization", "vendor").get(pk=receipt.invoice_id)
    return receipt_content(
        disbursement=receipt.disbursement,
        invoice=invoice,
        kind=ReceiptKind.INVOICE,
        type_code=receipt.type_code,
        number=receipt.number,
        issue_date=receipt.issue_date,
        issued_at=issued_at,
    )


def receipt_credit_note_issue(*, disbursement: Disbursement, reason: str, actor: object = None) -> Receipt | None:
    """Issue the self-billed credit note (261) of a reversed or corrected payment: a new document with the next
    number that cancels the disbursement's invoice receipt (``BillingReference``/``InvoiceReferencedDocument``).
    Call inside the transaction that reverses the payment; repeating it returns the same credit note. A
    disbursement without an invoice receipt (executed before receipts existed) has nothing to correct: None, so a
    reversal is never blocked."""
    reason = (reason or "").strip()[:REASON_MAX] or "Payment reversed"
    with transaction.atomic():
        original = (
            Receipt.objects.select_for_update()
            .filter(disbursement_id=disbursement.pk, kind=ReceiptKind.INVOICE)
            .first()
        )
        if original is None:
            return None
        existing = Receipt.objects.filter(corrects=original, kind=ReceiptKind.CREDIT_NOTE).first()
        if existing is not None:
            return existing
        invoice = Invoice.objects.select_related("project__organization", "vendor").get(pk=original.invoice_id)

        def content_for(*, number: str, issue_date: dt.date, issued_at: dt.datetime) -> dict[str, Any]:
            return _credit_note_content(
                original, number=number, issue_date=issue_date, issued_at=issued_at, reason=reason
            )

        return _create(
            actor=actor,
            disbursement=disbursement,
            invoice=invoice,
            kind=ReceiptKind.CREDIT_NOTE,
            content_for=content_for,
            corrects=original,
            reason=reason,
        )


# ------------------------------------------------------------------------------------------------------------
# Rendering (the job)
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Documents:
    cii: bytes
    ubl: bytes
    errors: list[dict[str, str]]


def receipt_documents(content: dict[str, Any]) -> Documents:
    """CII and UBL of ``content`` with the error-level findings of XSD + EN 16931 schematron validation."""
    cii, ubl = cii_bytes(content), ubl_bytes(content)
    errors = []
    for syntax, xml in (("cii", cii), ("ubl", ubl)):
        report = validate_xml(xml)
        errors += [{"syntax": syntax, **finding.as_dict()} for finding in report.errors]
    return Documents(cii=cii, ubl=ubl, errors=errors)


def embedded_xml(pdf: bytes) -> dict[str, bytes]:
    """The PDF's embedded files by name (``factur-x.xml`` for a receipt)."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    return {name: b"".join(values) for name, values in reader.attachments.items()}


def file_names(receipt: Receipt) -> dict[str, str]:
    """The receipt's documents in the transaction's folder."""
    return {
        ObjectKind.RECEIPT_PDF: f"{receipt.number}.pdf",
        ObjectKind.RECEIPT_CII: f"{receipt.number}.cii.xml",
        ObjectKind.RECEIPT_UBL: f"{receipt.number}.ubl.xml",
    }


def _canonical_json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, default=str).encode("utf-8")


def approval_record(invoice: Invoice) -> dict[str, Any]:
    """The approvals timeline of the invoice (and its milestone's submissions) as exported to the data room."""
    from payor.approvals.models import ApprovalDecision
    from payor.contracts.models import Milestone

    decisions = (
        ApprovalDecision.objects.filter(target_id=invoice.pk).select_related("approver").order_by("decided_at", "id")
    )
    record: dict[str, Any] = {
        "invoice": {
            "id": str(invoice.pk),
            "number": invoice.number,
            "kind": invoice.kind,
            "submitted_at": invoice.submitted_at,
            "approved_at": invoice.approved_at,
            "total": invoice.total.amount_str(),
            "net_payable": invoice.net_payable.amount_str(),
            "currency": invoice.currency,
        },
        "decisions": [
            {
                "round": d.round,
                "role": d.role,
                "decision": d.decision,
                "approver": d.approver.email,
                "decided_at": d.decided_at,
                "note": d.note,
                "matrix_version": d.matrix_version,
                "signer_address": d.signer_address,
                "signature": d.signature,
            }
            for d in decisions
        ],
        "milestone": None,
    }
    milestone = Milestone.objects.filter(invoice_id=invoice.pk).first()
    if milestone is not None:
        record["milestone"] = {
            "id": str(milestone.pk),
            "title": milestone.title,
            "amount": milestone.amount.amount_str(),
            "submissions": [
                {
                    "attempt": s.attempt,
                    "submitted_at": s.submitted_at,
                    "approval_status": s.approval_status,
                    "reviewed_at": s.reviewed_at,
                    "approved_at": s.approved_at,
                    "approver": s.approver.email if s.approver else None,
                    "review_note": s.review_note,
                    "files": [
                        {"name": f.original_filename, "size": f.size, "sha256": f.sha256}
                        for f in s.files.order_by("created_at")
                    ],
                }
                for s in milestone.submissions.select_related("approver").order_by("attempt")
            ],
        }
    return record


def _deliverables(invoice: Invoice) -> list[tuple[str, bytes, str]]:
    """(name, bytes, content type) of the files submitted in the approved submission of the invoice's milestone."""
    from payor.contracts.models import Milestone, SubmissionStatus

    milestone = Milestone.objects.filter(invoice_id=invoice.pk).first()
    if milestone is None:
        return []
    files = []
    for submission in milestone.submissions.filter(approval_status=SubmissionStatus.APPROVED).order_by("attempt"):
        for f in submission.files.order_by("created_at"):
            with f.file.open("rb") as handle:
                data = handle.read()
            files.append((f"deliverables/{submission.attempt}-{f.pk}-{f.original_filename}", data, f.content_type))
    return files


def payment_confirmation(receipt: Receipt) -> dict[str, Any]:
    """The rail's side of the payment: reference, attempts and the webhook payloads that confirmed it."""
    from payor.payments.models import PaymentAttempt, WebhookEvent

    disbursement = receipt.disbursement
    attempts = list(PaymentAttempt.objects.filter(disbursement=disbursement).order_by("number"))
    references = [a.provider_reference for a in attempts if a.provider_reference]
    webhooks = (
        WebhookEvent.objects.filter(
            payload__data__object__id__in=references, received_at__lte=receipt.created_at
        ).order_by("received_at", "id")
        if references
        else WebhookEvent.objects.none()
    )
    return {
        "disbursement_id": str(disbursement.pk),
        "method": disbursement.method,
        "status": disbursement.status,
        "rail_reference": disbursement.rail_reference,
        "amount": disbursement.amount.amount_str(),
        "currency": disbursement.currency,
        "executed_on": disbursement.executed_on,
        "executed_via_rail": disbursement.executed_via_rail,
        "ledger_transfer_ids": receipt.ledger_transfer_ids,
        "attempts": [
            {
                "number": a.number,
                "rail": a.rail,
                "status": a.status,
                "provider_reference": a.provider_reference,
                "idempotency_key": a.idempotency_key,
                "finished_at": a.finished_at,
            }
            for a in attempts
        ],
        "webhooks": [
            {"external_id": w.external_id, "type": w.type, "received_at": w.received_at, "payload": w.payload}
            for w in webhooks
        ],
    }


def _pdf_for(receipt: Receipt, content: dict[str, Any], cii: bytes, storage: DataRoomStorage) -> bytes:
    """The stored PDF when a crashed render left one (write-once: kept when it embeds this CII), else a new one."""
    key = object_key(receipt.disbursement, file_names(receipt)[ObjectKind.RECEIPT_PDF])
    if storage.exists(key):
        stored = storage.get(key)
        if embedded_xml(stored).get("factur-x.xml") == cii:
            return stored
    return render_pdf(content, cii)


def receipt_render(*, receipt_id: uuid.UUID | str, storage: DataRoomStorage | None = None) -> Receipt:
    """Render, validate and store a numbered receipt (module docstring); a no-op once rendered."""
    receipt = Receipt.objects.select_related("disbursement", "invoice").filter(pk=receipt_id).first()
    if receipt is None:
        raise ReceiptNotFound()
    if receipt.status == ReceiptStatus.RENDERED:
        return receipt
    content = _refreshed_content(receipt) if receipt.status == ReceiptStatus.INVALID else receipt.content
    documents = receipt_documents(content)
    if documents.errors:
        with transaction.atomic():
            receipt = Receipt.objects.select_for_update().get(pk=receipt.pk)
            if receipt.status == ReceiptStatus.RENDERED:
                return receipt
            receipt.status = ReceiptStatus.INVALID
            receipt.content = content
            receipt.validation_errors = documents.errors
            receipt.save(update_fields=["status", "content", "validation_errors", "updated_at"])
            _audit(None, "receipt.invalid", receipt, after={"errors": documents.errors}, project=receipt.project_id)
        logger.error("receipt %s not issued: %d validation errors", receipt.number, len(documents.errors))
        return receipt
    storage = storage or configured_storage()
    pdf = _pdf_for(receipt, content, documents.cii, storage)
    names = file_names(receipt)
    with transaction.atomic():
        receipt = (
            Receipt.objects.select_for_update(of=("self",)).select_related("disbursement", "invoice").get(pk=receipt.pk)
        )
        if receipt.status == ReceiptStatus.RENDERED:
            return receipt
        disbursement = receipt.disbursement

        def store(kind: str, name: str, data: bytes, content_type: str, with_receipt: bool = True) -> None:
            dataroom_object_store(
                disbursement=disbursement,
                receipt=receipt if with_receipt else None,
                kind=kind,
                name=name,
                data=data,
                content_type=content_type,
                storage=storage,
            )

        store(ObjectKind.RECEIPT_PDF, names[ObjectKind.RECEIPT_PDF], pdf, "application/pdf")
        store(ObjectKind.RECEIPT_CII, names[ObjectKind.RECEIPT_CII], documents.cii, "application/xml")
        store(ObjectKind.RECEIPT_UBL, names[ObjectKind.RECEIPT_UBL], documents.ubl, "application/xml")
        if receipt.kind == ReceiptKind.INVOICE:
            store(
                ObjectKind.APPROVAL_RECORD,
                "approval-record.json",
                _canonical_json(approval_record(receipt.invoice)),
                "application/json",
                with_receipt=False,
            )
            for name, data, content_type in _deliverables(receipt.invoice):
                store(ObjectKind.DELIVERABLE, name, data, content_type, with_receipt=False)
        confirmation_name = (
            "payment-confirmation.json"
            if receipt.kind == ReceiptKind.INVOICE
            else f"payment-reversal-{receipt.number}.json"
        )
        store(
            ObjectKind.PAYMENT_CONFIRMATION,
            confirmation_name,
            _canonical_json(payment_confirmation(receipt)),
            "application/json",
            with_receipt=False,
        )
        receipt.content = content
        receipt.pdf_sha256 = hashlib.sha256(pdf).hexdigest()
        receipt.cii_sha256 = hashlib.sha256(documents.cii).hexdigest()
        receipt.ubl_sha256 = hashlib.sha256(documents.ubl).hexdigest()
        receipt.status = ReceiptStatus.RENDERED
        receipt.validation_errors = []
        receipt.rendered_at = timezone.now()
        receipt.save()
        _audit(
            None,
            "receipt.rendered",
            receipt,
            after={
                "number": receipt.number,
                "type_code": receipt.type_code,
                "pdf_sha256": receipt.pdf_sha256,
                "cii_sha256": receipt.cii_sha256,
                "ubl_sha256": receipt.ubl_sha256,
                "transaction_id": receipt.transaction_id,
                "ledger_transfer_ids": receipt.ledger_transfer_ids,
            },
            project=receipt.project_id,
        )
    return receipt


def receipts_render_pending(*, project_id: uuid.UUID | None = None, storage: DataRoomStorage | None = None) -> int:
    """Render every numbered receipt (and retry invalid ones); returns how many are rendered now."""
    rows = Receipt.objects.exclude(status=ReceiptStatus.RENDERED).order_by("organization_id", "sequence")
    if project_id is not None:
        rows = rows.filter(project_id=project_id)
    rendered = 0
    for receipt_id in list(rows.values_list("id", flat=True)):
        if receipt_render(receipt_id=receipt_id, storage=storage).status == ReceiptStatus.RENDERED:
            rendered += 1
    return rendered


def receipts_issue_missing(*, project_id: uuid.UUID | None = None) -> int:
    """Number receipts for executed disbursements that have none (disbursements executed before receipts
    existed); each in its own transaction with the disbursement locked. Returns how many were numbered."""
    rows = Disbursement.objects.filter(status=DisbursementStatus.EXECUTED).exclude(receipts__kind=ReceiptKind.INVOICE)
    if project_id is not None:
        rows = rows.filter(project_id=project_id)
    issued = 0
    for disbursement_id in list(rows.order_by("executed_on", "id").values_list("id", flat=True)):
        with transaction.atomic():
            disbursement = Disbursement.objects.select_for_update().get(pk=disbursement_id)
            if not Receipt.objects.filter(disbursement=disbursement, kind=ReceiptKind.INVOICE).exists():
                receipt_issue(actor=None, disbursement=disbursement)
                issued += 1
    return issued


@dataclass(frozen=True)
class ExportedReceipt:
    receipt: Receipt
    files: list[Path]


def receipts_export(
    *, out: Path, project_id: uuid.UUID | None = None, storage: DataRoomStorage | None = None
) -> list[ExportedReceipt]:
    """Write each rendered receipt's PDF, CII and UBL to ``out/<organization id>-<number>/`` (for auditors). Each
    document is checked against its recorded SHA-256 (``dataroom_integrity_error`` otherwise) and its read is
    audited (``dataroom.read`` by ``system: payor receipts export``)."""
    storage = storage or configured_storage()
    rows = Receipt.objects.filter(status=ReceiptStatus.RENDERED).order_by("organization_id", "sequence")
    if project_id is not None:
        rows = rows.filter(project_id=project_id)
    exported = []
    for receipt in rows:
        objects = DataRoomObject.objects.filter(receipt=receipt, kind__in=ObjectKind.receipt_kinds()).order_by("kind")
        folder = out / f"{receipt.organization_id}-{receipt.number}"
        folder.mkdir(parents=True, exist_ok=True)
        files = []
        for obj in objects:
            data = storage.get(obj.storage_key)
            if hashlib.sha256(data).hexdigest() != obj.sha256:
                raise DataRoomIntegrityError(
                    f"{obj.storage_key} does not match its recorded SHA-256", key=obj.storage_key
                )
            path = folder / obj.name
            path.write_bytes(data)
            files.append(path)
            with transaction.atomic():
                audit.record(
                    None,
                    "dataroom.read",
                    obj,
                    after={"name": obj.name, "kind": obj.kind, "sha256": obj.sha256, "exported_to": str(path)},
                    project=obj.project_id,
                    actor_label="system: payor receipts export",
                )
        exported.append(ExportedReceipt(receipt=receipt, files=files))
    return exported
