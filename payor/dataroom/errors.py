"""Data-room refusals and failures, each with a stable code (docs/errors.md)."""

from __future__ import annotations

from payor.core.errors import Conflict, DomainError, NotFound


class DataRoomError(DomainError):
    code = "dataroom_error"
    status = 500
    title = "Data-room failure"


class DataRoomNotFound(NotFound):
    code = "dataroom_object_not_found"
    title = "No such document in the data room"


class DataRoomObjectExists(Conflict):
    code = "dataroom_object_exists"
    title = "The data room is write-once: this document already exists"


class DataRoomObjectMissing(DataRoomError):
    code = "dataroom_object_missing"
    title = "A recorded document is missing from the data-room storage"


class DataRoomIntegrityError(DataRoomError):
    code = "dataroom_integrity_error"
    title = "A stored document does not match its recorded hash or authentication tag"


class DataRoomKeyMissing(DataRoomError):
    code = "dataroom_key_missing"
    status = 503
    title = "The data-room master key is not configured"


class DataRoomKeyInvalid(DataRoomError):
    code = "dataroom_key_invalid"
    status = 503
    title = "The configured data-room key does not open the document"


class DataRoomConfigInvalid(DataRoomError):
    code = "dataroom_config_invalid"
    status = 503
    title = "The data-room storage is misconfigured"
