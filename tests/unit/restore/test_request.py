"""The restore's option rules, written once (RestoreRequest.validate) and spelled the way each front door's user
types them."""

import pytest

from checkniner_backup import config as config_mod
from checkniner_backup.errors import ConfigError
from checkniner_backup.restore.command import restore
from checkniner_backup.restore.request import CLI, MODULE, RestoreRequest


def _config(**env):
    base = {"DATABASE_URL": "postgres://app:pw@localhost/live"}
    base.update(env)
    return config_mod.load(base)


@pytest.mark.parametrize("apps, mode", [("auth", "sql"), (["checkouts"], "sql")])
def test_apps_need_fixtures_mode(apps, mode):
    with pytest.raises(ConfigError, match="--mode fixtures"):
        restore(_config(), RestoreRequest(apps=apps, mode=mode))


def test_live_restore_needs_yes():
    with pytest.raises(ConfigError, match="--yes"):
        restore(_config(), RestoreRequest())


def test_unknown_mode():
    with pytest.raises(ConfigError, match="unknown restore mode"):
        restore(_config(), RestoreRequest(mode="magic"))


@pytest.mark.parametrize(
    "spelling, apps_rule, confirm",
    [(CLI, "--apps needs --mode fixtures", "pass --yes"), (MODULE, "apps needs mode=fixtures", "pass confirm=true")],
)
def test_messages_use_the_front_doors_vocabulary(spelling, apps_rule, confirm):
    with pytest.raises(ConfigError, match=apps_rule):
        RestoreRequest(apps="auth", spelling=spelling).validate()
    with pytest.raises(ConfigError, match=confirm):
        restore(_config(), RestoreRequest(spelling=spelling))
