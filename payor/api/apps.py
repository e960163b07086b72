from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "payor.api"
    label = "api"
    verbose_name = "API"
