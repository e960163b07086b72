from django.urls import path
from django.views.generic import RedirectView

from payor.web import views

app_name = "web"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="web:projects", permanent=False), name="home"),
    path("projects/", views.project_list_view, name="projects"),
    path("projects/<uuid:project_id>/", views.project_detail_view, name="project"),
]
