from django.apps import AppConfig


class ContractsConfig(AppConfig):
    name = "payor.contracts"
    label = "contracts"
    verbose_name = "Contracts and change orders"
