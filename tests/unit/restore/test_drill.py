"""The drill's scratch databases: named by time and pid, recognised, dropped when a killed drill left them."""

import datetime as dt

import pytest

from checkniner_backup.restore import drill


def test_scratch_names_and_age():
    now = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    name = drill.scratch_name(now)
    assert name.startswith("cnb_verify_20240501120000_")
    assert drill.scratch_age(name, now) == dt.timedelta(0)
    assert drill.scratch_age(name, now + dt.timedelta(hours=2)) > drill.SCRATCH_MAX_AGE
    assert drill.scratch_age("cnb_verify_something_else", now) is None
    assert drill.scratch_age("app", now) is None


def test_every_copys_warnings_reach_the_result_once(monkeypatch, tmp_path):
    """A copy proven by equality still reports what its fetch noticed (a pointer from the future passed over); and
    what every restore repeats (a superuser connection, an unsigned archive) is said once."""
    from types import SimpleNamespace

    from checkniner_backup import config as config_mod
    from checkniner_backup.restore.request import VerifyRequest
    from checkniner_backup.restore.result import DrillResult

    manage_py = tmp_path / "manage.py"
    manage_py.write_text("")
    cfg = config_mod.load({
        "DATABASE_URL": "postgres://app@localhost/live",
        "DJANGO_SETTINGS_MODULE": "app.settings",
        "CHECKNINER_MANAGE_PY": str(manage_py),
        "S3_BUCKET_NAME": "bucket",
    })  # fmt: skip
    copies = {
        "local": SimpleNamespace(name="a.tar.gz", sha256="ab", warnings=("a.tar.gz is not signed",)),
        "s3": SimpleNamespace(name="a.tar.gz", sha256="ab", warnings=("latest.json names a future archive",)),
    }
    found = [SimpleNamespace(source="local", error=None), SimpleNamespace(source="s3", error=None)]
    monkeypatch.setattr(drill, "resolve", lambda config, ref, location, before: found)
    monkeypatch.setattr(drill, "fetch_found", lambda config, found, work, extract, *trust: copies[found.source])
    drilled = {"ok": True, "message": "ok", "archive": "a.tar.gz", "warnings": ["superuser", "a.tar.gz is not signed"]}
    monkeypatch.setattr(drill, "_drill", lambda config, server, fetched, work, timings: DrillResult(**drilled))
    result = drill._verify(cfg, VerifyRequest(workdir=str(tmp_path))).as_dict()
    assert result["ok"] and [row["proven_with"] for row in result["locations"]] == [None, "local"]
    assert result["warnings"] == ["superuser", "a.tar.gz is not signed", "latest.json names a future archive"]


def test_the_drill_uses_its_own_role_when_one_is_configured():
    from checkniner_backup import config as config_mod
    from checkniner_backup.errors import ConfigError

    live = {"DATABASE_URL": "postgres://app:pw@db/live"}
    assert drill.drill_server(config_mod.load(live)).user == "app"
    own = config_mod.load({**live, "CHECKNINER_VERIFY_DATABASE_URL": "postgres://drill:s3cret@db/postgres"})
    server = drill.drill_server(own)
    assert (server.user, server.password, server.name) == ("drill", "s3cret", "postgres")
    assert "s3cret" not in repr(own)  # the config's repr (tracebacks, debugging) does not show it
    # no DATABASE_URL is needed when the drill has its own server
    alone = config_mod.load({"CHECKNINER_VERIFY_DATABASE_URL": "postgres://drill@db/postgres"}, require_database=False)
    assert drill.drill_server(alone).user == "drill"
    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        drill.drill_server(config_mod.load({}, require_database=False))
    bad = config_mod.load({**live, "CHECKNINER_VERIFY_DATABASE_URL": "mysql://drill:s3cret@db/x"})
    with pytest.raises(ConfigError, match="CHECKNINER_VERIFY_DATABASE_URL") as caught:
        drill.drill_server(bad)
    assert "s3cret" not in str(caught.value)
