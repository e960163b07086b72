from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payor.payments"
    label = "payments"
    verbose_name = "Payments"
