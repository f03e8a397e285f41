"""The sample project's settings plus django-dbbackup, storing into $BENCH_DBBACKUP_DIR (benchmarks only).

The sample project itself stays clean: the harness points DJANGO_SETTINGS_MODULE here only for `dbbackup` runs.
"""

import os

from checkniner.settings import *  # noqa: F403
from checkniner.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "dbbackup"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "dbbackup": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": os.environ.get("BENCH_DBBACKUP_DIR", "/tmp/cnb-dbbackup")},  # noqa: S108
    },
}
