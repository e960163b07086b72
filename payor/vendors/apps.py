from django.apps import AppConfig


class VendorsConfig(AppConfig):
    name = "payor.vendors"
    label = "vendors"
    verbose_name = "Vendors"
