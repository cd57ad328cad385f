"""Settings for the test suite: the project's settings with test-only Redis and debug defaults."""

import os
import tempfile

# Tests use their own Redis database so they never touch a running Skylark's queues or groups.
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")
os.environ.setdefault("DEBUG", "1")
# One media folder per test session, shared with the daphne/Celery processes tests start.
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="skylark-test-media-"))

from config.settings import *  # noqa: E402, F403

# Separate test databases let two suites run side by side (e.g. `make test` while developing):
# SKYLARK_TEST_DB names it, else it follows DATABASE_URL's database (test_skylark by default).
DATABASES["default"]["TEST"] = {  # noqa: F405
    "NAME": os.environ.get("SKYLARK_TEST_DB", f"test_{DATABASES['default']['NAME']}")  # noqa: F405
}

# Hashing passwords properly is slow by design; tests create many users.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
