from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "payor.notifications"
    label = "notifications"
    verbose_name = "Notifications (in-app inbox and email)"
