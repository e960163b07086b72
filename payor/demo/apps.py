from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "payor.demo"
    label = "demo"
    verbose_name = "Demo data"
