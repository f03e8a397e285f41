"""Shared pytest fixtures: a real PostgreSQL cluster, a real S3 endpoint (moto server), the sample Django project.

``--app-django=3.2`` runs the tests marked ``app_django32`` with the sample project under Django 3.2 LTS
(support.app_django); by default it runs under the dev venv's Django 5.2.

Session-wide: ``pg``, ``s3`` (moto), ``s3rver``, ``rclone_s3``, ``template_db`` (migrated + seeded once). Per test:
``app_db`` (a copy of the template), ``bucket``, ``backup_env`` (the complete environment for the command line, signing
with the session's ``signing_key``),
``run_cli`` and ``receiver`` (a heartbeat receiver).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import NamedTuple

import pytest
from support import app_django
from support.django_project import migrate, seed
from support.environment import backup_environment, session_signing_key
from support.gnupg import stop_agents
from support.heartbeat import Receiver
from support.pg import PostgresCluster
from support.s3 import MotoServer

TEMPLATE_DB = "checkniner_template"
INTEGRATION_DIR = Path(__file__).resolve().parent / "integration"


class Database(NamedTuple):
    name: str
    url: str  # as the application role (checkniner), password URL-quoted
    superuser_url: str


def pytest_addoption(parser):
    parser.addoption(
        "--app-django",
        choices=app_django.VERSIONS,
        default="5.2",
        help="the sample project's Django (manage.py and the engine's helper): 5.2, the dev venv's, or 3.2 LTS, a "
        "cached venv (tests/support/app_django.py), which runs only the tests marked app_django32",
    )


def pytest_configure(config):
    app_django.select(config.getoption("--app-django"))
    if app_django.selected() != "5.2":
        app_django.ensure(app_django.selected())  # built before the first test, so a failure is one error


def pytest_collection_modifyitems(config, items):
    for item in items:
        if INTEGRATION_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)
    if app_django.selected() != "5.2":
        # the second run covers what depends on the application's Django; the rest runs once, under 5.2
        chosen, other = [], []
        for item in items:
            (chosen if item.get_closest_marker("app_django32") else other).append(item)
        config.hook.pytest_deselected(items=other)
        items[:] = chosen


@pytest.fixture(autouse=True)
def _stop_gpg_agents(request):
    """Tests stop what they start: the gpg-agents of the keyrings a test made under its tmp_path."""
    # taken before the test, so that tmp_path is torn down after this fixture, not before
    root = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if root is not None:
        stop_agents(root)


@pytest.fixture(scope="session")
def pg():
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def s3():
    server = MotoServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def s3rver():
    """A second S3 implementation (s3rver, Node.js) for the session, with one bucket: tests use their own prefix."""
    from support.s3rver import S3rver

    server = S3rver("checkniner-session").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def rclone_s3():
    """A third S3 implementation (`rclone serve s3`, Go) for the session, one bucket: tests use their own prefix."""
    from support.rclone import RcloneS3

    server = RcloneS3("checkniner-session").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def template_db(pg) -> Database:
    """The sample project's database, migrated and seeded once; tests get copies through ``app_db``."""
    pg.create_database(TEMPLATE_DB)
    url = pg.app_url(TEMPLATE_DB)
    migrate(url)
    seed(url)
    return Database(TEMPLATE_DB, url, pg.superuser_url(TEMPLATE_DB))


@pytest.fixture
def app_db(pg, template_db) -> Database:
    """A fresh database copied from the template (CREATE DATABASE ... TEMPLATE), dropped after the test."""
    name = f"cnb_{uuid.uuid4().hex[:12]}"
    pg.create_database(name, template=template_db.name)
    try:
        yield Database(name, pg.app_url(name), pg.superuser_url(name))
    finally:
        pg.drop_database(name)


@pytest.fixture
def scratch_dbs(pg):
    """Names appended here are dropped after the test."""
    names = []
    yield names
    for name in names:
        pg.drop_database(name)


@pytest.fixture
def bucket(s3) -> str:
    """A fresh, uniquely named bucket on the moto server."""
    return s3.create_bucket(f"cnb-test-{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory) -> str:
    """The session's signing key (support.environment.session_signing_key): archives are signed, as a deployed host's
    are, so restores accept them; a test of unsigned archives removes CHECKNINER_SIGNING_KEY."""
    return session_signing_key(tmp_path_factory.mktemp("signing"))


@pytest.fixture
def backup_env(tmp_path, pg, app_db, s3, bucket, signing_key) -> dict:
    """The whole environment for running the command line; nothing else leaks in from the caller."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return backup_environment(pg, s3, app_db.url, bucket, tmp_path / "backups", home, signing_key)


@pytest.fixture
def run_cli(backup_env, tmp_path):
    """``run_cli(*args, env=None, input=None, timeout=300)``: run ``python -m checkniner_backup.cli`` with
    ``backup_env`` (``env`` entries override it; a value of None removes the variable)."""

    def run(*args: str, env: dict | None = None, input: str | None = None, timeout: float = 300):
        full_env = dict(backup_env)
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        return subprocess.run(
            [sys.executable, "-m", "checkniner_backup.cli", *args],
            env=full_env,
            cwd=tmp_path,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture
def receiver():
    """A local heartbeat receiver: ``receiver.url``, and ``receiver.calls`` [(path, body, outcome header)]."""
    r = Receiver()
    yield r
    r.close()
