from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "payor.audit"
    label = "audit"
    verbose_name = "Audit log"
