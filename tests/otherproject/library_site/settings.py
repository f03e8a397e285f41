"""Settings that do NOT read DATABASE_URL: the database comes from LIBRARY_DB_* variables, as many projects do."""

import os

SECRET_KEY = os.environ.get("LIBRARY_SECRET_KEY", "library-dev-only")
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "accounts",
    "library",
]
MIDDLEWARE = []
ROOT_URLCONF = "library_site.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("LIBRARY_DB_NAME", "library"),
        "USER": os.environ.get("LIBRARY_DB_USER", ""),
        "PASSWORD": os.environ.get("LIBRARY_DB_PASSWORD", ""),
        "HOST": os.environ.get("LIBRARY_DB_HOST", ""),
        "PORT": os.environ.get("LIBRARY_DB_PORT", ""),
    }
}
AUTH_USER_MODEL = "accounts.Member"
USE_TZ = True
TIME_ZONE = "Europe/Paris"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
