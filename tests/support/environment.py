"""The complete environment of the command line against the harness's servers (tests and `make demo`)."""

from __future__ import annotations

import os
import sys

from support.django_project import MANAGE_PY, SETTINGS_MODULE
from support.s3 import ACCESS_KEY, REGION, SECRET_KEY


def backup_environment(pg, s3, database_url: str, bucket: str, backup_dir, home) -> dict:
    """Nothing else leaks in from the caller: AWS configuration files are pointed at /dev/null."""
    return {
        "PATH": f"{pg.bindir}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "DATABASE_URL": database_url,
        "CHECKNINER_BACKUP_DIR": str(backup_dir),
        "S3_ACCESS_KEY": ACCESS_KEY,
        "S3_SECRET_KEY": SECRET_KEY,
        "S3_BUCKET_NAME": bucket,
        "S3_ENDPOINT_URL": s3.endpoint_url,
        "S3_REGION": REGION,
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "CHECKNINER_MANAGE_PY": str(MANAGE_PY),
        "CHECKNINER_DJANGO_PYTHON": sys.executable,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        # a checkout other than the installed one (a git worktree) is tested by putting its module_utils first
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}),
    }
