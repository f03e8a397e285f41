"""The Ansible modules, run for real by ansible-playbook (AnsiballZ and all) against the real PostgreSQL and S3."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from support.django_project import BUSINESS_TABLES, manage
from support.pg import APP_PASSWORD, table_digests

from checkniner_backup import archive
from checkniner_backup.latest import iso

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
S3_SECRET = "cnb-S3-secret-7f3d91c2"  # moto accepts any credentials: a secret nobody else prints

# module option -> the backup_env variable it is given from
OPTIONS = {
    "database_url": "DATABASE_URL",
    "backup_dir": "CHECKNINER_BACKUP_DIR",
    "manage_py": "CHECKNINER_MANAGE_PY",
    "settings_module": "DJANGO_SETTINGS_MODULE",
    "django_python": "CHECKNINER_DJANGO_PYTHON",
    "s3_bucket": "S3_BUCKET_NAME",
    "s3_endpoint_url": "S3_ENDPOINT_URL",
    "s3_region": "S3_REGION",
    "s3_access_key": "S3_ACCESS_KEY",
    "s3_secret_key": "S3_SECRET_KEY",
}


@pytest.fixture
def options(backup_env):
    """Every setting given as a module option (the values reach the playbook as variables, as from a vault)."""
    opts = {option: backup_env[var] for option, var in OPTIONS.items()}
    opts["s3_secret_key"] = S3_SECRET
    return opts


@pytest.fixture
def host_env(backup_env):
    """The managed host's process environment: no contract variables, they come as options."""
    return {k: v for k, v in backup_env.items() if k not in OPTIONS.values()}


class Play:
    def __init__(self, tmp_path, host_env):
        self.tmp_path = tmp_path
        self.host_env = host_env
        self.count = 0

    def run(self, module, options, check=False, verbosity=0, callback="json", env=None):
        """Run one task of `module` with `options` (templated from extra vars) in a playbook on localhost."""
        self.count += 1
        base = self.tmp_path / f"play{self.count}"
        vars_file = base.with_suffix(".vars.json")
        vars_file.write_text(json.dumps({"cnb_options": options}))
        args = "\n".join(f'        {key}: "{{{{ cnb_options.{key} }}}}"' for key in options)
        playbook = base.with_suffix(".yml")
        playbook.write_text(
            "- name: Module under test\n"
            "  hosts: localhost\n"
            "  connection: local\n"
            "  gather_facts: false\n"
            "  tasks:\n"
            f"    - name: Run {module}\n"
            f"      {module}:\n"
            f"{args or '        {}'}\n"
        )
        full_env = dict(self.host_env)
        full_env.update(
            ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
            ANSIBLE_LIBRARY=str(ROOT / "library"),
            ANSIBLE_MODULE_UTILS=str(ROOT / "module_utils"),
            ANSIBLE_STDOUT_CALLBACK=callback,
            ANSIBLE_LOCAL_TEMP=str(self.tmp_path / "ansible-local"),
            ANSIBLE_REMOTE_TEMP=str(self.tmp_path / "ansible-remote"),
            ANSIBLE_NOCOLOR="1",
            PATH=f"{BIN}{os.pathsep}{self.host_env['PATH']}",
        )
        full_env.update(env or {})
        argv = [
            str(BIN / "ansible-playbook"),
            "-i",
            "localhost,",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            f"@{vars_file}",
            str(playbook),
        ]
        if check:
            argv.append("--check")
        if verbosity:
            argv.append("-" + "v" * verbosity)
        proc = subprocess.run(argv, env=full_env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
        self.output = proc.stdout + proc.stderr
        if callback != "json":
            return proc
        try:
            doc = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError(f"ansible-playbook printed no JSON ({proc.returncode}):\n{self.output}") from None
        return doc["plays"][0]["tasks"][0]["hosts"]["localhost"]


@pytest.fixture
def play(tmp_path, host_env):
    return Play(tmp_path, host_env)


def local_archives(options):
    return sorted(p.name for p in Path(options["backup_dir"]).glob("*.tar.gz") if p.name != "latest.tar.gz")


def s3_keys(s3, bucket):
    return sorted(o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket).get("Contents", []))


