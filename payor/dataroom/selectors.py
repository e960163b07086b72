"""Data-room reads, scoped by the viewer (see :mod:`payor.dataroom.services` for the access rule).

:func:`dataroom_folders` lists a project's transaction folders — executed (or reversed) disbursements with their
receipts and stored documents — for holders of ``dataroom.read`` only (403 ``permission_denied`` otherwise; a
project the viewer cannot see is 404). :func:`own_receipts` lists the receipts of the vendors the viewer acts for
(the contractor's self-billing copies); anyone else gets an empty list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from payor.dataroom.models import DataRoomObject, ObjectKind
from payor.rbac.permissions import Perm, require_permission, vendor_ids_for

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from payor.accounts.models import User
    from payor.payments.models import Disbursement
    from payor.projects.models import Project
    from payor.receipts.models import Receipt


@dataclass(frozen=True)
class Folder:
    disbursement: Disbursement
    receipts: list[Receipt]
    objects: list[DataRoomObject]


def dataroom_folders(*, viewer: User | AnonymousUser | None, project: Project) -> list[Folder]:
    """The project's transaction folders, newest payment first (``dataroom.read``)."""
    from payor.payments.models import Disbursement
    from payor.receipts.models import Receipt

    require_permission(viewer, Perm.DATAROOM_READ, project=project)
    disbursements = list(
        Disbursement.objects.filter(project=project, receipts__isnull=False)
        .select_related("vendor", "invoice")
        .distinct()
        .order_by("-executed_on", "-id")
    )
    receipts: dict[object, list[Receipt]] = {}
    for receipt in Receipt.objects.filter(project=project).order_by("sequence"):
        receipts.setdefault(receipt.disbursement_id, []).append(receipt)
    objects: dict[object, list[DataRoomObject]] = {}
    for obj in DataRoomObject.objects.filter(project=project).order_by("kind", "name"):
        objects.setdefault(obj.disbursement_id, []).append(obj)
    return [Folder(d, receipts.get(d.pk, []), objects.get(d.pk, [])) for d in disbursements]


def own_receipts(*, viewer: User | AnonymousUser | None, project: Project) -> list[Receipt]:
    """The receipts of the vendors ``viewer`` acts for on ``project`` (none for anyone else)."""
    from payor.receipts.models import Receipt

    vendor_ids = vendor_ids_for(viewer, project)
    if not vendor_ids:
        return []
    return list(Receipt.objects.filter(project=project, vendor_id__in=vendor_ids).order_by("sequence"))


def receipt_documents_of(receipt: Receipt) -> list[DataRoomObject]:
    """A receipt's stored documents (PDF, CII, UBL)."""
    return list(DataRoomObject.objects.filter(receipt=receipt, kind__in=ObjectKind.receipt_kinds()).order_by("kind"))
