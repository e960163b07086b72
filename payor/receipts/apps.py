from django.apps import AppConfig


class ReceiptsConfig(AppConfig):
    name = "payor.receipts"
    label = "receipts"
    verbose_name = "Receipts"