def test_snapshot_check_mode_then_saves_then_unchanged(play, options, s3, bucket, app_db):
    would = play.run("checkniner_snapshot", options, check=True)
    assert would.get("failed") is not True, would
    assert would["changed"] is True
    assert would["outcome"] == "would save"
    assert local_archives(options) == []
    assert s3_keys(s3, bucket) == []

    saved = play.run("checkniner_snapshot", options)
    assert saved["changed"] is True, saved
    assert saved["outcome"] == "saved"
    assert local_archives(options) == [saved["name"]]
    assert s3_keys(s3, bucket) == [f"db/{saved['name']}", "db/latest.json"]
    assert saved["uploaded"] == [saved["name"]]
    # every model of the sample project (django-model-utils' fields included) is written by the fast path
    assert saved["models"]["auth.user"] == {"path": "fast"}
    assert {m: p for m, p in saved["models"].items() if p["path"] != "fast"} == {}

    again = play.run("checkniner_snapshot", options)
    assert again["changed"] is False, again
    assert again["outcome"] == "unchanged"
    assert again["fingerprint"] == saved["fingerprint"]
    assert local_archives(options) == [saved["name"]]

    check_again = play.run("checkniner_snapshot", options, check=True)
    assert check_again["changed"] is False

    manage(["mutate_business"], app_db.url)
    would = play.run("checkniner_snapshot", options, check=True)
    assert would["changed"] is True and would["outcome"] == "would save"
    assert local_archives(options) == [saved["name"]]


def test_upload_unchanged_when_present_and_restores_a_missing_object(play, options, s3, bucket):
    saved = play.run("checkniner_snapshot", options)
    assert saved["changed"] is True, saved
    name = saved["name"]

    present = play.run("checkniner_upload", {k: options[k] for k in options if k != "database_url"})
    assert present["changed"] is False, present
    assert present["destinations"] == {"s3": "present"}

    s3.client().delete_object(Bucket=bucket, Key=f"db/{name}")
    would = play.run("checkniner_upload", options, check=True)
    assert would["changed"] is True and would["destinations"] == {"s3": "would upload"}
    assert f"db/{name}" not in s3_keys(s3, bucket)

    uploaded = play.run("checkniner_upload", options)
    assert uploaded["changed"] is True and uploaded["destinations"] == {"s3": "uploaded"}
    assert f"db/{name}" in s3_keys(s3, bucket)


def test_archive_info_lists_local_and_remote(play, options):
    saved = play.run("checkniner_snapshot", options)
    info = play.run("checkniner_archive_info", dict(options, remote=True))
    assert info["changed"] is False, info
    assert info["latest"] == saved["name"]
    assert [a["name"] for a in info["archives"]] == [saved["name"]]
    assert info["remote_latest"] == {"s3": saved["name"]}
    assert [a["name"] for a in info["remote_archives"]] == [saved["name"]]


def test_options_fall_back_to_the_host_environment(play, backup_env, options):
    """No option at all: the variables cron uses are enough."""
    host = dict(backup_env, S3_SECRET_KEY=S3_SECRET)
    saved = play.run("checkniner_snapshot", {}, env=host)
    assert saved["changed"] is True, saved
    assert local_archives(options) == [saved["name"]]


def test_failure_is_one_clear_line(play, options):
    bad = dict(options, database_url=options["database_url"].replace("/cnb_", "/missing_cnb_"))
    result = play.run("checkniner_snapshot", bad)
    assert result["failed"] is True
    assert "does not exist" in result["msg"] or "cannot connect" in result["msg"], result["msg"]
    assert local_archives(options) == []


