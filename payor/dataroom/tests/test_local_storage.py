"""The encrypted local folder: no plaintext at rest, a wrong or missing key fails clearly, write-once, tampering
is detected, rotation re-wraps data keys and keeps every document readable."""

from __future__ import annotations

import base64
import hashlib

import pytest

from payor.dataroom.errors import (
    DataRoomConfigInvalid,
    DataRoomIntegrityError,
    DataRoomKeyInvalid,
    DataRoomKeyMissing,
    DataRoomObjectExists,
)
from payor.dataroom.storage import MAGIC, Keyring, LocalEncryptedStorage, configured_keyring

K1 = base64.b64encode(bytes(range(32))).decode()
K2 = base64.b64encode(bytes(range(32, 64))).decode()
OTHER = base64.b64encode(bytes(range(64, 96))).decode()
SECRET = b"Self-billed invoice SB-000001 paid to Willow Creek Restoration LLC: 832.00 USD, ACH-TRACE-000123"
KEY = "proj/disb/SB-000001.pdf"


def storage(tmp_path, spec: str, active: str = "") -> LocalEncryptedStorage:
    return LocalEncryptedStorage(tmp_path / "room", Keyring.parse(spec, active))


def test_stored_bytes_contain_no_plaintext_and_read_back(tmp_path):
    room = storage(tmp_path, f"k1:{K1}")
    stored = room.put(KEY, SECRET, content_type="application/pdf")

    assert (stored.key, stored.size, stored.key_id) == (KEY, len(SECRET), "k1")
    assert stored.sha256 == hashlib.sha256(SECRET).hexdigest()
    raw = (tmp_path / "room" / KEY).read_bytes()
    assert raw.startswith(MAGIC)
    for fragment in (SECRET, b"Willow", b"832.00", b"ACH-TRACE", base64.b64encode(SECRET)[:16]):
        assert fragment not in raw
    assert room.get(KEY) == SECRET
    # Two objects with the same content get different data keys and nonces: different ciphertexts.
    room.put("proj/disb/copy.pdf", SECRET, content_type="application/pdf")
    assert (tmp_path / "room/proj/disb/copy.pdf").read_bytes()[-len(SECRET) :] != raw[-len(SECRET) :]


def test_a_wrong_or_missing_key_fails_clearly(tmp_path, settings):
    storage(tmp_path, f"k1:{K1}").put(KEY, SECRET, content_type="application/pdf")

    with pytest.raises(DataRoomKeyInvalid) as wrong:
        storage(tmp_path, f"k1:{OTHER}").get(KEY)
    assert (wrong.value.code, wrong.value.status, wrong.value.extra["key_id"]) == ("dataroom_key_invalid", 503, "k1")
    with pytest.raises(DataRoomKeyMissing) as missing:
        storage(tmp_path, f"k2:{K2}").get(KEY)
    assert (missing.value.code, missing.value.extra["key_id"]) == ("dataroom_key_missing", "k1")
    with pytest.raises(DataRoomKeyMissing):
        Keyring.parse("")
    with pytest.raises(DataRoomConfigInvalid, match="32 bytes"):
        Keyring.parse(f"k1:{base64.b64encode(b'short').decode()}")
    with pytest.raises(DataRoomConfigInvalid, match="not base64"):
        Keyring.parse("k1:@@@")
    with pytest.raises(DataRoomKeyMissing, match="active data-room key k9"):
        Keyring.parse(f"k1:{K1}", "k9")
    settings.PRODUCTION = True
    settings.DATAROOM_KEYS = ""
    with pytest.raises(DataRoomKeyMissing, match="PAYOR_DATAROOM_KEYS"):
        configured_keyring()


def test_write_once_and_tampering_is_detected(tmp_path):
    room = storage(tmp_path, f"k1:{K1}")
    room.put(KEY, SECRET, content_type="application/pdf")
    path = tmp_path / "room" / KEY
    before = path.read_bytes()

    with pytest.raises(DataRoomObjectExists):
        room.put(KEY, b"another document", content_type="application/pdf")
    assert path.read_bytes() == before
    assert room.get(KEY) == SECRET

    tampered = bytearray(before)
    tampered[-1] ^= 0x01
    path.write_bytes(bytes(tampered))
    with pytest.raises(DataRoomIntegrityError, match="tampered"):
        room.get(KEY)
    # The object key is bound into the encryption: a file moved to another name does not open.
    path.write_bytes(before)
    (tmp_path / "room/proj/disb/moved.pdf").write_bytes(before)
    with pytest.raises(DataRoomKeyInvalid):
        room.get("proj/disb/moved.pdf")
    with pytest.raises(DataRoomConfigInvalid):
        room.put("../escape.pdf", SECRET, content_type="application/pdf")


def test_rotation_rewraps_data_keys_and_keeps_documents_readable(tmp_path):
    old = storage(tmp_path, f"k1:{K1}")
    old.put(KEY, SECRET, content_type="application/pdf")
    old.put("proj/disb/SB-000001.cii.xml", b"<xml/>", content_type="application/xml")
    ciphertext = (tmp_path / "room" / KEY).read_bytes()[-len(SECRET) - 16 :]

    both = storage(tmp_path, f"k1:{K1},k2:{K2}", "k2")
    assert [both.rewrap(key) for key in both.object_keys()] == [True, True]
    assert [both.rewrap(key) for key in both.object_keys()] == [False, False]  # already under k2

    only_new = storage(tmp_path, f"k2:{K2}")
    assert only_new.get(KEY) == SECRET
    assert only_new.get("proj/disb/SB-000001.cii.xml") == b"<xml/>"
    assert only_new.key_id(KEY) == "k2"
    assert (tmp_path / "room" / KEY).read_bytes()[-len(SECRET) - 16 :] == ciphertext  # only the wrapping changed
    with pytest.raises(DataRoomKeyMissing):
        old.get(KEY)
