from django.urls import include, path

from project.demo import views

urlpatterns = [
    path("", include("django_prometheus.urls")),
    path("", include("graceful_django.urls")),  # /healthz/live, /healthz/ready
    path("page", views.page),
    path("ping", views.ping),
    path("ping-async", views.ping_async),
    path("slow/sync", views.slow_sync),
    path("slow/async", views.slow_async),
    path("stream", views.stream),
]
