"""The data-room page (finance only, downloads audited) and the operator commands: ``payor receipts export``,
``verify`` (detects an altered document), ``render`` and ``payor dataroom rotate-keys``."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from payor.audit.models import AuditEvent
from payor.dataroom.models import DataRoomObject
from payor.dataroom.storage import Keyring, LocalEncryptedStorage
from payor.receipts.models import Receipt, ReceiptStatus
from payor.receipts.tests.conftest import KEY_1, KEY_2, one_line, paid, set_buyer

pytestmark = pytest.mark.django_db


@pytest.fixture
def rendered(billing, dataroom):
    """One executed payment whose receipt the ``receipts render`` command renders."""
    set_buyer(billing)
    disbursement = paid(billing, one_line(billing))
    out = io.StringIO()
    call_command("receipts", "render", stdout=out)
    assert out.getvalue() == "0 numbered, 1 rendered, 0 blocked by validation\n"
    return Receipt.objects.get(disbursement=disbursement)


def test_the_page_lists_transactions_with_their_documents_and_hashes_for_finance_only(billing, rendered):
    project = billing.world.project
    fin = Client()
    fin.force_login(billing.people["fin"])
    page = fin.get(f"/projects/{project.pk}/dataroom/")
    assert page.status_code == 200
    html = page.content.decode()
    for obj in DataRoomObject.objects.all():
        assert obj.name in html
        assert obj.sha256 in html
    assert "ACH-TRACE-000123" in html
    assert "SB-000001" in html

    pdf = DataRoomObject.objects.get(receipt=rendered, kind="receipt_pdf")
    download = fin.get(f"/dataroom/objects/{pdf.pk}/")
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == rendered.pdf_sha256
    assert AuditEvent.objects.filter(action="dataroom.read", subject_id=str(pdf.pk)).count() == 1

    for name in ("pm", "dao1"):
        other = Client()
        other.force_login(billing.people[name])
        response = other.get(f"/projects/{project.pk}/dataroom/")
        assert response.status_code == 403
        assert "SB-000001" not in response.content.decode()
        assert other.get(f"/dataroom/objects/{pdf.pk}/").status_code == 404
    assert AuditEvent.objects.filter(action="dataroom.read").count() == 1


def test_export_verify_and_key_rotation(billing, rendered, dataroom, settings, tmp_path):
    out = io.StringIO()
    call_command("receipts", "export", "--out", str(tmp_path / "export"), stdout=out)
    assert out.getvalue().splitlines() == ["SB-000001  389  3 files", f"1 receipts exported to {tmp_path / 'export'}"]
    folder = tmp_path / "export" / f"{rendered.organization_id}-SB-000001"
    assert sorted(p.name for p in folder.iterdir()) == ["SB-000001.cii.xml", "SB-000001.pdf", "SB-000001.ubl.xml"]
    assert hashlib.sha256((folder / "SB-000001.pdf").read_bytes()).hexdigest() == rendered.pdf_sha256
    assert hashlib.sha256((folder / "SB-000001.cii.xml").read_bytes()).hexdigest() == rendered.cii_sha256
    exported = AuditEvent.objects.filter(action="dataroom.read", actor_label="system: payor receipts export")
    assert sorted(e.after["name"] for e in exported) == ["SB-000001.cii.xml", "SB-000001.pdf", "SB-000001.ubl.xml"]

    out = io.StringIO()
    call_command("receipts", "verify", stdout=out)
    assert out.getvalue() == "5 documents checked, 0 problems\n"

    # Rotation: k2 becomes active, every data key is re-wrapped, and k1 can then be removed.
    settings.DATAROOM_KEYS = f"k1:{KEY_1},k2:{KEY_2}"
    settings.DATAROOM_ACTIVE_KEY = "k2"
    out = io.StringIO()
    call_command("dataroom", "rotate-keys", stdout=out)
    assert out.getvalue() == "5 objects re-wrapped\n"
    assert set(DataRoomObject.objects.values_list("key_id", flat=True)) == {"k2"}
    assert AuditEvent.objects.filter(action="dataroom.keys_rotated").get().after == {
        "active_key_id": "k2",
        "objects_rewrapped": 5,
    }
    settings.DATAROOM_KEYS = f"k2:{KEY_2}"
    out = io.StringIO()
    call_command("receipts", "verify", stdout=out)
    assert out.getvalue() == "5 documents checked, 0 problems\n"
    assert (
        LocalEncryptedStorage(dataroom.root, Keyring.parse(f"k2:{KEY_2}"))
        .get(DataRoomObject.objects.get(receipt=rendered, kind="receipt_cii").storage_key)
        .startswith(b"<?xml")
    )

    # An altered stored document is reported and the command fails.
    pdf = DataRoomObject.objects.get(receipt=rendered, kind="receipt_pdf")
    path = dataroom.root / pdf.storage_key
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF
    path.write_bytes(bytes(raw))
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 stored documents do not match"):
        call_command("receipts", "verify", stdout=io.StringIO(), stderr=err)
    assert err.getvalue().startswith(f"FAIL {pdf.storage_key}: dataroom_integrity_error")
    assert Receipt.objects.get(pk=rendered.pk).status == ReceiptStatus.RENDERED


def test_generate_key_prints_a_keyring_entry():
    out = io.StringIO()
    call_command("dataroom", "generate-key", "k2027", stdout=out)
    spec = out.getvalue().strip()
    assert spec.startswith("k2027:")
    assert Keyring.parse(spec).active == "k2027"
    with pytest.raises(CommandError, match="kid:base64key"):
        call_command("dataroom", "generate-key", "bad id", stdout=io.StringIO())
