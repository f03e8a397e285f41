"""A Django project the tool has never seen: custom user model, non-integer primary keys, a through model, a generic
relation, a default manager that hides rows, a proxy and an unmanaged view-backed model, and settings that do not
read DATABASE_URL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1] / "otherproject"


def manage(pg, db, *args):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "library_site.settings",
        "LIBRARY_DB_NAME": db,
        "LIBRARY_DB_USER": "checkniner",
        "LIBRARY_DB_PASSWORD": pg.app_password,
        "LIBRARY_DB_HOST": "127.0.0.1",
        "LIBRARY_DB_PORT": str(pg.port),
    }
    subprocess.run([sys.executable, str(PROJECT / "manage.py"), *args], env=env, check=True, capture_output=True)


@pytest.fixture
def library_db(pg):
    name = "library_src"
    pg.drop_database(name)
    pg.create_database(name)
    manage(pg, name, "migrate", "-v0")
    manage(pg, name, "seed_library")
    yield name
    pg.drop_database(name)


def test_backup_and_both_restores_of_an_unseen_project(run_cli, pg, library_db, tmp_path):
    env = {
        "DATABASE_URL": pg.app_url(library_db),
        "DJANGO_SETTINGS_MODULE": "library_site.settings",
        "CHECKNINER_MANAGE_PY": str(PROJECT / "manage.py"),
        "CHECKNINER_BACKUP_APPS": "accounts,library",
        "CHECKNINER_BACKUP_DIR": str(tmp_path / "library-backups"),
    }
    default_apps = run_cli("run", env={**env, "CHECKNINER_BACKUP_APPS": None})
    assert default_apps.returncode == 2
    assert "checkouts" in default_apps.stderr.splitlines()[0] and "CHECKNINER_BACKUP_APPS" in default_apps.stderr

    first = run_cli("run", env=env)
    assert first.returncode == 0, first.stderr
    assert "unchanged (" in run_cli("run", env=env).stdout
    manage(pg, library_db, "lend_book")
    assert "saved " in run_cli("run", env=env).stdout

    listing = json.loads(run_cli("list", "--json", env=env).stdout)["archives"]
    assert len(listing) == 2
    # the withdrawn book is hidden by the default manager, but it is business data: it must be in the fixture
    latest = tmp_path / "library-backups" / "latest.tar.gz"
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(["tar", "-xzf", str(latest), "library.json"], cwd=out, check=True)
    objects = json.loads((out / "library.json").read_text())
    assert any(o["model"] == "library.book" and o["fields"]["withdrawn"] for o in objects)
    assert not any(o["model"] in ("library.loancount", "library.recentloan") for o in objects)

    for mode in ("sql", "fixtures"):
        target = f"library_{mode}"
        pg.drop_database(target)
        if mode == "fixtures":
            pg.create_database(target)
            manage(pg, target, "migrate", "-v0")
        url = pg.app_url(target)
        result = run_cli(
            "restore", "--mode", mode, "--json", env={**env, "CHECKNINER_RESTORE_TARGET_DATABASE_URL": url}
        )
        assert result.returncode == 0, result.stderr
        doc = json.loads(result.stdout)
        assert doc["ok"] is True, doc
        assert all(app["match"] for app in doc["apps"].values()), doc["apps"]
        loans = pg.psql("SELECT count(*) FROM library_loan", db=target).strip()
        assert loans == pg.psql("SELECT count(*) FROM library_loan", db=library_db).strip() == "6"
        assert pg.psql("SELECT loans FROM library_loancount ORDER BY member_id LIMIT 1", db=target).strip() == "1"
        pg.drop_database(target)

    drill = run_cli("verify", "--json", env=env)
    assert drill.returncode == 0, drill.stderr
