"""checkniner_preflight, run for real by ansible-playbook against the harness's PostgreSQL: the versions when pg_dump
can dump the server, and otherwise the engine's one line, which never names any part of the password (the role's
deploy-time check used to leak it from a URL that parsed wrong)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from support.pg import APP_PASSWORD, APP_USER

from .test_modules_live import BIN, Play, host_env  # noqa: F401 - fixture reused by name
from .test_secrets import ENCODED, leaked, url_with_password

# unencoded '/', '#', '?' and '@': each ends the host part early, so the URL parses wrong
UNENCODED = ["Kx9/Tail-Of-Secret", "Kx9#Tail-Of-Secret", "12?Tail-Of-Secret", "Kx9/Tail#Of?Secret@x"]


@pytest.fixture
def play(tmp_path, host_env):  # noqa: F811
    return Play(tmp_path, host_env)


def server_major(pg):
    return int(pg.psql("SHOW server_version_num;").strip()) // 10000


def everything(play, result):
    """All the run printed (the JSON callback: every key of the result) and the result itself."""
    return play.output + json.dumps(result)


@pytest.mark.parametrize("check", [False, True])
def test_preflight_reports_the_versions_and_changes_nothing(play, pg, app_db, check):
    result = play.run("checkniner_preflight", {"database_url": app_db.url}, check=check)
    assert result.get("failed") is not True, result
    assert result["changed"] is False
    major = server_major(pg)
    assert result["server_version_num"] // 10000 == major
    assert int(result["pg_dump_version"].split(".")[0]) >= major
    assert result["database"] == app_db.name
    assert result["msg"] == f"pg_dump {result['pg_dump_version']} can dump PostgreSQL {result['server_version']}"
    assert APP_PASSWORD not in everything(play, result) and quote(APP_PASSWORD) not in everything(play, result)


def test_preflight_honours_a_socket_directory_given_as_the_host(play, pg, app_db):
    """The engine's parsing, which the role's Jinja copy did not have: ?host=/socket/dir (the harness trusts local
    connections: no password)."""
    url = f"postgres://{APP_USER}@:{pg.port}/{app_db.name}?host={quote(str(pg.socket_dir), safe='/')}"
    result = play.run("checkniner_preflight", {"database_url": url})
    assert result.get("failed") is not True, result
    assert result["database"] == app_db.name


def test_preflight_honours_sslmode(play, app_db):
    """sslmode=require against the harness's server without SSL: refused, as the backups would be."""
    result = play.run("checkniner_preflight", {"database_url": app_db.url + "?sslmode=require"})
    assert result["failed"] is True, result
    assert result["msg"].startswith(f"cannot connect to database '{app_db.name}' on 127.0.0.1:"), result["msg"]
    assert "SSL" in result["msg"], result["msg"]


@pytest.mark.parametrize("password", UNENCODED)
def test_preflight_with_an_unencoded_password_names_no_part_of_it(play, app_db, password):
    result = play.run("checkniner_preflight", {"database_url": url_with_password(app_db.url, password)})
    assert result["failed"] is True, result
    assert result["msg"].startswith("DATABASE_URL cannot be parsed ("), result["msg"]
    assert "percent-encode" in result["msg"]
    assert not leaked(everything(play, result)), everything(play, result)


def test_preflight_with_a_wrong_password_names_no_part_of_it(play, app_db):
    result = play.run("checkniner_preflight", {"database_url": url_with_password(app_db.url, ENCODED, encode=True)})
    assert result["failed"] is True, result
    assert result["msg"].endswith("wrong user or password"), result["msg"]
    text = everything(play, result)
    assert not leaked(text) and quote(ENCODED, safe="") not in text, text
    assert leaked(ENCODED)  # the pieces searched for are pieces of this password: the search can fail


def test_preflight_with_an_unreachable_server_names_no_password(play, app_db, pg):
    url = app_db.url.replace(f":{pg.port}/", ":1/")
    result = play.run("checkniner_preflight", {"database_url": url})
    assert result["failed"] is True, result
    assert result["msg"].startswith(f"cannot connect to database '{app_db.name}' on 127.0.0.1:1: "), result["msg"]
    assert APP_PASSWORD not in everything(play, result) and quote(APP_PASSWORD) not in everything(play, result)


def test_preflight_with_a_too_old_pg_dump_names_the_client_to_install(play, pg, app_db, host_env, tmp_path):  # noqa: F811
    fake = tmp_path / "old-client"
    fake.mkdir()
    (fake / "pg_dump").write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.0'\n")
    (fake / "pg_dump").chmod(0o755)
    path = f"{fake}:{BIN}:{host_env['PATH']}"
    result = play.run("checkniner_preflight", {"database_url": app_db.url}, env={"PATH": path})
    assert result["failed"] is True, result
    major = server_major(pg)
    assert result["msg"] == (
        f"pg_dump 9.6.0 is older than the server (PostgreSQL {major}): install postgresql-client-{major} or newer"
    )