def test_no_secret_in_ansible_output_at_v(play, options, backup_env, app_db):
    """Default callback, -v: successes, check mode, a failure, and secrets that came from the host environment."""
    outputs = []
    for check in (True, False):
        play.run("checkniner_snapshot", options, check=check, verbosity=1, callback="default")
        outputs.append(play.output)
    play.run("checkniner_upload", options, verbosity=1, callback="default")
    outputs.append(play.output)
    play.run("checkniner_archive_info", dict(options, remote=True), verbosity=1, callback="default")
    outputs.append(play.output)
    target = dict(options, target_database_url=options["database_url"].rsplit("/", 1)[0] + "/cnb_nowhere")
    play.run(
        "checkniner_restore", target, check=True, verbosity=1, callback="default", env={"ANSIBLE_DIFF_ALWAYS": "1"}
    )
    outputs.append(play.output)
    bad = dict(options, database_url=options["database_url"].replace("@127.0.0.1:", "@127.0.0.1:1"))
    play.run("checkniner_snapshot", bad, verbosity=1, callback="default")
    outputs.append(play.output)
    host = dict(backup_env, S3_SECRET_KEY=S3_SECRET)
    play.run("checkniner_snapshot", {}, verbosity=1, callback="default", env=host)
    outputs.append(play.output)
    text = "\n".join(outputs)
    assert "ok: [localhost]" in text or "changed: [localhost]" in text, text
    assert "FAILED!" in text  # the failing run is part of what was searched
    assert "cnb_nowhere" in text  # the restore check ran and named its target
    for secret in (APP_PASSWORD, quote(APP_PASSWORD), S3_SECRET):
        assert secret not in text


@pytest.fixture
def target_db(pg):
    """A database name for restores, dropped afterwards (the module creates it)."""
    name = f"cnb_target_{os.getpid()}_{id(pg) % 10000}"
    yield name
    pg.drop_database(name)


def count(pg, db, table):
    return int(pg.psql(f"SELECT count(*) FROM {table};", db=db).strip())


def test_restore_into_another_database_then_unchanged_and_check_mode_diff(play, options, pg, app_db, target_db):
    saved = play.run("checkniner_snapshot", options)
    assert saved["changed"] is True, saved
    restore_opts = dict(options, target_database_url=pg.app_url(target_db))

    would = play.run("checkniner_restore", restore_opts, check=True)
    assert would["changed"] is True, would
    assert target_db not in pg.psql("SELECT datname FROM pg_database;")  # check mode created nothing

    restored = play.run("checkniner_restore", restore_opts)
    assert restored.get("failed") is not True, (restored["msg"], restored.get("apps"), restored.get("tables"))
    assert restored["changed"] is True and restored["ok"] is True
    assert restored["archive"] == saved["name"] and restored["live"] is False
    assert restored["created_database"] is True
    assert count(pg, target_db, "checkouts_checkout") == count(pg, app_db.name, "checkouts_checkout")

    again = play.run("checkniner_restore", restore_opts)
    assert again["changed"] is False, again
    assert again["ok"] is True

    pg.psql("DELETE FROM checkouts_checkout;", db=target_db)
    play_diff = play.run("checkniner_restore", dict(restore_opts), check=True, env={"ANSIBLE_DIFF_ALWAYS": "1"})
    assert play_diff["changed"] is True, play_diff
    assert count(pg, target_db, "checkouts_checkout") == 0  # check mode touched nothing
    diff = play_diff["diff"]
    assert diff["after"]["fingerprint"] == saved["fingerprint"]

    restored = play.run("checkniner_restore", restore_opts)
    assert restored["changed"] is True and restored["ok"] is True
    assert count(pg, target_db, "checkouts_checkout") == count(pg, app_db.name, "checkouts_checkout")


