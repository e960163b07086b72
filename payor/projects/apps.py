from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "payor.projects"
    label = "projects"
    verbose_name = "Projects"
