"""Skylark settings, read from the environment (django-environ); defaults suit a local checkout.

Every variable is listed with its default in .env.example and in the README.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# A development key is only acceptable with DEBUG on; production must set its own.
SECRET_KEY = env(
    "SECRET_KEY",
    default="dev-only-insecure-key-set-SECRET_KEY-in-production" if DEBUG else environ.Env.NOTSET,
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "accounts.apps.AccountsConfig",
    "cameras.apps.CamerasConfig",
    "alerts.apps.AlertsConfig",
    "detection.apps.DetectionConfig",
    "audit.apps.AuditConfig",
    "events.apps.EventsConfig",
    "people.apps.PeopleConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.context.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/skylark")
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "skylark",
    }
}


def channel_prefix(redis_url: str) -> str:
    """The Channels prefix on this Redis. Pub/sub channels belong to the whole server, not to a
    database: the prefix names the database, so two Skylarks on one Redis (databases 0 and 1,
    say) never hear each other's alerts."""
    return f"skylark:{urlsplit(redis_url).path.strip('/') or '0'}:asgi"


CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "config.channel_layer.RedisPubSubLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": channel_prefix(REDIS_URL)},
    }
}

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:grid"
LOGOUT_REDIRECT_URL = "login"
SIGNUP_ENABLED = env.bool("SIGNUP_ENABLED", default=True)
# Operators without two-factor authentication may only watch until they set it up.
REQUIRE_2FA_FOR_OPERATORS = env.bool("REQUIRE_2FA_FOR_OPERATORS", default=False)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "var" / "static")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Snapshots are private: they are served by an authenticated view, never from a public /media/ URL.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")
MEDIA_URL = "/media-not-served/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.PasswordAwareJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.IsApproved"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_RATES": {"login": env("LOGIN_THROTTLE_RATE", default="10/min")},
    "EXCEPTION_HANDLER": "config.api.exception_handler",
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "TOKEN_REFRESH_SERIALIZER": "accounts.authentication.RefreshSerializer",
    "UPDATE_LAST_LOGIN": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Skylark API",
    "DESCRIPTION": "Cameras, face-detection alerts and stream control.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI assets come from the installed sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TIMEZONE = TIME_ZONE
# Camera loops run for hours: they get their own queue so short tasks never wait behind them.
CELERY_TASK_ROUTES = {"detection.tasks.run_camera": {"queue": "streams"}}
# Each worker also takes tasks sent to it by name: camera loops go to the least busy streams
# worker (cameras/streams.py).
CELERY_WORKER_DIRECT = True
CELERY_BEAT_SCHEDULE = {
    "reconcile-streams": {"task": "detection.tasks.reconcile_streams", "schedule": 5.0},
    "prune-alerts": {"task": "alerts.tasks.prune_expired_alerts", "schedule": 24 * 3600.0},
    "prune-audit": {"task": "audit.tasks.prune_expired_audit", "schedule": 24 * 3600.0},
    "sweep-webhook-outbox": {
        "task": "events.tasks.sweep_webhook_outbox",
        "schedule": env.float("OUTBOX_SWEEP_S", default=10.0),
    },
    "check-cameras-offline": {"task": "events.tasks.check_cameras_offline", "schedule": 2.0},
    "prune-events": {"task": "events.tasks.prune_expired_events", "schedule": 24 * 3600.0},
    "mqtt-discovery": {
        "task": "events.tasks.publish_mqtt_discovery",
        "schedule": env.float("MQTT_DISCOVERY_S", default=300.0),
    },
}

# Detection and media.
FACE_DETECTOR_MODEL = env("FACE_DETECTOR_MODEL", default="")
# Face recognition: how alike (cosine similarity of dlib descriptors, 0..1) a face must be to an
# enrolled sample to be named; and how many detections of a new face are tried before it is
# called unknown (its alert waits for them, unless nobody is enrolled).
RECOGNITION_MIN_SIMILARITY = env.float("RECOGNITION_MIN_SIMILARITY", default=0.94)
RECOGNITION_TRIES = env.int("RECOGNITION_TRIES", default=3)
# Cameras may read local files (demos, tests) only from under this directory.
CAMERA_FILE_ROOT = env.path("CAMERA_FILE_ROOT", default=BASE_DIR / "var" / "videos")
MEDIAMTX_RTSP_URL = env("MEDIAMTX_RTSP_URL", default="")
MEDIAMTX_WEBRTC_URL = env("MEDIAMTX_WEBRTC_URL", default="")
MEDIAMTX_PUBLISH_SECRET = env("MEDIAMTX_PUBLISH_SECRET", default="")
ALERT_RETENTION_DAYS = env.int("ALERT_RETENTION_DAYS", default=30)
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=365)

# Events out (webhooks).
# A running camera not online this long gets one camera.offline event (and camera.online when back).
CAMERA_OFFLINE_AFTER_S = env.float("CAMERA_OFFLINE_AFTER_S", default=30.0)
WEBHOOK_TIMEOUT_S = env.float("WEBHOOK_TIMEOUT_S", default=5.0)
# Retries back off exponentially from BASE to MAX seconds (with jitter); after RETRY_FOR seconds
# a delivery is marked failed, and an endpoint failing that long is disabled.
WEBHOOK_BACKOFF_BASE_S = env.float("WEBHOOK_BACKOFF_BASE_S", default=1.0)
WEBHOOK_BACKOFF_MAX_S = env.float("WEBHOOK_BACKOFF_MAX_S", default=600.0)
WEBHOOK_RETRY_FOR_S = env.float("WEBHOOK_RETRY_FOR_S", default=24 * 3600.0)
# Webhook URLs to loopback, link-local and private addresses are refused unless this is on.
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)
# Events (and their delivery log) older than this are pruned daily, once delivered or given up.
EVENT_RETENTION_DAYS = env.int("EVENT_RETENTION_DAYS", default=30)
# MQTT: empty, off; else mqtt://[user:password@]host[:port] (mqtts:// for TLS).
MQTT_URL = env("MQTT_URL", default="")
MQTT_TOPIC_PREFIX = env("MQTT_TOPIC_PREFIX", default="skylark")
MQTT_DISCOVERY_PREFIX = env("MQTT_DISCOVERY_PREFIX", default="homeassistant")
MQTT_TIMEOUT_S = env.float("MQTT_TIMEOUT_S", default=5.0)

# Operations.
METRICS_TOKEN = env("METRICS_TOKEN", default="")  # empty: /metrics answers loopback clients only
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)  # 0: workers expose no metrics port
READYZ_WORKER_TIMEOUT_S = env.float("READYZ_WORKER_TIMEOUT_S", default=1.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"kv": {"format": "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "kv"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
