"""pg.connect: a connection that fails is one line naming the database, never the password libpq's words may quote."""

import psycopg2
import pytest

from checkniner_backup import database_url, pg
from checkniner_backup.errors import BackupError, ConfigError

PASSWORD = "Kx9/Tail#Of?Secret@x"
DATABASE = database_url.Database.from_url("postgres://app:Kx9%2FTail%23Of%3FSecret%40x@db.example:5432/checkniner")


def refuse(monkeypatch, text):
    def connect(**kwargs):
        assert kwargs["password"] == PASSWORD
        raise psycopg2.OperationalError(text.format(password=kwargs["password"]))

    monkeypatch.setattr(psycopg2, "connect", connect)


def test_libpq_words_quoting_the_password_are_masked(monkeypatch):
    refuse(monkeypatch, 'connection to server at "db.example" failed: FATAL:  role "{password}" is not permitted\n')
    with pytest.raises(BackupError) as exc:
        pg.connect(DATABASE)
    assert str(exc.value) == (
        "cannot connect to database 'checkniner' on db.example:5432: connection to server at \"db.example\" failed:"
        ' FATAL: role "********" is not permitted'
    )
    assert not [piece for piece in ("Kx9", "Tail", "Secret") if piece in str(exc.value)]


def test_libpq_words_without_the_password_are_kept(monkeypatch):
    refuse(monkeypatch, 'could not translate host name "db.example" to address: Name or service not known\n')
    with pytest.raises(BackupError) as exc:
        pg.connect(DATABASE)
    assert str(exc.value) == (
        "cannot connect to database 'checkniner' on db.example:5432: could not translate host name \"db.example\" to"
        " address: Name or service not known"
    )


def test_a_wrong_password_is_a_fixed_line(monkeypatch):
    refuse(monkeypatch, 'FATAL:  password authentication failed for user "app" ({password})\n')
    with pytest.raises(ConfigError) as exc:
        pg.connect(DATABASE)
    assert str(exc.value) == "cannot log in to database 'checkniner' on db.example:5432: wrong user or password"


@pytest.mark.parametrize("secret", [None, ""])
def test_nothing_to_mask_without_a_password(secret):
    assert pg.masked("connection refused", secret) == "connection refused"


@pytest.mark.parametrize("password", ["two  spaces", "tab\there", " leading", "new\nline"])
def test_a_password_with_whitespace_is_masked_before_the_line_is_folded(monkeypatch, password):
    database = DATABASE.with_name("checkniner")
    database = database_url.Database(database.name, database.user, password, database.host, database.port)

    def connect(**kwargs):
        raise psycopg2.OperationalError(f'FATAL:  role "{kwargs["password"]}" is not permitted\n')

    monkeypatch.setattr(psycopg2, "connect", connect)
    with pytest.raises(BackupError) as exc:
        pg.connect(database)
    assert str(exc.value).endswith('FATAL: role "********" is not permitted'), str(exc.value)
    assert " ".join(password.split()) not in str(exc.value)


def test_a_server_older_than_13_is_one_line_not_a_traceback(monkeypatch):
    """pg_current_snapshot() is PostgreSQL 13+: on 12 the precheck's query failed with psycopg2's UndefinedFunction."""
    closed = []

    class Conn:
        def close(self):
            closed.append(True)

    monkeypatch.setattr(pg, "connect", lambda database: Conn())
    monkeypatch.setattr(pg, "server_info", lambda conn: {"server_version": "12.20", "server_version_num": 120020})
    monkeypatch.setattr(pg, "next_xid", lambda conn: pytest.fail("queried a 12 server for pg_current_snapshot()"))
    with pytest.raises(ConfigError) as exc:
        pg.preflight(DATABASE, {})
    assert str(exc.value) == (
        "database 'checkniner' on db.example:5432 runs PostgreSQL 12.20: checkniner-backup needs 13 or newer"
        " (pg_current_snapshot(), which tells whether anything was committed since the last run); upgrade the server"
    )
    assert closed == [True]
