"""``payor receipts export|verify|render``: operator commands for the self-billed receipts.

* ``export --out DIR [--project UUID]`` writes each rendered receipt's PDF, CII and UBL to ``DIR/<organization
  id>-<number>/`` for auditors (every file checked against its recorded SHA-256 first);
* ``verify [--project UUID]`` re-hashes every stored data-room document against the hash recorded when it was
  stored (and each receipt's recorded PDF/CII/UBL hashes), exit 1 naming each mismatch;
* ``render [--project UUID]`` numbers receipts for executed payments that have none (paid before receipts
  existed) and renders every pending one now, instead of waiting for the worker.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from payor.dataroom.models import DataRoomObject
from payor.dataroom.services import dataroom_verify
from payor.receipts.models import Receipt, ReceiptStatus
from payor.receipts.services import receipts_export, receipts_issue_missing, receipts_render_pending

RECORDED = {"receipt_pdf": "pdf_sha256", "receipt_cii": "cii_sha256", "receipt_ubl": "ubl_sha256"}


def _project(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise CommandError(f"--project must be a project id (UUID), got {value!r}") from None


class Command(BaseCommand):
    help = "Self-billed receipts: export (PDF, CII, UBL for auditors), verify (re-hash stored documents), render."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export", help="Write each receipt's PDF, CII and UBL to a directory")
        export.add_argument("--out", required=True, metavar="DIR")
        export.add_argument("--project", metavar="UUID", help="Only this project's receipts")
        verify = sub.add_parser("verify", help="Re-hash stored documents against their recorded SHA-256")
        verify.add_argument("--project", metavar="UUID", help="Only this project's documents")
        render = sub.add_parser("render", help="Number missing receipts and render pending ones now")
        render.add_argument("--project", metavar="UUID", help="Only this project's receipts")

    def handle(self, *args: Any, **options: Any) -> None:
        project_id = _project(options.get("project"))
        if options["action"] == "export":
            out = Path(options["out"])
            exported = receipts_export(out=out, project_id=project_id)
            for item in exported:
                self.stdout.write(f"{item.receipt.number}  {item.receipt.type_code}  {len(item.files)} files")
            self.stdout.write(f"{len(exported)} receipts exported to {out}")
        elif options["action"] == "render":
            issued = receipts_issue_missing(project_id=project_id)
            rendered = receipts_render_pending(project_id=project_id)
            invalid = Receipt.objects.filter(status=ReceiptStatus.INVALID)
            if project_id is not None:
                invalid = invalid.filter(project_id=project_id)
            self.stdout.write(f"{issued} numbered, {rendered} rendered, {invalid.count()} blocked by validation")
            for receipt in invalid:
                for error in receipt.validation_errors:
                    self.stderr.write(f"{receipt.number} {error['syntax']} {error['rule']}: {error['text']}")
        else:
            self._verify(project_id)

    def _verify(self, project_id: uuid.UUID | None) -> None:
        objects = DataRoomObject.objects.select_related("receipt").order_by("storage_key")
        if project_id is not None:
            objects = objects.filter(project_id=project_id)
        problems = 0
        results = dataroom_verify(objects=list(objects))
        for result in results:
            recorded = RECORDED.get(result.obj.kind)
            problem = result.problem
            receipt = result.obj.receipt
            if result.ok and recorded and receipt is not None and getattr(receipt, recorded) != result.obj.sha256:
                problem = f"receipt {receipt.number} records another {recorded}"
            if problem:
                problems += 1
                self.stderr.write(f"FAIL {result.obj.storage_key}: {problem}")
        self.stdout.write(f"{len(results)} documents checked, {problems} problems")
        if problems:
            raise CommandError(f"{problems} stored documents do not match their recorded hashes", returncode=1)
