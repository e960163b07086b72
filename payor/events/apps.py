from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "payor.events"
    label = "events"
    verbose_name = "Events (outbox)"
