"""A minimal Django settings module for the bridge tests.

The database is filled in per test (each test has its own database); see
``tests/bridge/conftest.py``.
"""

from __future__ import annotations

SECRET_KEY = "awa-bridge-tests"
USE_TZ = True
INSTALLED_APPS: list[str] = []
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "postgres",
    }
}
