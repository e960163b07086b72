"""``/api/v1`` receipts and the data room: thin edge over ``payor.dataroom`` selectors and services.

* ``GET /projects/{id}/dataroom`` — the transaction folders with their receipts and documents (SHA-256, size):
  ``dataroom.read`` holders only (finance reviewer, treasurer, procurement, auditor, system auditors); 403
  ``permission_denied`` for anyone else who sees the project, 404 ``project_not_found`` for who does not.
* ``GET /projects/{id}/receipts/mine`` — the contractor's own receipts (the vendors the caller acts for).
* ``GET /dataroom/objects/{id}`` — download one document; 404 ``dataroom_object_not_found`` unless the caller may
  read it (a contractor only their own receipt's PDF/CII/UBL); every download is audited (``dataroom.read``).
"""

# No ``from __future__ import annotations``: ninja reads the endpoint signatures.
import base64
import datetime as dt
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.utils.http import content_disposition_header
from ninja import Router, Schema

from payor.api.schemas import Problem
from payor.dataroom import selectors
from payor.dataroom.models import DataRoomObject
from payor.dataroom.services import dataroom_object_read
from payor.projects.selectors import project_get
from payor.receipts.models import Receipt

router = Router(tags=["receipts"])

ERRORS: dict[int, type[Problem]] = {401: Problem, 403: Problem, 404: Problem, 503: Problem}


class DocumentOut(Schema):
    id: UUID
    kind: str
    name: str
    content_type: str
    size: int
    sha256: str
    receipt_id: UUID | None

    @classmethod
    def of(cls, obj: DataRoomObject) -> "DocumentOut":
        return cls(
            id=obj.pk,
            kind=obj.kind,
            name=obj.name,
            content_type=obj.content_type,
            size=obj.size,
            sha256=obj.sha256,
            receipt_id=obj.receipt_id,
        )


class ReceiptOut(Schema):
    id: UUID
    number: str
    type_code: str
    kind: str
    status: str
    issue_date: dt.date
    transaction_id: str
    currency: str
    pdf_sha256: str
    cii_sha256: str
    ubl_sha256: str
    corrects: str | None
    validation_errors: list[dict[str, str]]

    @classmethod
    def of(cls, receipt: Receipt, numbers: dict[UUID, str]) -> "ReceiptOut":
        return cls(
            id=receipt.pk,
            number=receipt.number,
            type_code=receipt.type_code,
            kind=receipt.kind,
            status=receipt.status,
            issue_date=receipt.issue_date,
            transaction_id=receipt.transaction_id,
            currency=receipt.currency,
            pdf_sha256=receipt.pdf_sha256,
            cii_sha256=receipt.cii_sha256,
            ubl_sha256=receipt.ubl_sha256,
            corrects=numbers.get(receipt.corrects_id) if receipt.corrects_id else None,
            validation_errors=receipt.validation_errors,
        )


class FolderOut(Schema):
    disbursement_id: UUID
    invoice_number: str
    vendor: str
    method: str
    status: str
    executed_on: dt.date | None
    transaction_id: str
    receipts: list[ReceiptOut]
    documents: list[DocumentOut]


class OwnReceiptOut(Schema):
    receipt: ReceiptOut
    documents: list[DocumentOut]


@router.get(
    "/projects/{project_id}/dataroom",
    response={200: list[FolderOut], **ERRORS},
    url_name="project_dataroom",
    summary="The project's data room: one folder per transaction (finance, procurement, auditors)",
)
def dataroom(request: HttpRequest, project_id: UUID) -> list[FolderOut]:
    project = project_get(viewer=request.user, project_id=project_id)  # type: ignore[arg-type]
    folders = selectors.dataroom_folders(viewer=request.user, project=project)
    out = []
    for folder in folders:
        numbers = {r.pk: r.number for r in folder.receipts}
        d = folder.disbursement
        out.append(
            FolderOut(
                disbursement_id=d.pk,
                invoice_number=d.invoice.number,
                vendor=d.vendor.legal_name or d.vendor.name,
                method=d.method,
                status=d.status,
                executed_on=d.executed_on,
                transaction_id=d.rail_reference,
                receipts=[ReceiptOut.of(r, numbers) for r in folder.receipts],
                documents=[DocumentOut.of(o) for o in folder.objects],
            )
        )
    return out


@router.get(
    "/projects/{project_id}/receipts/mine",
    response={200: list[OwnReceiptOut], **ERRORS},
    url_name="project_receipts_mine",
    summary="The caller's own self-billed receipts (the vendors they act for)",
)
def my_receipts(request: HttpRequest, project_id: UUID) -> list[OwnReceiptOut]:
    project = project_get(viewer=request.user, project_id=project_id)  # type: ignore[arg-type]
    receipts = selectors.own_receipts(viewer=request.user, project=project)
    numbers = {r.pk: r.number for r in receipts}
    return [
        OwnReceiptOut(
            receipt=ReceiptOut.of(r, numbers),
            documents=[DocumentOut.of(o) for o in selectors.receipt_documents_of(r)],
        )
        for r in receipts
    ]


@router.get(
    "/dataroom/objects/{object_id}",
    response={200: None, **ERRORS},
    url_name="dataroom_object_download",
    summary="Download one data-room document; every download is audited",
    openapi_extra={"responses": {200: {"description": "The document", "content": {"application/octet-stream": {}}}}},
)
def download(request: HttpRequest, object_id: UUID) -> HttpResponse:
    document = dataroom_object_read(viewer=request.user, object_id=object_id, request=request)
    response = HttpResponse(document.data, content_type=document.obj.content_type)
    response["Content-Disposition"] = content_disposition_header(True, document.obj.name.rsplit("/", 1)[-1])
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Repr-Digest"] = f"sha-256=:{base64.b64encode(bytes.fromhex(document.obj.sha256)).decode()}:"
    return response
