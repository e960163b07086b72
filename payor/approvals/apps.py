from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "payor.approvals"
    label = "approvals"
    verbose_name = "Approvals"
