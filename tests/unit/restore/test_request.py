"""The restore's option rules, written once (RestoreRequest.validate) and spelled the way each front door's user
types them."""

import pytest

from checkniner_backup import config as config_mod
from checkniner_backup.errors import ConfigError
from checkniner_backup.restore.command import restore
from checkniner_backup.restore.request import CLI, MODULE, RestoreRequest, VerifyRequest


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


@pytest.mark.parametrize("spelling, at, archive", [(CLI, "--at", "--archive"), (MODULE, "at", "archive")])
def test_at_and_an_archive_name_are_two_answers_refused_in_one_line(spelling, at, archive):
    for request in (RestoreRequest, VerifyRequest):
        with pytest.raises(ConfigError) as caught:
            request(archive="2026-11-30T140000Z.tar.gz", at="-2h", spelling=spelling).validate()
        text = str(caught.value)
        assert (
            text.startswith(f"{at} and {archive} 2026-11-30T140000Z.tar.gz each name the archive") and "\n" not in text
        )
        request(archive="latest", at="-2h", spelling=spelling).validate()  # latest, the default, goes with a time


@pytest.mark.parametrize("spelling, at", [(CLI, "--at"), (MODULE, "at")])
def test_a_time_that_does_not_parse_is_refused_before_anything_runs(spelling, at):
    with pytest.raises(ConfigError, match=f"^{at} must be an ISO 8601 time"):
        RestoreRequest(at="last tuesday", spelling=spelling).validate()
    with pytest.raises(ConfigError, match=f"^{at} must be an ISO 8601 time"):
        VerifyRequest(at="2h", spelling=spelling).validate()  # a time ago starts with "-"


def test_before_is_the_time_at_names():
    assert RestoreRequest().before() is None and VerifyRequest(at="").before() is None
    assert RestoreRequest(at="2026-11-30T14:00:00Z").before().isoformat() == "2026-11-30T14:00:00+00:00"
