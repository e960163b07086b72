from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "payor.web"
    label = "web"
    verbose_name = "Web"
