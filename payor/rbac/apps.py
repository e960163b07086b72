from django.apps import AppConfig


class RbacConfig(AppConfig):
    name = "payor.rbac"
    label = "rbac"
    verbose_name = "Roles and permissions"
