"""Data-room storage backends: write-once object stores behind one narrow Protocol.

* :class:`LocalEncryptedStorage` (default): a folder of files, each encrypted with AES-256-GCM under its own
  random 256-bit data key; the data key is wrapped (AES-256-GCM again) by a master key named by a key id, and the
  key id, the wrapped key and both nonces sit in the object's header. Master keys come from settings
  (``PAYOR_DATAROOM_KEYS="kid1:<base64 32 bytes>,kid2:…"``, the active one ``PAYOR_DATAROOM_ACTIVE_KEY``).
  Rotation re-wraps each data key under the active master key (:meth:`LocalEncryptedStorage.rewrap`); the
  ciphertext never changes, so old keys can be retired once every object is re-wrapped. The object key is bound
  into both encryptions as associated data, so a file moved to another name no longer decrypts.
* :class:`S3Storage`: an S3 bucket through ``boto3`` — SSE-KMS (``PAYOR_DATAROOM_S3_KMS_KEY_ID``) and Object
  Lock retention (``PAYOR_DATAROOM_S3_OBJECT_LOCK_MODE``/``_DAYS``) when configured; the SHA-256 travels as object
  metadata and is checked on every read.

Write-once everywhere: ``put`` refuses an existing key (``DataRoomObjectExists``) — locally with an atomic
``link()`` that fails when the name exists, on S3 with a conditional ``PutObject`` (``If-None-Match: *``) after a
``HEAD`` check.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from payor.dataroom.errors import (
    DataRoomConfigInvalid,
    DataRoomIntegrityError,
    DataRoomKeyInvalid,
    DataRoomKeyMissing,
    DataRoomObjectExists,
    DataRoomObjectMissing,
)

MAGIC = b"PAYORDR1"
KEY_BYTES = 32
NONCE_BYTES = 12


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str
    key_id: str


class DataRoomStorage(Protocol):
    """A write-once object store."""

    backend: str

    def put(self, key: str, data: bytes, *, content_type: str) -> StoredObject:
        """Store ``data`` under ``key``; refuses an existing key (``DataRoomObjectExists``)."""
        ...

    def get(self, key: str) -> bytes:
        """The plaintext bytes (``DataRoomObjectMissing``, ``DataRoomKeyMissing``/``Invalid``)."""
        ...

    def exists(self, key: str) -> bool: ...


# ------------------------------------------------------------------------------------------------------------
# Keys
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keyring:
    """Master keys by key id, and the one new objects are wrapped with."""

    keys: dict[str, bytes]
    active: str

    @classmethod
    def parse(cls, spec: str, active: str = "") -> Keyring:
        """``"kid1:base64key,kid2:base64key"``; ``active`` defaults to the last one listed."""
        keys: dict[str, bytes] = {}
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            kid, sep, encoded = item.partition(":")
            kid = kid.strip()
            if not sep or not kid or not kid.replace("-", "").replace("_", "").isalnum():
                raise DataRoomConfigInvalid("each data-room key is written kid:base64key", key_id=kid)
            try:
                raw = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise DataRoomConfigInvalid(f"data-room key {kid} is not base64", key_id=kid) from exc
            if len(raw) != KEY_BYTES:
                raise DataRoomConfigInvalid(f"data-room key {kid} must be 32 bytes (AES-256)", key_id=kid)
            keys[kid] = raw
        if not keys:
            raise DataRoomKeyMissing("no data-room master key is configured (PAYOR_DATAROOM_KEYS)")
        active = active or list(keys)[-1]
        if active not in keys:
            raise DataRoomKeyMissing(f"the active data-room key {active} is not configured", key_id=active)
        return cls(keys=keys, active=active)

    def key(self, kid: str) -> bytes:
        try:
            return self.keys[kid]
        except KeyError:
            raise DataRoomKeyMissing(f"data-room key {kid} is not configured", key_id=kid) from None


def generate_key_spec(kid: str) -> str:
    """A new ``kid:base64key`` entry (``payor dataroom generate-key``); the key id is checked as the keyring will."""
    spec = f"{kid}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"
    Keyring.parse(spec)
    return spec


def configured_keyring() -> Keyring:
    """The keyring from settings. Outside production, with no keys set, a key generated once and kept in the data
    directory (``dataroom_keys``), like the development secret key."""
    spec = settings.DATAROOM_KEYS
    if not spec and not settings.PRODUCTION:
        path = Path(settings.DATA_DIR) / "dataroom_keys"
        if not path.exists():
            path.write_text(generate_key_spec("dev1"))
            path.chmod(0o600)
        spec = path.read_text().strip()
    return Keyring.parse(spec, settings.DATAROOM_ACTIVE_KEY)


# ------------------------------------------------------------------------------------------------------------
# Local encrypted folder
# ------------------------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _wrap_aad(kid: str, key: str) -> bytes:
    return f"payor-dataroom-key|{kid}|{key}".encode()


def _data_aad(key: str) -> bytes:
    return f"payor-dataroom-object|{key}".encode()


def _safe_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts) or "\x00" in key:
        raise DataRoomConfigInvalid(f"invalid object key {key!r}")
    return key


class LocalEncryptedStorage:
    """Encrypted files under ``root`` (module docstring)."""

    backend = "local"

    def __init__(self, root: Path, keyring: Keyring | None = None) -> None:
        self.root = Path(root)
        self._keyring = keyring

    @property
    def keyring(self) -> Keyring:
        if self._keyring is None:
            self._keyring = configured_keyring()
        return self._keyring

    def path(self, key: str) -> Path:
        return self.root / _safe_key(key)

    def _seal(self, key: str, kid: str, data_key: bytes, nonce: bytes, ciphertext: bytes) -> bytes:
        wrap_nonce = secrets.token_bytes(NONCE_BYTES)
        wrapped = AESGCM(self.keyring.key(kid)).encrypt(wrap_nonce, data_key, _wrap_aad(kid, key))
        header = json.dumps(
            {
                "v": 1,
                "alg": "AES-256-GCM",
                "kid": kid,
                "wrap_nonce": _b64(wrap_nonce),
                "wrapped_key": _b64(wrapped),
                "nonce": _b64(nonce),
            },
            separators=(",", ":"),
        ).encode()
        return MAGIC + struct.pack(">H", len(header)) + header + ciphertext

    @staticmethod
    def _open_header(raw: bytes, key: str) -> tuple[dict[str, Any], bytes]:
        if not raw.startswith(MAGIC) or len(raw) < len(MAGIC) + 2:
            raise DataRoomIntegrityError(f"{key} is not a data-room object", key=key)
        (length,) = struct.unpack(">H", raw[len(MAGIC) : len(MAGIC) + 2])
        start = len(MAGIC) + 2
        try:
            header = json.loads(raw[start : start + length])
        except ValueError as exc:
            raise DataRoomIntegrityError(f"{key} has a damaged header", key=key) from exc
        return header, raw[start + length :]

    def _data_key(self, header: dict[str, Any], key: str) -> bytes:
        kid = str(header["kid"])
        try:
            return AESGCM(self.keyring.key(kid)).decrypt(
                base64.b64decode(header["wrap_nonce"]), base64.b64decode(header["wrapped_key"]), _wrap_aad(kid, key)
            )
        except InvalidTag:
            raise DataRoomKeyInvalid(
                f"data-room key {kid} does not open {key}: wrong key or tampered object", key_id=kid, key=key
            ) from None

    def put(self, key: str, data: bytes, *, content_type: str) -> StoredObject:
        path = self.path(key)
        if path.exists():
            raise DataRoomObjectExists(f"{key} already exists", key=key)
        kid = self.keyring.active
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = secrets.token_bytes(NONCE_BYTES)
        ciphertext = AESGCM(data_key).encrypt(nonce, data, _data_aad(key))
        sealed = self._seal(key, kid, data_key, nonce, ciphertext)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        tmp.write_bytes(sealed)
        try:
            os.link(tmp, path)  # atomic, and fails when the name exists: write-once
        except FileExistsError:
            raise DataRoomObjectExists(f"{key} already exists", key=key) from None
        finally:
            tmp.unlink()
        return StoredObject(key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest(), key_id=kid)

    def get(self, key: str) -> bytes:
        path = self.path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise DataRoomObjectMissing(f"{key} is not in the data room", key=key) from None
        header, ciphertext = self._open_header(raw, key)
        data_key = self._data_key(header, key)
        try:
            return AESGCM(data_key).decrypt(base64.b64decode(header["nonce"]), ciphertext, _data_aad(key))
        except InvalidTag:
            raise DataRoomIntegrityError(f"{key} fails its authentication tag: tampered", key=key) from None

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def key_id(self, key: str) -> str:
        header, _ = self._open_header(self.path(key).read_bytes(), key)
        return str(header["kid"])

    def rewrap(self, key: str) -> bool:
        """Re-wrap ``key``'s data key under the active master key (the ciphertext is untouched). False when it
        already is. The file is replaced atomically: this is the one write to an existing object."""
        path = self.path(key)
        raw = path.read_bytes()
        header, ciphertext = self._open_header(raw, key)
        if header["kid"] == self.keyring.active:
            return False
        data_key = self._data_key(header, key)
        sealed = self._seal(key, self.keyring.active, data_key, base64.b64decode(header["nonce"]), ciphertext)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        tmp.write_bytes(sealed)
        os.replace(tmp, path)
        return True

    def object_keys(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(
            str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file() and not p.name.startswith(".")
        )


# ------------------------------------------------------------------------------------------------------------
# S3
# ------------------------------------------------------------------------------------------------------------


class S3Storage:
    """A bucket through ``boto3`` (module docstring)."""

    backend = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        kms_key_id: str = "",
        object_lock_mode: str = "",
        object_lock_days: int = 0,
        client: Any = None,
    ) -> None:
        if not bucket:
            raise DataRoomConfigInvalid("PAYOR_DATAROOM_S3_BUCKET is required for the s3 backend")
        if object_lock_mode and object_lock_mode not in ("GOVERNANCE", "COMPLIANCE"):
            raise DataRoomConfigInvalid("the object lock mode is GOVERNANCE or COMPLIANCE")
        if object_lock_mode and object_lock_days <= 0:
            raise DataRoomConfigInvalid("an object lock needs PAYOR_DATAROOM_S3_OBJECT_LOCK_DAYS > 0")
        self.bucket = bucket
        self.prefix = prefix
        self.kms_key_id = kms_key_id
        self.object_lock_mode = object_lock_mode
        self.object_lock_days = object_lock_days
        if client is None:
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region)
        self.client = client

    def _key(self, key: str) -> str:
        return self.prefix + _safe_key(key)

    def _error_code(self, exc: Exception) -> str:
        response = getattr(exc, "response", None) or {}
        return str(response.get("Error", {}).get("Code", ""))

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if self._error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def put(self, key: str, data: bytes, *, content_type: str) -> StoredObject:
        from botocore.exceptions import ClientError

        if self.exists(key):
            raise DataRoomObjectExists(f"{key} already exists", key=key)
        sha256 = hashlib.sha256(data).hexdigest()
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._key(key),
            "Body": data,
            "ContentType": content_type,
            "Metadata": {"sha256": sha256},
            "IfNoneMatch": "*",
        }
        if self.kms_key_id:
            params["ServerSideEncryption"] = "aws:kms"
            params["SSEKMSKeyId"] = self.kms_key_id
        if self.object_lock_mode:
            params["ObjectLockMode"] = self.object_lock_mode
            params["ObjectLockRetainUntilDate"] = dt.datetime.now(tz=dt.UTC) + dt.timedelta(days=self.object_lock_days)
        try:
            self.client.put_object(**params)
        except ClientError as exc:
            if self._error_code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise DataRoomObjectExists(f"{key} already exists", key=key) from None
            raise
        return StoredObject(key=key, size=len(data), sha256=sha256, key_id=self.kms_key_id)

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if self._error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                raise DataRoomObjectMissing(f"{key} is not in the data room", key=key) from None
            raise
        data = bytes(response["Body"].read())
        expected = response.get("Metadata", {}).get("sha256", "")
        if expected and hashlib.sha256(data).hexdigest() != expected:
            raise DataRoomIntegrityError(f"{key} does not match its recorded SHA-256", key=key)
        return data


def configured_storage() -> DataRoomStorage:
    """The backend from settings (``PAYOR_DATAROOM_BACKEND``: ``local`` or ``s3``)."""
    backend = settings.DATAROOM_BACKEND
    if backend == "local":
        return LocalEncryptedStorage(Path(settings.DATAROOM_DIR))
    if backend == "s3":
        return S3Storage(
            bucket=settings.DATAROOM_S3_BUCKET,
            prefix=settings.DATAROOM_S3_PREFIX,
            endpoint_url=settings.DATAROOM_S3_ENDPOINT_URL,
            region=settings.DATAROOM_S3_REGION,
            kms_key_id=settings.DATAROOM_S3_KMS_KEY_ID,
            object_lock_mode=settings.DATAROOM_S3_OBJECT_LOCK_MODE,
            object_lock_days=settings.DATAROOM_S3_OBJECT_LOCK_DAYS,
        )
    raise DataRoomConfigInvalid(f"PAYOR_DATAROOM_BACKEND must be local or s3, got {backend!r}")
