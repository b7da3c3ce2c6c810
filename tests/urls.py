from django.urls import path

from project.urls import urlpatterns as project_urlpatterns
from tests.testapp import background, views

urlpatterns = [
    *project_urlpatterns,
    path("bg/tasks", background.start_tasks),
    path("bg/threads", background.start_threads),
    path("bg/shielded", background.start_shielded),
    path("bg/stubborn", background.start_stubborn),
    path("test/big", views.big),
    path("test/upload", views.upload),
    path("test/write", views.write_async),
    path("test/ws-page", views.websocket_page),
    path("test/broken-stream", views.broken_stream),
]
__all__ = ["urlpatterns", "path"]
