from django.apps import AppConfig


class ReportingConfig(AppConfig):
    name = "payor.reporting"
    label = "reporting"
    verbose_name = "Reporting"
