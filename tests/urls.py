from django.urls import path

from project.urls import urlpatterns as project_urlpatterns
from tests.testapp import background

urlpatterns = [
    *project_urlpatterns,
    path("bg/tasks", background.start_tasks),
    path("bg/threads", background.start_threads),
    path("bg/shielded", background.start_shielded),
    path("bg/stubborn", background.start_stubborn),
]
__all__ = ["urlpatterns", "path"]