def test_restore_over_live_database_needs_confirm(play, options, pg, app_db):
    saved = play.run("checkniner_snapshot", options)
    assert saved["changed"] is True, saved
    refused = play.run("checkniner_restore", options)
    assert refused["failed"] is True
    assert refused["msg"].startswith("refusing to overwrite the live"), refused["msg"]
    assert "confirm" in refused["msg"]

    same = play.run("checkniner_restore", dict(options, confirm=True))
    assert same.get("failed") is not True, same
    assert same["changed"] is False  # the live database already matches its newest archive


def test_restore_drill(play, options):
    play.run("checkniner_snapshot", options)
    drill = play.run("checkniner_restore", dict(options, state="verified"))
    assert drill.get("failed") is not True, drill
    assert drill["changed"] is False
    assert drill["ok"] is True and drill["dropped"] is True
    skipped = play.run("checkniner_restore", dict(options, state="verified"), check=True)
    assert skipped.get("skipped") is True


def test_an_unsigned_archive_fails_the_task_unless_allow_unsigned(play, options, host_env):
    """Fail closed through the module too: the refusal names the module's option, and the opt-out warns."""
    unsigned = {"CHECKNINER_SIGNING_KEY": ""}  # a host configured before signing
    play.run("checkniner_snapshot", options, env=unsigned)
    refused = play.run("checkniner_restore", dict(options, state="verified"), env=unsigned)
    assert refused["failed"] is True
    assert " is not signed: refused before any database was touched" in refused["msg"], refused["msg"]
    assert refused["msg"].endswith("accept it once with allow_unsigned=true (playbook: -e allow_unsigned=yes)")
    drill = play.run("checkniner_restore", dict(options, state="verified", allow_unsigned=True), env=unsigned)
    assert drill.get("failed") is not True, drill
    warnings = [w["event"]["msg"] if isinstance(w, dict) else w for w in drill["warnings"]]
    assert any("is not signed: accepted because of allow_unsigned=true" in w for w in warnings), warnings


def test_restore_at_takes_the_archive_of_that_time_locally_and_from_s3(play, options, pg, app_db, target_db):
    """Three archives of three states: `at` takes the newest saved at or before it, here and in S3, through
    checkniner_archive_info and checkniner_restore; a time before the oldest fails in one line."""
    saved, states = [], []
    for i in range(3):
        if i:
            manage(["mutate_business"], app_db.url)
        saved.append(play.run("checkniner_snapshot", options)["name"])
        states.append(table_digests(pg, app_db.name, BUSINESS_TABLES))
    assert len(set(saved)) == 3 and states[0] != states[1] != states[2]
    before_third = iso(archive.time_of(saved[2]) - dt.timedelta(seconds=1))

    info = play.run("checkniner_archive_info", dict(options, remote=True, at=before_third))
    assert [a["name"] for a in info["archives"]] == [saved[1]], info
    assert [(a["name"], a["location"]) for a in info["remote_archives"]] == [(saved[1], "s3")]

    restore_opts = dict(options, target_database_url=pg.app_url(target_db), at=before_third)
    restored = play.run("checkniner_restore", restore_opts)
    assert restored.get("failed") is not True, restored["msg"]
    assert restored["archive"] == saved[1] and restored["source"] == "local"
    assert table_digests(pg, target_db, BUSINESS_TABLES) == states[1]

    from_s3 = {k: v for k, v in restore_opts.items() if k != "backup_dir"}  # the host is gone: only S3
    would = play.run("checkniner_restore", dict(from_s3, at=iso(archive.time_of(saved[0]))), check=True)
    assert would.get("failed") is not True, would["msg"]
    assert would["archive"] == saved[0] and would["source"] == "s3" and would["changed"] is True

    refused = play.run("checkniner_restore", dict(from_s3, at="2000-01-01"))
    assert refused["failed"] is True and "\n" not in refused["msg"]
    assert refused["msg"].startswith(f"no archive saved at or before 2000-01-01T00:00:00Z: the oldest is {saved[0]}")
