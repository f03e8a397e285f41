"""The complete environment of the command line against the harness's servers (tests and `make demo`)."""

from __future__ import annotations

import os
from pathlib import Path

from support import app_django
from support.django_project import MANAGE_PY, SETTINGS_MODULE
from support.s3 import ACCESS_KEY, REGION, SECRET_KEY

_SESSION_KEY: list = []  # the path of the harness's signing key, once made (session_signing_key)


def session_signing_key(directory) -> str:
    """The harness's signing key, made once in `directory` (0700): every archive the tests take is signed with it,
    and the host trusts its own key, so restores and drills accept them as they accept a deployed host's own."""
    if not _SESSION_KEY:
        from checkniner_backup import signing

        path = Path(directory)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        _SESSION_KEY.append(signing.keygen(str(path / "signing.key"), comment="test-session").private_key)
    return _SESSION_KEY[0]


def signing_key_path():
    """The harness's signing key (session_signing_key), or None before one is made."""
    return _SESSION_KEY[0] if _SESSION_KEY else None


def backup_environment(pg, s3, database_url: str, bucket: str, backup_dir, home, signing_key=None) -> dict:
    """Nothing else leaks in from the caller: AWS configuration files are pointed at /dev/null. signing_key: the
    private key every archive is signed with (CHECKNINER_SIGNING_KEY), trusted by the same host."""
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
        "CHECKNINER_DJANGO_PYTHON": app_django.python(),  # the application's Django: 5.2, or 3.2 (--app-django)
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        **({"CHECKNINER_SIGNING_KEY": str(signing_key)} if signing_key else {}),
        # a checkout other than the installed one (a git worktree) is tested by putting its module_utils first
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}),
    }
