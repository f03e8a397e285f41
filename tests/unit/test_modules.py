"""The Ansible modules in library/: option handling, changed/unchanged, check mode and every failure path.

The engine boundary (runner.run, runner.ensure_uploaded, restore.restore, ...) is faked; the live tests in
tests/integration/test_modules_live.py run the real modules against the real PostgreSQL and S3.
"""

from __future__ import annotations

import importlib.util
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import ansible.module_utils
import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

ROOT = Path(__file__).resolve().parents[2]
# What ANSIBLE_MODULE_UTILS does for a real run: our module_utils become ansible.module_utils.*
if str(ROOT / "module_utils") not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(str(ROOT / "module_utils"))

from ansible.module_utils.checkniner_backup import listing, restore, runner  # noqa: E402
from ansible.module_utils.checkniner_backup.errors import BackupError, ConfigError, StoreError  # noqa: E402
from ansible.module_utils.checkniner_backup_ansible import (  # noqa: E402
    common_argument_spec,
    env_from_params,
)

DB_PASSWORD = "pw-Secret/9"
DB_URL = "postgres://app:pw-Secret%2F9@db.example:5432/checkniner"
S3_SECRET = "s3-Secret-key-1"


def load_module(name):
    spec = importlib.util.spec_from_file_location(f"cnb_test_{name}", ROOT / "library" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_module(name, args, check=False, diff=False):
    """Run the module's main() with these args; returns (the JSON result, exit code, raw stdout)."""
    args = dict(args)
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    out = io.StringIO()
    with patch_module_args(args), redirect_stdout(out), pytest.raises(SystemExit) as exc:
        load_module(name).main()
    raw = out.getvalue()
    return json.loads(raw), exc.value.code, raw


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for var in (
        "DATABASE_URL",
        "CHECKNINER_BACKUP_DIR",
        "CHECKNINER_BACKUP_APPS",
        "S3_BUCKET_NAME",
        "S3_SECRET_KEY",
        "S3_ACCESS_KEY",
        "CHECKNINER_RESTORE_TARGET_DATABASE_URL",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def base_args(tmp_path):
    return {"database_url": DB_URL, "backup_dir": str(tmp_path / "backups")}


@pytest.fixture
def seen():
    """Records the configuration each faked engine call received."""
    return {}


# -- the shared helper ------------------------------------------------------------------------------------------


def test_env_from_params_layers_host_environment_then_environment_option_then_options():
    params = {key: None for key in common_argument_spec()}
    params.update(
        environment={"S3_PREFIX": "env/", "CHECKNINER_BACKUP_DIR": "/env", "DROP_ME": None},
        backup_dir="/option",
        business_apps=["auth", " checkouts"],
        s3_secret_key=S3_SECRET,
    )
    env = env_from_params(params, base={"DATABASE_URL": "postgres://h/host", "DROP_ME": "x", "PATH": "/bin"})
    assert env["DATABASE_URL"] == "postgres://h/host"  # host fallback
    assert env["S3_PREFIX"] == "env/"  # environment option
    assert env["CHECKNINER_BACKUP_DIR"] == "/option"  # option wins over environment
    assert env["CHECKNINER_BACKUP_APPS"] == "auth,checkouts"
    assert env["S3_SECRET_KEY"] == S3_SECRET
    assert "DROP_ME" not in env
    assert env["PATH"] == "/bin"


def test_shared_secrets_are_no_log_options():
    spec = common_argument_spec()
    assert {k for k, v in spec.items() if v.get("no_log")} == {"database_url", "s3_access_key", "s3_secret_key"}
    assert common_argument_spec() is not common_argument_spec()  # modules .update() their own copy


# -- checkniner_snapshot ----------------------------------------------------------------------------------------


def fake_run(monkeypatch, seen, result):
    def run(cfg, dry_run=False):
        seen["cfg"], seen["dry_run"] = cfg, dry_run
        return result

    monkeypatch.setattr(runner, "run", run)


def test_snapshot_saved_is_changed(monkeypatch, seen, base_args):
    fake_run(
        monkeypatch,
        seen,
        runner.RunResult(
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
    fake_run(monkeypatch, seen, runner.RunResult("unchanged", reason="fingerprint", fingerprint="f1"))
    result, code, _ = run_module("checkniner_snapshot", base_args)
    assert code == 0
    assert result["changed"] is False
    assert (result["outcome"], result["reason"]) == ("unchanged", "fingerprint")
    assert result["msg"].startswith("unchanged (fingerprint")


def test_snapshot_check_mode_would_save(monkeypatch, seen, base_args):
    fake_run(monkeypatch, seen, runner.RunResult("would save", reason="business data changed", fingerprint="f2"))
    result, code, _ = run_module("checkniner_snapshot", base_args, check=True)
    assert code == 0
    assert seen["dry_run"] is True
    assert result["changed"] is True
    assert result["outcome"] == "would save"
    assert result["name"] is None


def test_snapshot_check_mode_unchanged(monkeypatch, seen, base_args):
    fake_run(monkeypatch, seen, runner.RunResult("unchanged", reason="precheck", fingerprint="f1"))
    result, _, _ = run_module("checkniner_snapshot", base_args, check=True)
    assert seen["dry_run"] is True
    assert result["changed"] is False


def test_snapshot_busy_is_not_a_failure(monkeypatch, seen, base_args):
    fake_run(monkeypatch, seen, runner.RunResult("busy"))
    result, code, _ = run_module("checkniner_snapshot", base_args)
    assert code == 0
    assert result["changed"] is False
    assert result.get("failed") is not True
    assert "another run holds the lock" in result["msg"]


def test_snapshot_failed_run_fails_with_its_line(monkeypatch, seen, base_args):
    fake_run(monkeypatch, seen, runner.RunResult("failed", error="pg_dump 14 is older than the server 16", exit_code=1))
    result, code, _ = run_module("checkniner_snapshot", base_args)
    assert code == 1
    assert result["failed"] is True
    assert result["changed"] is False
    assert result["msg"] == "failed: pg_dump 14 is older than the server 16"


def test_snapshot_saved_but_upload_failed_fails_changed(monkeypatch, seen, base_args):
    fake_run(
        monkeypatch,
        seen,
        runner.RunResult("saved", name="a.tar.gz", size=1, error="S3 unreachable while uploading", exit_code=1),
    )
    result, code, _ = run_module("checkniner_snapshot", base_args)
    assert code == 1
    assert result["failed"] is True and result["changed"] is True
    assert "upload failed: S3 unreachable" in result["msg"]


def test_snapshot_engine_error_is_caught_once(monkeypatch, base_args):
    def run(cfg, dry_run=False):
        raise ConfigError("CHECKNINER_MANAGE_PY is not set: point it at the application's manage.py")

    monkeypatch.setattr(runner, "run", run)
    # ansible-core 2.19 returns the traceback only when tracebacks are enabled (ANSIBLE_DISPLAY_TRACEBACK)
    monkeypatch.setattr(basic._traceback, "is_traceback_enabled", lambda *a, **k: True)
    result, code, _ = run_module("checkniner_snapshot", base_args)
    assert code == 1
    assert result["msg"] == "CHECKNINER_MANAGE_PY is not set: point it at the application's manage.py"
    assert "ConfigError: CHECKNINER_MANAGE_PY is not set" in result["exception"]


@pytest.mark.parametrize(
    "args, message",
    [
        ({}, "DATABASE_URL is not set"),
        ({"database_url": "mysql://u:pw-Secret@h/db"}, "must be a PostgreSQL URL"),
        ({"database_url": DB_URL, "business_apps": ["auth", "bad-label"]}, "invalid app labels: bad-label"),
    ],
)
def test_snapshot_bad_configuration(monkeypatch, args, message):
    monkeypatch.setattr(runner, "run", lambda cfg, dry_run=False: pytest.fail("the engine must not run"))
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
    fake_run(monkeypatch, seen, runner.RunResult("unchanged", reason="precheck", fingerprint="f1"))
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
        raise BackupError(f"boom {DB_PASSWORD} {S3_SECRET} pw-Secret%2F9")

    monkeypatch.setattr(runner, "run", run)
    args = dict(base_args)
    del args["database_url"]
    result, code, raw = run_module("checkniner_snapshot", args)
    assert code == 1
    assert result["msg"].startswith("boom ")
    for secret in (DB_PASSWORD, S3_SECRET, "pw-Secret%2F9"):
        assert secret not in raw


# -- checkniner_upload ------------------------------------------------------------------------------------------


def fake_upload(monkeypatch, seen, outcome):
    def ensure_uploaded(cfg, name=None, dry_run=False):
        seen.update(cfg=cfg, name=name, dry_run=dry_run)
        return outcome

    monkeypatch.setattr(runner, "ensure_uploaded", ensure_uploaded)


def test_upload_uploaded_is_changed(monkeypatch, seen, base_args):
    fake_upload(monkeypatch, seen, {"name": "a.tar.gz", "changed": True, "destinations": {"s3": "uploaded"}})
    result, code, _ = run_module("checkniner_upload", dict(base_args, s3_bucket="b", name="a.tar.gz"))
    assert code == 0
    assert result["changed"] is True
    assert result["destinations"] == {"s3": "uploaded"}
    assert (seen["name"], seen["dry_run"]) == ("a.tar.gz", False)


def test_upload_present_is_unchanged(monkeypatch, seen, base_args):
    fake_upload(monkeypatch, seen, {"name": "a.tar.gz", "changed": False, "destinations": {"s3": "present"}})
    result, code, _ = run_module("checkniner_upload", dict(base_args, s3_bucket="b"))
    assert code == 0
    assert result["changed"] is False
    assert seen["name"] == "latest"


def test_upload_check_mode(monkeypatch, seen, base_args):
    fake_upload(monkeypatch, seen, {"name": "a.tar.gz", "changed": True, "destinations": {"s3": "would upload"}})
    result, _, _ = run_module("checkniner_upload", dict(base_args, s3_bucket="b"), check=True)
    assert seen["dry_run"] is True
    assert result["changed"] is True and result["destinations"] == {"s3": "would upload"}


def test_upload_needs_s3(base_args, tmp_path):
    result, code, _ = run_module("checkniner_upload", base_args)
    assert code == 1
    assert result["msg"].startswith("S3 is not configured: set S3_BUCKET_NAME")


def test_upload_without_archive_says_so(base_args, tmp_path):
    (tmp_path / "backups").mkdir()
    result, code, _ = run_module("checkniner_upload", dict(base_args, s3_bucket="b"))
    assert code == 1
    assert result["msg"] == f"no local archive in {tmp_path / 'backups'} to upload"


def test_upload_store_error(monkeypatch, base_args):
    def ensure_uploaded(cfg, name=None, dry_run=False):
        raise StoreError("S3 bucket 'b' does not exist at AWS: check S3_BUCKET_NAME")

    monkeypatch.setattr(runner, "ensure_uploaded", ensure_uploaded)
    result, code, _ = run_module("checkniner_upload", dict(base_args, s3_bucket="b"))
    assert code == 1
    assert result["msg"] == "S3 bucket 'b' does not exist at AWS: check S3_BUCKET_NAME"


# -- checkniner_archive_info ------------------------------------------------------------------------------------


def make_archives(directory, names, latest=None):
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_bytes(b"x" * 10)
    if latest:
        (directory / "latest.tar.gz").symlink_to(latest)


def test_archive_info_local(tmp_path):
    names = ["2026-01-01T000000Z.tar.gz", "2026-01-02T000000Z.tar.gz"]
    make_archives(tmp_path / "backups", names, latest=names[-1])
    result, code, _ = run_module("checkniner_archive_info", {"backup_dir": str(tmp_path / "backups")}, check=True)
    assert code == 0
    assert result["changed"] is False
    assert [a["name"] for a in result["archives"]] == names
    assert [a["latest"] for a in result["archives"]] == [False, True]
    assert result["latest"] == names[-1]
    assert "remote_archives" not in result


def test_archive_info_missing_directory_has_no_archives(tmp_path):
    result, code, _ = run_module("checkniner_archive_info", {"backup_dir": str(tmp_path / "nothing-yet")})
    assert code == 0
    assert result["archives"] == [] and result["latest"] is None
    assert not (tmp_path / "nothing-yet").exists()


def test_archive_info_remote(monkeypatch, tmp_path):
    monkeypatch.setattr(listing, "remote_archives", lambda cfg: [{"name": "b.tar.gz", "latest": True}])
    monkeypatch.setattr(listing, "remote_pointers", lambda cfg: {"s3": {"name": "b.tar.gz", "sha256": "x"}})
    result, code, _ = run_module("checkniner_archive_info", {"local": False, "remote": True, "s3_bucket": "b"})
    assert code == 0, result
    assert result["remote_latest"] == {"s3": "b.tar.gz"}
    assert result["remote_archives"] == [{"name": "b.tar.gz", "latest": True}]
    assert "archives" not in result


def test_archive_info_remote_needs_s3(tmp_path):
    result, code, _ = run_module("checkniner_archive_info", {"backup_dir": str(tmp_path), "remote": True})
    assert code == 1
    assert result["msg"] == "S3 is not configured: set S3_BUCKET_NAME to list remote archives"


def test_archive_info_local_needs_backup_dir():
    result, code, _ = run_module("checkniner_archive_info", {})
    assert code == 1
    assert result["msg"] == "CHECKNINER_BACKUP_DIR is not set: name the local archive directory"


def test_archive_info_nothing_to_list():
    result, code, _ = run_module("checkniner_archive_info", {"local": False})
    assert code == 1
    assert result["msg"].startswith("nothing to list")


# -- checkniner_restore -----------------------------------------------------------------------------------------


def restore_result(**overrides):
    result = {
        "ok": True,
        "changed": True,
        "check_mode": False,
        "archive": "a.tar.gz",
        "source": "local",
        "mode": "sql",
        "target": "database 'checkniner' on db.example:5432",
        "target_database": "checkniner",
        "live": True,
        "created_database": False,
        "safety_archive": "2026-01-01T000000Z-pre-restore.tar.gz",
        "fingerprint": {"expected": "fa", "actual": "fa"},
        "apps": {"auth": {"match": True, "expected": "d1", "actual": "d1"}},
        "tables": {"auth_user": {"match": True, "expected": 5, "actual": 5}},
        "fixtures": {},
        "extra_tables": [],
        "warnings": [],
        "message": "restored a.tar.gz into database 'checkniner' on db.example:5432; proven",
    }
    result.update(overrides)
    return result


def fake_restore(monkeypatch, seen, result):
    def fake(config, archive="latest", mode="sql", apps=None, target_url=None, yes=False, check=False):
        seen.update(cfg=config, archive=archive, mode=mode, apps=apps, target_url=target_url, yes=yes, check=check)
        if isinstance(result, Exception):
            raise result
        return result

    monkeypatch.setattr(restore, "restore", fake)


def test_restore_changed(monkeypatch, seen, base_args):
    fake_restore(monkeypatch, seen, restore_result())
    result, code, _ = run_module("checkniner_restore", dict(base_args, confirm=True))
    assert code == 0, result
    assert result["changed"] is True and result["ok"] is True
    assert result["msg"].startswith("restored a.tar.gz")
    assert result["safety_archive"] == "2026-01-01T000000Z-pre-restore.tar.gz"
    assert (seen["archive"], seen["mode"], seen["yes"], seen["check"]) == ("latest", "sql", True, False)


def test_restore_already_matches_is_unchanged(monkeypatch, seen, base_args):
    fake_restore(monkeypatch, seen, restore_result(changed=False, safety_archive=None, message="already matches"))
    result, code, _ = run_module("checkniner_restore", dict(base_args, confirm=True))
    assert code == 0
    assert result["changed"] is False
    assert result["msg"] == "already matches"


def test_restore_check_mode_with_diff(monkeypatch, seen, base_args):
    fake_restore(
        monkeypatch,
        seen,
        restore_result(
            check_mode=True,
            safety_archive=None,
            fingerprint={"expected": "fa", "actual": "fb"},
            apps={"auth": {"match": False, "expected": "d1", "actual": "d0"}},
            tables={"auth_user": {"match": False, "expected": 5, "actual": 7}},
            message="would restore a.tar.gz into database 'checkniner'",
        ),
    )
    result, code, _ = run_module("checkniner_restore", base_args, check=True, diff=True)
    assert code == 0, result
    assert seen["check"] is True and seen["yes"] is False
    assert result["changed"] is True
    assert result["diff"]["before"] == {"apps": {"auth": "d0"}, "tables": {"auth_user": 7}, "fingerprint": "fb"}
    assert result["diff"]["after"] == {"apps": {"auth": "d1"}, "tables": {"auth_user": 5}, "fingerprint": "fa"}


def test_restore_fixtures_subset_to_another_target(monkeypatch, seen, base_args):
    target = "postgres://other:tgt-Pass@staging/checkniner"
    fake_restore(monkeypatch, seen, restore_result(mode="fixtures", live=False, warnings=["tables left as they are"]))
    args = dict(base_args, mode="fixtures", apps=["checkouts"], target_database_url=target)
    result, code, raw = run_module("checkniner_restore", args)
    assert code == 0, result
    assert (seen["mode"], seen["apps"], seen["target_url"]) == ("fixtures", ["checkouts"], target)
    assert [w["event"]["msg"] if isinstance(w, dict) else w for w in result["warnings"]] == ["tables left as they are"]
    assert "tgt-Pass" not in raw


def test_restore_live_without_confirm_fails_clearly(monkeypatch, seen, base_args):
    fake_restore(
        monkeypatch,
        seen,
        ConfigError("refusing to overwrite the live database 'checkniner' without confirmation: pass --yes"),
    )
    result, code, _ = run_module("checkniner_restore", base_args)
    assert code == 1
    assert seen["yes"] is False
    assert result["msg"].startswith("refusing to overwrite the live database")


def test_restore_proof_failed_fails_changed(monkeypatch, seen, base_args):
    fake_restore(
        monkeypatch,
        seen,
        restore_result(
            ok=False,
            apps={"auth": {"match": False, "expected": "d1", "actual": "d9"}},
            message="restored a.tar.gz; PROOF FAILED: auth differs",
        ),
    )
    result, code, _ = run_module("checkniner_restore", dict(base_args, confirm=True))
    assert code == 1
    assert result["failed"] is True and result["changed"] is True
    assert "PROOF FAILED" in result["msg"]


def test_restore_integrity_error(monkeypatch, seen, base_args):
    from ansible.module_utils.checkniner_backup.errors import IntegrityError

    fake_restore(monkeypatch, seen, IntegrityError("a.tar.gz does not match its recorded sha256"))
    result, code, _ = run_module("checkniner_restore", dict(base_args, confirm=True))
    assert code == 1
    assert result["msg"] == "a.tar.gz does not match its recorded sha256"


@pytest.mark.parametrize(
    "args, message",
    [
        ({"apps": ["auth"]}, "apps needs mode=fixtures"),
        ({"state": "verified", "mode": "fixtures"}, "state=verified restores the SQL into a scratch database"),
        ({"mode": "binary"}, "value of mode must be one of: sql, fixtures"),
    ],
)
def test_restore_bad_options(monkeypatch, seen, base_args, args, message):
    fake_restore(monkeypatch, seen, AssertionError("the engine must not run"))
    result, code, _ = run_module("checkniner_restore", dict(base_args, **args))
    assert code == 1
    assert message in result["msg"]
    assert seen == {}


def test_verify_ok_is_unchanged(monkeypatch, base_args):
    monkeypatch.setattr(
        restore,
        "verify",
        lambda cfg, archive="latest": {
            "ok": True,
            "archive": "a.tar.gz",
            "scratch_database": "cnb_verify_x",
            "dropped": True,
            "warnings": [],
            "message": "a.tar.gz restores",
        },
    )
    result, code, _ = run_module("checkniner_restore", dict(base_args, state="verified"))
    assert code == 0
    assert result["changed"] is False and result["dropped"] is True
    assert result["msg"] == "a.tar.gz restores"


def test_verify_failed_drill_fails(monkeypatch, base_args):
    monkeypatch.setattr(
        restore,
        "verify",
        lambda cfg, archive="latest": {
            "ok": False,
            "warnings": [],
            "message": "a.tar.gz FAILED the drill: auth differs",
        },
    )
    result, code, _ = run_module("checkniner_restore", dict(base_args, state="verified"))
    assert code == 1
    assert result["changed"] is False
    assert result["msg"] == "a.tar.gz FAILED the drill: auth differs"


def test_verify_is_skipped_in_check_mode(monkeypatch, base_args):
    monkeypatch.setattr(restore, "verify", lambda *a, **k: pytest.fail("the drill must not run in check mode"))
    result, code, _ = run_module("checkniner_restore", dict(base_args, state="verified"), check=True)
    assert code == 0
    assert result["skipped"] is True and result["changed"] is False


def test_modules_never_import_ansible_into_the_engine():
    engine = ROOT / "module_utils" / "checkniner_backup"
    for path in engine.glob("*.py"):
        assert "import ansible" not in path.read_text() and "from ansible" not in path.read_text(), path
