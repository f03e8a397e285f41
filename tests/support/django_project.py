"""Run the sample Django project's manage.py as a subprocess, the way the engine runs an application's Django."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Optional, Sequence

from support import app_django

SAMPLEPROJECT = Path(__file__).resolve().parent.parent / "sampleproject"
MANAGE_PY = SAMPLEPROJECT / "manage.py"
SETTINGS_MODULE = "checkniner.settings"


class ManageError(RuntimeError):
    pass


def manage_env(database_url: str, env: Optional[dict] = None) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DJANGO_", "DATABASE_"))}
    base.update(DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE=SETTINGS_MODULE)
    base.update(env or {})
    return base


def manage(
    args: Sequence[str], database_url: str, env: Optional[dict] = None, check: bool = True
) -> subprocess.CompletedProcess:
    """``python manage.py ARGS`` against DATABASE_URL, with the application's interpreter of this test run
    (support.app_django); with check, a failure raises with the command's output."""
    proc = subprocess.run(
        [app_django.python(), str(MANAGE_PY), *args],
        cwd=SAMPLEPROJECT,
        env=manage_env(database_url, env),
        capture_output=True,
        text=True,
        check=False,
    )
    if check and proc.returncode != 0:
        raise ManageError(f"manage.py {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


def migrate(database_url: str) -> subprocess.CompletedProcess:
    return manage(["migrate", "--noinput", "-v", "0"], database_url)


def seed(database_url: str) -> subprocess.CompletedProcess:
    return manage(["seed_demo"], database_url)


# The sample project's business tables (apps auth and checkouts), for tests that compare their rows.
BUSINESS_TABLES = [
    "auth_user",
    "auth_group",
    "auth_user_groups",
    "auth_group_permissions",
    "checkouts_airstrip",
    "checkouts_airstrip_bases",
    "checkouts_aircrafttype",
    "checkouts_checkout",
    "checkouts_pilotweight",
]
