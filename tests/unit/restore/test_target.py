"""The restore's target: which database, and whether it is the live one."""

import pytest

from checkniner_backup import config as config_mod
from checkniner_backup.config import Database
from checkniner_backup.errors import ConfigError
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


def test_resolve_target():
    target, live = target_mod.resolve_target(_config())
    assert target.name == "live" and live
    target, live = target_mod.resolve_target(_config(), "postgres://app@localhost/other")
    assert target.name == "other" and not live
    target, live = target_mod.resolve_target(_config(**{target_mod.TARGET_ENV: "postgres://x:pw@localhost/live"}))
    assert live  # the same database, however it is spelled
    with pytest.raises(ConfigError, match="no target database"):
        target_mod.resolve_target(config_mod.load({}, require_database=False))
