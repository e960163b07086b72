"""Data-room writes: storing a transaction's documents, audited reads, key rotation.

Access (seed 000: "only finance/procurement can open"): reading needs ``dataroom.read`` on the project
(FINANCE_REVIEWER, TREASURER, PROCUREMENT, AUDITOR, system auditors), except that a contractor's users may download
their own receipt documents (PDF, CII, UBL: the self-billing copy they are owed) and nothing else of the folder.
Anyone else gets 404 (existence is not leaked). Every read is audited (``dataroom.read``) before the bytes are
returned, and the bytes are checked against the recorded SHA-256.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction

from payor import audit
from payor.dataroom.errors import DataRoomIntegrityError, DataRoomNotFound, DataRoomObjectExists
from payor.dataroom.models import DataRoomObject, ObjectKind
from payor.dataroom.storage import DataRoomStorage, LocalEncryptedStorage, configured_storage
from payor.rbac.permissions import Perm, has_permission, vendor_ids_for

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser
    from django.http import HttpRequest

    from payor.accounts.models import User
    from payor.payments.models import Disbursement
    from payor.receipts.models import Receipt


def object_key(disbursement: Disbursement, name: str) -> str:
    """``<project id>/<disbursement id>/<name>``: one folder per transaction."""
    return f"{disbursement.project_id}/{disbursement.pk}/{name}"


def dataroom_object_store(
    *,
    disbursement: Disbursement,
    kind: str,
    name: str,
    data: bytes,
    content_type: str,
    receipt: Receipt | None = None,
    storage: DataRoomStorage | None = None,
) -> DataRoomObject:
    """Store one document in the transaction's folder and record it. Already recorded with the same bytes →
    returned as is. Already in the storage but not recorded (a render that crashed before its commit) → the stored
    bytes are kept and recorded when they are these bytes; different bytes are refused
    (``dataroom_object_exists``): the data room never overwrites."""
    storage = storage or configured_storage()
    sha256 = hashlib.sha256(data).hexdigest()
    existing = DataRoomObject.objects.filter(disbursement=disbursement, name=name).first()
    if existing is not None:
        if existing.sha256 != sha256:
            raise DataRoomObjectExists(f"{name} is already in the folder with other content", key=existing.storage_key)
        return existing
    key = object_key(disbursement, name)
    try:
        stored = storage.put(key, data, content_type=content_type)
        key_id = stored.key_id
    except DataRoomObjectExists:
        if hashlib.sha256(storage.get(key)).hexdigest() != sha256:
            raise
        key_id = storage.key_id(key) if isinstance(storage, LocalEncryptedStorage) else ""
    return DataRoomObject.objects.create(
        project_id=disbursement.project_id,
        disbursement=disbursement,
        receipt=receipt,
        kind=kind,
        name=name,
        backend=storage.backend,
        storage_key=key,
        content_type=content_type,
        size=len(data),
        sha256=sha256,
        key_id=key_id,
    )


def can_read(viewer: User | AnonymousUser | None, obj: DataRoomObject) -> bool:
    """Finance/procurement/auditors read the whole folder; the contractor only their own receipt documents."""
    if has_permission(viewer, Perm.DATAROOM_READ, project=obj.project_id):
        return True
    if obj.kind not in ObjectKind.receipt_kinds() or obj.receipt_id is None:
        return False
    return obj.disbursement.vendor_id in vendor_ids_for(viewer, obj.project_id)


@dataclass(frozen=True)
class ReadDocument:
    obj: DataRoomObject
    data: bytes


def dataroom_object_read(
    *,
    viewer: User | AnonymousUser | None,
    object_id: uuid.UUID | str,
    request: HttpRequest | None = None,
    storage: DataRoomStorage | None = None,
) -> ReadDocument:
    """Read one document (module docstring): 404 ``dataroom_object_not_found`` unless the viewer may; audited."""
    obj = DataRoomObject.objects.select_related("disbursement").filter(pk=object_id).first()
    if obj is None or not can_read(viewer, obj):
        raise DataRoomNotFound()
    storage = storage or configured_storage()
    data = storage.get(obj.storage_key)
    if hashlib.sha256(data).hexdigest() != obj.sha256:
        raise DataRoomIntegrityError(f"{obj.storage_key} does not match its recorded SHA-256", key=obj.storage_key)
    with transaction.atomic():
        audit.record(
            viewer,
            "dataroom.read",
            obj,
            after={"name": obj.name, "kind": obj.kind, "sha256": obj.sha256, "disbursement_id": obj.disbursement_id},
            project=obj.project_id,
            request=request,
        )
    return ReadDocument(obj=obj, data=data)


@dataclass(frozen=True)
class VerifyResult:
    obj: DataRoomObject
    ok: bool
    problem: str


def dataroom_verify(*, objects: list[DataRoomObject], storage: DataRoomStorage | None = None) -> list[VerifyResult]:
    """Re-hash stored documents against their recorded SHA-256 (``payor receipts verify``)."""
    storage = storage or configured_storage()
    results = []
    for obj in objects:
        try:
            data = storage.get(obj.storage_key)
        except Exception as exc:
            results.append(VerifyResult(obj, False, f"{getattr(exc, 'code', type(exc).__name__)}: {exc}"))
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest != obj.sha256:
            results.append(VerifyResult(obj, False, f"sha256 {digest} != recorded {obj.sha256}"))
        else:
            results.append(VerifyResult(obj, True, ""))
    return results


def dataroom_keys_rotate(*, storage: LocalEncryptedStorage | None = None) -> int:
    """Re-wrap every local object's data key under the active master key; returns how many changed. Audited as
    ``dataroom.keys_rotated`` (system)."""
    storage = storage or configured_storage()  # type: ignore[assignment]
    if not isinstance(storage, LocalEncryptedStorage):
        return 0
    changed = 0
    active = storage.keyring.active
    for obj in DataRoomObject.objects.filter(backend="local").exclude(key_id=active).order_by("id"):
        if storage.rewrap(obj.storage_key):
            changed += 1
        DataRoomObject.objects.filter(pk=obj.pk).update(key_id=active)
    with transaction.atomic():
        audit.record(
            None,
            "dataroom.keys_rotated",
            ("dataroom.keyring", active),
            after={"active_key_id": active, "objects_rewrapped": changed},
            actor_label="system",
        )
    return changed
