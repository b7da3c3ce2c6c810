from django.urls import include, path

from project.demo import views

urlpatterns = [
    path("", include("graceful_django.urls")),
    path("slow/sync", views.slow_sync),
    path("slow/async", views.slow_async),
]
