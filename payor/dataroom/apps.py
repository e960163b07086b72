from django.apps import AppConfig


class DataroomConfig(AppConfig):
    name = "payor.dataroom"
    label = "dataroom"
    verbose_name = "Data room"
