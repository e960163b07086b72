"""S3 through boto3 against a local S3-compatible server (moto's ThreadedMotoServer on 127.0.0.1, a random port):
write-once, SSE-KMS and Object Lock retention when configured, hashes checked on read, and a receipt rendered
into the bucket end to end."""

from __future__ import annotations

import datetime as dt
import hashlib

import boto3
import pytest
from moto.server import ThreadedMotoServer

from payor.dataroom.errors import DataRoomConfigInvalid, DataRoomIntegrityError, DataRoomObjectExists
from payor.dataroom.models import DataRoomObject
from payor.dataroom.services import dataroom_object_read
from payor.dataroom.storage import S3Storage, configured_storage
from payor.receipts.models import Receipt, ReceiptStatus
from payor.receipts.services import receipt_render
from payor.receipts.tests.conftest import one_line, paid, set_buyer

BUCKET = "payor-dataroom-test"


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    """A fresh object-lock bucket and a KMS key on the local server; returns (client, kms key id)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local-test")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    kms = boto3.client("kms", endpoint_url=s3_endpoint, region_name="us-east-1")
    key_id = kms.create_key(Description="payor data room")["KeyMetadata"]["KeyId"]
    yield client, key_id
    for version in client.list_object_versions(Bucket=BUCKET).get("Versions", []):
        client.delete_object(
            Bucket=BUCKET, Key=version["Key"], VersionId=version["VersionId"], BypassGovernanceRetention=True
        )
    client.delete_bucket(Bucket=BUCKET)


def test_write_once_with_sse_kms_and_object_lock(s3, s3_endpoint):
    client, key_id = s3
    room = S3Storage(
        bucket=BUCKET,
        prefix="dataroom/",
        endpoint_url=s3_endpoint,
        kms_key_id=key_id,
        object_lock_mode="GOVERNANCE",
        object_lock_days=3650,
    )
    data = b"<Invoice>SB-000001</Invoice>"
    stored = room.put("p/d/SB-000001.ubl.xml", data, content_type="application/xml")

    assert (stored.size, stored.sha256, stored.key_id) == (len(data), hashlib.sha256(data).hexdigest(), key_id)
    head = client.head_object(Bucket=BUCKET, Key="dataroom/p/d/SB-000001.ubl.xml")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith(key_id)
    assert head["ObjectLockMode"] == "GOVERNANCE"
    retain_until = head["ObjectLockRetainUntilDate"]
    assert retain_until > dt.datetime.now(tz=dt.UTC) + dt.timedelta(days=3640)
    assert head["Metadata"] == {"sha256": hashlib.sha256(data).hexdigest()}
    assert room.get("p/d/SB-000001.ubl.xml") == data

    with pytest.raises(DataRoomObjectExists):
        room.put("p/d/SB-000001.ubl.xml", b"<Invoice>changed</Invoice>", content_type="application/xml")
    assert room.get("p/d/SB-000001.ubl.xml") == data
    assert len(client.list_object_versions(Bucket=BUCKET)["Versions"]) == 1

    # An object whose bytes no longer match the recorded SHA-256 is refused on read.
    client.put_object(Bucket=BUCKET, Key="dataroom/p/d/forged.xml", Body=b"forged", Metadata={"sha256": "0" * 64})
    with pytest.raises(DataRoomIntegrityError):
        room.get("p/d/forged.xml")
    with pytest.raises(DataRoomConfigInvalid):
        S3Storage(bucket="", endpoint_url=s3_endpoint)
    with pytest.raises(DataRoomConfigInvalid):
        S3Storage(bucket=BUCKET, endpoint_url=s3_endpoint, object_lock_mode="GOVERNANCE")


@pytest.mark.django_db
def test_a_receipt_is_rendered_into_the_bucket_and_read_back(billing, s3, s3_endpoint, settings):
    _, key_id = s3
    settings.DATAROOM_BACKEND = "s3"
    settings.DATAROOM_S3_BUCKET = BUCKET
    settings.DATAROOM_S3_PREFIX = "dataroom/"
    settings.DATAROOM_S3_ENDPOINT_URL = s3_endpoint
    settings.DATAROOM_S3_KMS_KEY_ID = key_id
    settings.DATAROOM_S3_OBJECT_LOCK_MODE = ""
    assert isinstance(configured_storage(), S3Storage)
    set_buyer(billing)
    disbursement = paid(billing, one_line(billing))

    receipt = receipt_render(receipt_id=Receipt.objects.get(disbursement=disbursement).pk)

    assert receipt.status == ReceiptStatus.RENDERED
    pdf = DataRoomObject.objects.get(receipt=receipt, kind="receipt_pdf")
    assert (pdf.backend, pdf.key_id, pdf.sha256) == ("s3", key_id, receipt.pdf_sha256)
    document = dataroom_object_read(viewer=billing.people["fin"], object_id=pdf.pk)
    assert hashlib.sha256(document.data).hexdigest() == receipt.pdf_sha256
    assert document.data.startswith(b"%PDF-1.7")
