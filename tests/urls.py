from django.urls import path

from project.urls import urlpatterns as project_urlpatterns

urlpatterns = [*project_urlpatterns]
__all__ = ["urlpatterns", "path"]
