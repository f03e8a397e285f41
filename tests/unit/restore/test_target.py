"""The restore's target: which database, and whether it is the live one."""

import pytest

from checkniner_backup import config as config_mod
from checkniner_backup.config import Database
from checkniner_backup.errors import BackupError, ConfigError
from checkniner_backup.restore import target as target_mod


@pytest.mark.parametrize(
    "a, b, same",
    [
        ("postgres://u@localhost/app", "postgres://v:pw@127.0.0.1:5432/app", True),
        ("postgres://u@%2Fvar%2Frun%2Fpostgresql/app", "postgres://u@localhost/app", True),
        ("postgres://u@db1/app", "postgres://u@DB1/app", True),
        ("postgres://u@db1/app", "postgres://u@db2/app", False),
        ("postgres://u@localhost:5433/app", "postgres://u@localhost/app", False),
        ("postgres://u@localhost/app", "postgres://u@localhost/app_copy", False),
    ],
)
def test_same_database(a, b, same):
    assert target_mod.same_database(Database.from_url(a), Database.from_url(b)) is same


def test_argv_password_warning():
    assert target_mod.argv_password_warning("postgres://u:secret@h/db") is not None
    assert target_mod.TARGET_ENV in target_mod.argv_password_warning("postgres://u:secret@h/db")
    assert target_mod.argv_password_warning("postgres://u@h/db") is None
    assert target_mod.argv_password_warning(None) is None


def _config(**env):
    base = {"DATABASE_URL": "postgres://app:pw@localhost/live"}
    base.update(env)
    return config_mod.load(base)


def test_resolve_target(monkeypatch):
    ids = {"live": ("7301", 16384), "other": None}  # `other` does not exist yet
    monkeypatch.setattr(target_mod, "_identity", lambda db: ids[db.name])
    target, live = target_mod.resolve_target(_config())
    assert target.name == "live" and live
    target, live = target_mod.resolve_target(_config(), "postgres://app@localhost/other")
    assert target.name == "other" and not live
    target, live = target_mod.resolve_target(_config(**{target_mod.TARGET_ENV: "postgres://x:pw@localhost/live"}))
    assert live  # the same database, however it is spelled
    with pytest.raises(ConfigError, match="no target database"):
        target_mod.resolve_target(config_mod.load({}, require_database=False))


@pytest.mark.parametrize(
    "live_id, target_id, live",
    [
        (("7301", 16384), ("7301", 16384), True),  # another spelling of the same database
        (("7301", 16384), ("7301", 16999), False),  # another database of the same cluster
        (("7301", 16384), ("9999", 16384), False),  # the same OID in another cluster
        ((None, 16384), (None, 16384), True),  # the server will not tell its identifier: taken as live
        (("7301", 16384), None, False),  # the target does not exist yet
    ],
)
def test_the_live_database_is_recognised_by_identity(monkeypatch, live_id, target_id, live):
    ids = {"live": live_id, "alias": target_id}
    monkeypatch.setattr(target_mod, "_identity", lambda db: ids[db.name])
    a, b = Database.from_url("postgres://u@db1/alias"), Database.from_url("postgres://u@db2/live")
    assert target_mod.is_live(a, b) is live


def test_an_unreachable_live_database_makes_every_target_live(monkeypatch):
    def identity(db):
        if db.name == "live":
            raise BackupError("cannot connect to database 'live'")
        return ("7301", 1)

    monkeypatch.setattr(target_mod, "_identity", identity)
    assert target_mod.is_live(Database.from_url("postgres://u@db1/x"), Database.from_url("postgres://u@db2/live"))
