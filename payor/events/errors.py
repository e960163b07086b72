from payor.core.errors import DomainError


class EventTopicUnknown(DomainError):
    code = "event_topic_unknown"
    status = 422
    title = "Unknown event topic (payor.events.topics.TOPICS lists them)"


class EventInvalid(DomainError):
    """An event whose aggregate or payload cannot be stored (``code`` says which): a bug in the caller."""

    code = "event_payload_invalid"
    status = 422
    title = "The event cannot be stored"


class EventOutsideTransaction(DomainError):
    code = "event_outside_transaction"
    status = 500
    title = "Events are emitted inside the transaction of the change they announce"


class OutboxCursorInvalid(DomainError):
    code = "outbox_cursor_invalid"
    status = 422
    title = "Invalid outbox position or consumer"
