"""checkniner_snapshot: changed only when an archive was saved (or would be), busy is no failure, a failed run fails
with its line, the configuration from options or the host's environment, secrets masked.

The engine (api.run) is faked; tests/integration/test_modules_live.py runs the real module.
"""

import pytest
from support.ansible_module import (  # first: it puts module_utils under ansible.module_utils
    DB_PASSWORD,
    DB_URL,
    S3_SECRET,
    assert_engine_failure,
    engine_error,
    raiser,
    run_module,
)

# isort: split
from ansible.module_utils.checkniner_backup import api


def fake_run(monkeypatch, seen, result):
    def run(cfg, dry_run=False):
        seen["cfg"], seen["dry_run"] = cfg, dry_run
        return result

    monkeypatch.setattr(api, "run", run)


def test_snapshot_saved_is_changed(monkeypatch, seen, base_args):
    fake_run(
        monkeypatch,
        seen,
        api.RunResult(
            "saved",
            name="2026-01-01T000000Z.tar.gz",
            size=2048,
            fingerprint="f1",
            uploaded=["2026-01-01T000000Z.tar.gz"],
        ),
    )
    result, code, raw = run_module("checkniner_snapshot", base_args)
    assert code == 0
    assert result["changed"] is True
    assert (result["outcome"], result["name"], result["fingerprint"], result["size"]) == (
        "saved",
        "2026-01-01T000000Z.tar.gz",
        "f1",
        2048,
    )
    assert result["uploaded"] == ["2026-01-01T000000Z.tar.gz"]
    assert result["msg"].startswith("saved 2026-01-01T000000Z.tar.gz")
    assert seen["dry_run"] is False
    assert seen["cfg"].database.password == DB_PASSWORD
    assert seen["cfg"].backup_dir == base_args["backup_dir"]
    assert DB_PASSWORD not in raw and "pw-Secret%2F9" not in raw


def test_snapshot_unchanged(monkeypatch, seen, base_args):
    paths = {"auth.user": {"path": "fast"}, "zoo.tags": {"path": "serializer", "reason": "tags is a Tags"}}
    fake_run(monkeypatch, seen, api.RunResult("unchanged", reason="fingerprint", fingerprint="f1", models=paths))
    result, code, _ = run_module("checkniner_snapshot", base_args)
    assert code == 0
    assert result["changed"] is False
    assert (result["outcome"], result["reason"]) == ("unchanged", "fingerprint")
    assert result["msg"].startswith("unchanged (fingerprint")
    # the path of every model the run dumped, and the count of the slow ones in the line
    assert result["models"] == paths
    assert "1 model(s) through Django's serializer: zoo.tags" in result["msg"]


def test_snapshot_check_mode_would_save(monkeypatch, seen, base_args):
    fake_run(monkeypatch, seen, api.RunResult("would save", reason="business data changed", fingerprint="f2"))
    result, code, _ = run_module("checkniner_snapshot", base_args, check=True)
    assert code == 0
    assert seen["dry_run"] is True
    assert result["changed"] is True
    assert result["outcome"] == "would save"
    assert result["name"] is None


def test_snapshot_check_mode_unchanged(monkeypatch, seen, base_args):
    fake_run(monkeypatch, seen, api.RunResult("unchanged", reason="precheck", fingerprint="f1"))
    result, _, _ = run_module("checkniner_snapshot", base_args, check=True)
    assert seen["dry_run"] is True
    assert result["changed"] is False


def test_snapshot_busy_is_not_a_failure(monkeypatch, seen, base_args):
    fake_run(monkeypatch, seen, api.RunResult("busy"))
    result, code, _ = run_module("checkniner_snapshot", base_args)
    assert code == 0
    assert result["changed"] is False
    assert result.get("failed") is not True
    assert "another run holds the lock" in result["msg"]


def test_snapshot_failed_run_fails_with_its_line(monkeypatch, seen, base_args):
    fake_run(monkeypatch, seen, api.RunResult("failed", error="pg_dump 14 is older than the server 16", exit_code=1))
    result, code, _ = run_module("checkniner_snapshot", base_args)
    assert code == 1
    assert result["failed"] is True
    assert result["changed"] is False
    assert result["msg"] == "failed: pg_dump 14 is older than the server 16"


