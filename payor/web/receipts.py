"""The contractor's own self-billed receipts as the web pages link them (portal payments table, invoice detail,
the milestone payment panel). Which receipts: :func:`payor.dataroom.selectors.own_receipts` (the vendors the viewer
acts for; nothing for anyone else). The downloads go through ``portal_views.receipt_download_view``, which reads
through the data room's audited service.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from payor.dataroom.models import DataRoomObject, ObjectKind
from payor.dataroom.selectors import own_receipts
from payor.projects.models import Project
from payor.receipts.models import Receipt, ReceiptStatus

if TYPE_CHECKING:
    from payor.rbac.permissions import Viewer

#: The receipt documents a contractor downloads, by the URL's format.
RECEIPT_FORMATS: Final[dict[str, str]] = {
    "pdf": ObjectKind.RECEIPT_PDF,
    "cii": ObjectKind.RECEIPT_CII,
    "ubl": ObjectKind.RECEIPT_UBL,
}


@dataclass(frozen=True)
class ReceiptLink:
    """One of the viewer's own receipts and the formats stored for it (empty while it is being rendered)."""

    receipt: Receipt
    formats: tuple[str, ...]

    @property
    def rendered(self) -> bool:
        return self.receipt.status == ReceiptStatus.RENDERED and bool(self.formats)


def receipt_links(viewer: Viewer, *, project_ids: set[uuid.UUID]) -> list[ReceiptLink]:
    """The receipts of the vendors ``viewer`` acts for on those projects (the data room's ``own_receipts``: empty
    for anyone else), in number order per project, with the formats stored for each."""
    receipts: list[Receipt] = []
    for project in Project.objects.filter(pk__in=project_ids).order_by("pk"):
        receipts.extend(own_receipts(viewer=viewer, project=project))
    stored: dict[uuid.UUID, set[str]] = {}
    kinds = {kind: name for name, kind in RECEIPT_FORMATS.items()}
    rows = DataRoomObject.objects.filter(receipt__in=receipts, kind__in=ObjectKind.receipt_kinds())
    for receipt_id, kind in rows.values_list("receipt_id", "kind"):
        stored.setdefault(receipt_id, set()).add(kinds[kind])
    return [
        ReceiptLink(receipt, tuple(name for name in RECEIPT_FORMATS if name in stored.get(receipt.pk, set())))
        for receipt in receipts
    ]


def receipts_by(links: list[ReceiptLink], attribute: str) -> dict[uuid.UUID, list[ReceiptLink]]:
    """``links`` grouped by a receipt attribute (``disbursement_id`` or ``invoice_id``)."""
    grouped: dict[uuid.UUID, list[ReceiptLink]] = {}
    for link in links:
        grouped.setdefault(getattr(link.receipt, attribute), []).append(link)
    return grouped
