"""Fixtures of the module tests: a clean host environment, the usual options, a recorder for the faked engine."""

import os

import pytest
from ansible.module_utils import basic
from support.ansible_module import DB_URL


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """Nothing of the caller's environment reaches the modules (they fall back to the host's variables)."""
    for var in list(os.environ):
        if var.startswith(("CHECKNINER_", "S3_", "DATABASE_URL", "AWS_")):
            monkeypatch.delenv(var, raising=False)


@pytest.fixture
def base_args(tmp_path):
    return {"database_url": DB_URL, "backup_dir": str(tmp_path / "backups")}


@pytest.fixture
def seen():
    """Records what each faked engine call received."""
    return {}


@pytest.fixture
def tracebacks(monkeypatch):
    """ansible-core 2.19 returns a failure's traceback only when tracebacks are enabled (ANSIBLE_DISPLAY_TRACEBACK)."""
    monkeypatch.setattr(basic._traceback, "is_traceback_enabled", lambda *a, **k: True)
