from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "payor.accounts"
    label = "accounts"
    verbose_name = "Identity"
