"""The dashboard's pages (server-rendered, session login); included at the site root."""

from django.urls import path

from alerts import views as alert_views
from cameras import views as camera_views

app_name = "dashboard"

urlpatterns = [
    path("", camera_views.grid, name="grid"),
    path("cameras/new/", camera_views.create, name="camera-create"),
    path("cameras/<int:camera_id>/", camera_views.detail, name="camera-detail"),
    path("cameras/<int:camera_id>/edit/", camera_views.edit, name="camera-edit"),
    path("cameras/<int:camera_id>/delete/", camera_views.delete, name="camera-delete"),
    path("cameras/<int:camera_id>/start/", camera_views.start, name="camera-start"),
    path("cameras/<int:camera_id>/stop/", camera_views.stop, name="camera-stop"),
    path("alerts/", alert_views.history, name="alerts"),
    path("alerts/<int:alert_id>/ack/", alert_views.acknowledge, name="alert-ack"),
]