def test_snapshot_saved_but_upload_failed_fails_changed(monkeypatch, seen, base_args):
    fake_run(
        monkeypatch,
        seen,
        api.RunResult("saved", name="a.tar.gz", size=1, error="S3 unreachable while uploading", exit_code=1),
    )
    result, code, _ = run_module("checkniner_snapshot", base_args)
    assert code == 1
    assert result["failed"] is True and result["changed"] is True
    assert "upload failed: S3 unreachable" in result["msg"]


def test_snapshot_engine_error_is_caught_once(monkeypatch, base_args, tracebacks):
    def run(cfg, dry_run=False):
        raise api.ConfigError("CHECKNINER_MANAGE_PY is not set: point it at the application's manage.py")

    monkeypatch.setattr(api, "run", run)
    result, code, _ = run_module("checkniner_snapshot", base_args)
    assert code == 1
    assert result["msg"] == "CHECKNINER_MANAGE_PY is not set: point it at the application's manage.py"
    assert "ConfigError: CHECKNINER_MANAGE_PY is not set" in result["exception"]


@pytest.mark.parametrize("kind", ["Busy", "StoreError", "ConfigError"])
def test_snapshot_engine_errors_fail_with_their_one_line(monkeypatch, base_args, tracebacks, kind):
    """run reports a held lock as its outcome "busy" (above); a Busy raised all the same is a failure, in one line."""
    monkeypatch.setattr(api, "run", raiser(engine_error(kind)))
    result, code, _ = run_module("checkniner_snapshot", base_args)
    assert_engine_failure(result, code, kind)


@pytest.mark.parametrize(
    "args, message",
    [
        ({}, "DATABASE_URL is not set"),
        ({"database_url": "mysql://u:pw-Secret@h/db"}, "must be a PostgreSQL URL"),
        ({"database_url": DB_URL, "business_apps": ["auth", "bad-label"]}, "invalid app labels: bad-label"),
    ],
)
def test_snapshot_bad_configuration(monkeypatch, args, message):
    monkeypatch.setattr(api, "run", lambda cfg, dry_run=False: pytest.fail("the engine must not run"))
    result, code, raw = run_module("checkniner_snapshot", args)
    assert code == 1
    assert message in result["msg"]
    assert "pw-Secret" not in raw


def test_snapshot_falls_back_to_host_environment(monkeypatch, seen, tmp_path):
    monkeypatch.setenv("DATABASE_URL", DB_URL)
    monkeypatch.setenv("CHECKNINER_BACKUP_DIR", str(tmp_path / "env-backups"))
    monkeypatch.setenv("S3_BUCKET_NAME", "bucket-from-env")
    monkeypatch.setenv("S3_SECRET_KEY", S3_SECRET)
    monkeypatch.setenv("S3_ACCESS_KEY", "AKIAENV")
    fake_run(monkeypatch, seen, api.RunResult("unchanged", reason="precheck", fingerprint="f1"))
    result, code, raw = run_module("checkniner_snapshot", {"environment": {"S3_PREFIX": "host1/"}})
    assert code == 0, result
    cfg = seen["cfg"]
    assert cfg.database.password == DB_PASSWORD
    assert cfg.backup_dir == str(tmp_path / "env-backups")
    assert (cfg.destinations[0].bucket, cfg.destinations[0].prefix) == ("bucket-from-env", "host1/")
    assert cfg.destinations[0].secret_key == S3_SECRET


def test_secret_from_host_environment_is_masked_in_messages(monkeypatch, base_args):
    """A password that never was a no_log option (it came from the host's DATABASE_URL) is still masked."""
    monkeypatch.setenv("DATABASE_URL", DB_URL)
    monkeypatch.setenv("S3_SECRET_KEY", S3_SECRET)

    def run(cfg, dry_run=False):
        raise api.BackupError(f"boom {DB_PASSWORD} {S3_SECRET} pw-Secret%2F9")

    monkeypatch.setattr(api, "run", run)
    args = dict(base_args)
    del args["database_url"]
    result, code, raw = run_module("checkniner_snapshot", args)
    assert code == 1
    assert result["msg"].startswith("boom ")
    for secret in (DB_PASSWORD, S3_SECRET, "pw-Secret%2F9"):
        assert secret not in raw
