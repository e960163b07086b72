from django.apps import AppConfig


class InvoicesConfig(AppConfig):
    name = "payor.invoices"
    label = "invoices"
    verbose_name = "Invoices"
