from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "payor.ledger"
    label = "ledger"
    verbose_name = "Ledger"
