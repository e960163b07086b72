from django.urls import path
from django.views.generic import RedirectView

from payor.web import audit_views, views

app_name = "web"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="web:projects", permanent=False), name="home"),
    path("projects/", views.project_list_view, name="projects"),
    path("projects/<uuid:project_id>/", views.project_detail_view, name="project"),
    path("audit/", audit_views.audit_log_view, name="audit"),
    path("audit/export/", audit_views.audit_export_view, name="audit-export"),
]
