"""checkniner_preflight: the engine's preflight behind a module that changes nothing, the same in check mode; every
failure is the engine's one line, and a database URL that does not parse names no part of its password.

The engine (api.preflight) is faked, except where the failure is decided before or at the connection;
tests/integration/test_preflight_live.py runs the real module against the real PostgreSQL.
"""

import pytest
from support.ansible_module import (  # first: it puts module_utils under ansible.module_utils
    DB_PASSWORD,
    ENGINE_ERRORS,
    assert_engine_failure,
    engine_error,
    raiser,
    run_module,
)

# isort: split
import psycopg2
from ansible.module_utils.checkniner_backup import api

INFO = {
    "server_version": "15.8 (Debian 15.8-0+deb12u1)",
    "server_version_num": 150008,
    "database_oid": 16384,
    "database": "checkniner",
    "system_identifier": "7312345678901234567",
}


def fake_preflight(monkeypatch, seen, pg_dump_version="15.8"):
    def preflight(cfg):
        seen.setdefault("calls", []).append(cfg)
        return api.Preflight(INFO, pg_dump_version, "1234")

    monkeypatch.setattr(api, "preflight", preflight)


@pytest.mark.parametrize("check", [False, True])
def test_preflight_reports_the_versions_and_changes_nothing(monkeypatch, seen, base_args, check):
    fake_preflight(monkeypatch, seen)
    result, code, raw = run_module("checkniner_preflight", base_args, check=check)
    assert code == 0, result
    assert result["changed"] is False
    assert result["msg"] == "pg_dump 15.8 can dump PostgreSQL 15.8 (Debian 15.8-0+deb12u1)"
    assert (result["server_version"], result["server_version_num"]) == ("15.8 (Debian 15.8-0+deb12u1)", 150008)
    assert (result["pg_dump_version"], result["database"]) == ("15.8", "checkniner")
    (cfg,) = seen["calls"]  # check mode runs the same read-only check, once
    assert cfg.database.password == DB_PASSWORD
    assert (cfg.database.host, cfg.database.port, cfg.database.name) == ("db.example", 5432, "checkniner")
    assert DB_PASSWORD not in raw and "pw-Secret%2F9" not in raw


def test_preflight_honours_what_the_engine_parses_from_the_url(monkeypatch, seen):
    """The role's Jinja parsing dropped these: the engine's is the one the module uses."""
    fake_preflight(monkeypatch, seen)
    url = "postgres://app:pw@%2Fvar%2Frun%2Fpostgresql/checkniner?sslmode=verify-full&sslrootcert=/etc/ca.pem"
    result, code, _ = run_module("checkniner_preflight", {"database_url": url})
    assert code == 0, result
    database = seen["calls"][0].database
    assert database.host == "/var/run/postgresql"
    assert database.connect_kwargs()["sslmode"] == "verify-full"
    assert database.connect_kwargs()["sslrootcert"] == "/etc/ca.pem"


@pytest.mark.parametrize("kind", sorted(ENGINE_ERRORS))
def test_preflight_engine_errors_fail_with_their_one_line(monkeypatch, base_args, tracebacks, kind):
    monkeypatch.setattr(api, "preflight", raiser(engine_error(kind)))
    result, code, _ = run_module("checkniner_preflight", base_args)
    assert_engine_failure(result, code, kind)


def test_preflight_too_old_pg_dump_names_the_package(monkeypatch, base_args):
    line = "pg_dump 9.6.0 is older than the server (PostgreSQL 15): install postgresql-client-15 or newer"
    monkeypatch.setattr(api, "preflight", raiser(api.ConfigError(line)))
    result, code, _ = run_module("checkniner_preflight", base_args)
    assert code == 1 and result["msg"] == line


# Unencoded '/', '#', '?' and '@' in the password: the URL parses wrong (the issue's "Port could not be cast to
# integer value as 'Kx9'" and "database Tail@host/db" came from exactly these).
UNENCODED = ["Kx9/Tail-Of-Secret", "12345/Tail-Of-Secret", "Kx9#Tail-Of-Secret", "12?Tail-Of-Secret", "Kx9/Tail#Of?S@x"]
PIECES = ("Kx9", "Tail", "Secret", "Of?", "Of#", "S@x")
FIXED = (
    "DATABASE_URL cannot be parsed ({problem}): expected postgres://user:password@host:port/dbname; percent-encode"
    " any '/', '?', '#', '@', ':' or '%' in the user or password (%2F %3F %23 %40 %3A %25)"
)


@pytest.mark.parametrize("password", UNENCODED)
def test_preflight_with_an_unencoded_password_is_the_fixed_message(monkeypatch, password):
    monkeypatch.setattr(api, "preflight", lambda cfg: pytest.fail("the engine must not connect"))
    url = f"postgres://app:{password}@db.example:5432/checkniner"
    result, code, raw = run_module("checkniner_preflight", {"database_url": url})
    assert code == 1 and result["failed"] is True
    problems = ("its host or port cannot be read", "part of it ends up outside user:password@host")
    assert result["msg"] in {FIXED.format(problem=problem) for problem in problems}, result["msg"]
    assert not [piece for piece in PIECES if piece in raw], raw


def test_preflight_connect_failure_quoting_the_password_masks_it(monkeypatch, base_args):
    """The real engine up to psycopg2: libpq's words are reported, never the password they may quote."""

    def connect(**kwargs):
        raise psycopg2.OperationalError(
            f'connection to server at "db.example", port 5432 failed: FATAL:  role "{kwargs["password"]}" is not'
            " permitted to log in\n"
        )

    monkeypatch.setattr(psycopg2, "connect", connect)
    result, code, raw = run_module("checkniner_preflight", base_args)
    assert code == 1
    assert result["msg"] == (
        "cannot connect to database 'checkniner' on db.example:5432: connection to server at \"db.example\", port 5432"
        ' failed: FATAL: role "********" is not permitted to log in'
    )
    assert DB_PASSWORD not in raw and "pw-Secret" not in raw


def test_an_unexpected_exception_is_one_masked_line(monkeypatch, base_args):
    """Not the engine's own error (psycopg2's ValueError for a NUL in the URL, a bug): uncaught, Ansible would print
    its text unmasked; through fail_json the password it quotes is masked."""
    monkeypatch.setattr(api, "preflight", raiser(ValueError(f"embedded null character near {DB_PASSWORD}")))
    result, code, raw = run_module("checkniner_preflight", base_args)
    assert code == 1, result
    assert result["msg"] == "unexpected ValueError: embedded null character near ********"
    assert DB_PASSWORD not in raw
