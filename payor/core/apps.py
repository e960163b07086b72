from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "payor.core"
    label = "core"
    verbose_name = "Core"
