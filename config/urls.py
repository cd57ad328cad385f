"""URL map: the REST API under /api/, the admin, and the dashboard."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from accounts import api as accounts_api
from accounts import views as accounts_views
from alerts.api import AlertViewSet
from audit import views as audit_views
from audit.api import AuditEntryViewSet
from cameras import live, mediamtx
from cameras.api import CameraViewSet
from config import ops
from events import views as events_views
from events.api import WebhookEndpointViewSet
from people.api import PersonViewSet

admin.site.site_header = "Skylark administration"
admin.site.site_title = "Skylark admin"
admin.site.index_title = "Cameras and alerts"

router = DefaultRouter()
router.trailing_slash = "/?"  # accept /api/cameras/1/start and /api/cameras/1/start/
router.register("cameras", CameraViewSet, basename="camera")
router.register("alerts", AlertViewSet, basename="alert")
router.register("audit", AuditEntryViewSet, basename="audit")
router.register("webhooks", WebhookEndpointViewSet, basename="webhook")
router.register("people", PersonViewSet, basename="person")

api_urls: list[URLPattern | URLResolver] = [
    path("auth/signup", accounts_api.SignupView.as_view(), name="api-signup"),
    path("auth/login", accounts_api.LoginView.as_view(), name="api-login"),
    path("auth/refresh", accounts_api.RefreshView.as_view(), name="api-refresh"),
    path("auth/logout", accounts_api.LogoutView.as_view(), name="api-logout"),
    path("auth/me", accounts_api.MeView.as_view(), name="api-me"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include(router.urls)),
]

urlpatterns = [
    path("api/", include(api_urls)),
    path("admin/", admin.site.urls),
    path("internal/mediamtx/auth", mediamtx.auth_hook, name="mediamtx-auth"),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    path("login/", accounts_views.SkylarkLoginView.as_view(), name="login"),
    path("logout/", accounts_views.SkylarkLogoutView.as_view(), name="logout"),
    path("signup/", accounts_views.signup, name="signup"),
    path("waiting/", accounts_views.waiting, name="waiting"),
    path("login/code/", accounts_views.login_code, name="login-code"),
    path("account/2fa/", accounts_views.two_factor, name="two-factor"),
    path("account/password/", accounts_views.change_password, name="change-password"),
    path("accounts/pending/", accounts_views.pending_accounts, name="pending-accounts"),
    path("audit/", audit_views.audit_log, name="audit-log"),
    path("webhooks/", events_views.webhooks, name="webhooks"),
    path("webhooks/<int:webhook_id>/test/", events_views.send_test, name="webhook-test"),
    path("cameras/<int:camera_id>/live.mjpg", live.live_mjpeg, name="camera-live-mjpeg"),
    path("cameras/<int:camera_id>/snapshot.jpg", live.snapshot_jpeg, name="camera-snapshot"),
    path("cameras/<int:camera_id>/media-token", mediamtx.media_token, name="camera-media-token"),
    path("", include("config.dashboard_urls")),
]

handler404 = "config.api.not_found"
