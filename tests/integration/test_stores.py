"""Every destination holds what this host saved (issue 13): nothing stranded, and a quiet site notices a broken store
within one run. Against the real PostgreSQL server and real S3 endpoints."""

from __future__ import annotations

import json
from pathlib import Path

from support.django_project import manage
from support.rclone import RcloneS3

NO_S3 = {"S3_BUCKET_NAME": None}


def archives(env):
    return sorted(p.name for p in Path(env["CHECKNINER_BACKUP_DIR"]).glob("*.tar.gz") if p.name != "latest.tar.gz")


def keys(s3, bucket):
    return sorted(o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket).get("Contents", []))


def state_of(env):
    return json.loads(Path(env["CHECKNINER_BACKUP_DIR"], "state.json").read_text())


def pending(run_cli):
    return json.loads(run_cli("status", "--json").stdout)["pending_uploads"]


def test_archives_saved_before_s3_was_configured_are_pending_pinned_then_uploaded(
    run_cli, backup_env, app_db, s3, bucket
):
    assert run_cli("run", env=NO_S3).returncode == 0
    manage(["mutate_business"], app_db.url)
    assert run_cli("run", env=NO_S3).returncode == 0
    old, new = archives(backup_env)
    # S3 is configured now: both are waiting, and prune keeps what no destination confirmed
    assert pending(run_cli) == 2
    rows = json.loads(run_cli("list", "--json").stdout)["archives"]
    assert [r["pending_upload"] for r in rows] == [["s3"], ["s3"]]
    keep_one = {"CHECKNINER_KEEP_WITHIN": "0", "CHECKNINER_KEEP_HOURLY": "1", "CHECKNINER_KEEP_DAILY": "0",
                "CHECKNINER_KEEP_WEEKLY": "0", "CHECKNINER_KEEP_MONTHLY": "0"}  # fmt: skip
    dry = json.loads(run_cli("prune", "--dry-run", "--json", env=keep_one).stdout)
    assert dry["locations"][0]["keep"][old] == ["pending upload"] and dry["locations"][0]["delete"] == []

    result = run_cli("run")
    assert result.returncode == 0, result.stderr
    assert f"uploaded {old}, {new}" in result.stdout
    assert keys(s3, bucket) == [f"db/{old}", f"db/{new}", "db/latest.json"]
    assert pending(run_cli) == 0
    assert state_of(backup_env)["destinations"]["s3"]["reconciled"]
    # reconciled and sent: no longer pinned
    dry = json.loads(run_cli("prune", "--dry-run", "--json", env=keep_one).stdout)
    assert dry["locations"][0]["delete"] == [old]
    again = run_cli("run")
    assert again.returncode == 0 and "uploaded" not in again.stdout, again.stdout


def test_a_run_killed_around_the_rename_strands_nothing(run_cli, backup_env, s3, bucket, monkeypatch):
    """The archive is queued before it is renamed into place: killed just after the rename (before anything was
    recorded), the archive still goes out with the next run; killed before it, nothing phantom waits."""
    from checkniner_backup import archive, cli
    from checkniner_backup.state import State

    def killed(*_args, **_kwargs):
        raise KeyboardInterrupt  # what SIGINT does; SIGKILL leaves the same files (no cleanup runs either way)

    with monkeypatch.context() as patch:
        patch.setattr(archive, "write_archive", killed)  # before the rename: a queued name, no file
        assert cli.main(["run"], env=backup_env) == 1
    directory = Path(backup_env["CHECKNINER_BACKUP_DIR"])
    assert archives(backup_env) == [] and len(list((directory / "outbox" / "s3").iterdir())) == 1
    assert pending(run_cli) == 0  # a queued name whose file never came waits for nothing

    with monkeypatch.context() as patch:
        patch.setattr(State, "record_saved", killed)  # after the rename: the archive, queued, recorded nowhere
        assert cli.main(["run"], env=backup_env) == 1
    (name,) = archives(backup_env)
    assert not (directory / "state.json").exists()  # nothing was recorded
    assert pending(run_cli) == 1

    result = run_cli("run")
    assert result.returncode == 0, result.stderr
    assert f"uploaded {name}" in result.stdout
    assert keys(s3, bucket) == [f"db/{name}", "db/latest.json"]
    assert pending(run_cli) == 0 and list((directory / "outbox" / "s3").iterdir()) == []


def test_a_state_file_older_than_reconciliation_is_reconciled_from_one_listing(run_cli, backup_env, s3, bucket):
    directory = Path(backup_env["CHECKNINER_BACKUP_DIR"])
    assert run_cli("run").returncode == 0
    (name,) = archives(backup_env)
    doc = state_of(backup_env)
    del doc["destinations"]  # as every state.json written before issue 13
    (directory / "state.json").write_text(json.dumps(doc))
    assert pending(run_cli) == 1
    before = s3.client().head_object(Bucket=bucket, Key=f"db/{name}")["LastModified"]

    result = run_cli("run")
    assert result.returncode == 0 and "uploaded" not in result.stdout, result.stdout + result.stderr
    assert s3.client().head_object(Bucket=bucket, Key=f"db/{name}")["LastModified"] == before  # not sent again
    assert state_of(backup_env)["destinations"]["s3"]["reconciled"]
    assert pending(run_cli) == 0


# -- a quiet site notices a broken store within one run (probing every run; by default at most once an hour, and
# every run after a failure: tests/integration/test_idle.py) -----------------------------------------------------

EVERY_RUN = {"CHECKNINER_PROBE_INTERVAL": "0"}


def first_error(result):
    line = result.stderr.strip().splitlines()[0]
    return line.split(" checkniner-backup run: ", 1)[1]


def test_wrong_credentials_on_an_unchanged_database_fail_the_next_run(run_cli, receiver, tmp_path):
    store = RcloneS3("checkniner-creds").start()  # a store that checks credentials, like AWS
    try:
        env = {
            "S3_ENDPOINT_URL": store.endpoint_url,
            "S3_BUCKET_NAME": store.bucket,
            "S3_ACCESS_KEY": store.access_key,
            "S3_SECRET_KEY": store.secret_key,
            "CHECKNINER_BACKUP_HEALTHCHECK_URL": receiver.url,
            **EVERY_RUN,
        }
        assert run_cli("run", env=env).returncode == 0
        quiet = run_cli("run", env=env)
        assert quiet.returncode == 0 and "unchanged (" in quiet.stdout, quiet.stdout + quiet.stderr
        result = run_cli("run", env={**env, "S3_SECRET_KEY": "rotated-away"})
    finally:
        store.stop()
    assert result.returncode == 1, result.stdout + result.stderr
    line = first_error(result)
    assert line.startswith("failed: S3 refused the credentials while checking ") and line.endswith(
        "check S3_ACCESS_KEY and S3_SECRET_KEY"
    ), line
    assert "rotated-away" not in result.stdout + result.stderr
    assert [c[0].endswith("/fail") for c in receiver.calls] == [False, False, True]
    assert receiver.calls[-1][1] == line


def test_an_object_lost_from_the_bucket_fails_the_run_and_is_uploaded_again(run_cli, backup_env, s3, bucket, receiver):
    env = {"CHECKNINER_BACKUP_HEALTHCHECK_URL": receiver.url, **EVERY_RUN}
    assert run_cli("run", env=env).returncode == 0
    (name,) = archives(backup_env)
    s3.client().delete_object(Bucket=bucket, Key=f"db/{name}")
    result = run_cli("run", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    line = first_error(result)
    assert line.startswith(f"failed: {name} was missing or damaged in s3://{bucket}/db/ at "), line
    assert "uploaded again" in line
    assert receiver.calls[-1][0].endswith("/fail")
    assert keys(s3, bucket) == [f"db/{name}", "db/latest.json"]
    assert run_cli("run").returncode == 0  # whole again


def test_a_deleted_bucket_fails_the_quiet_run_with_one_line(run_cli, backup_env, s3, bucket):
    assert run_cli("run").returncode == 0
    client = s3.client()
    for key in keys(s3, bucket):
        client.delete_object(Bucket=bucket, Key=key)
    client.delete_bucket(Bucket=bucket)
    result = run_cli("run", env=EVERY_RUN)
    assert result.returncode == 1
    assert first_error(result) == (
        f"failed: S3 bucket {bucket!r} does not exist at {s3.endpoint_url}: check S3_BUCKET_NAME; "
        "1 archive(s) waiting in the outbox"
    )
    assert pending(run_cli) == 1


# -- a bucket that lost everything is repaired whole (issue 21) -----------------------------------------------------


def _three_archives(run_cli, app_db, env=None):
    for i in range(3):
        if i:
            manage(["mutate_business"], app_db.url)
        proc = run_cli("run", env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def _empty(s3, bucket):
    client = s3.client()
    for key in keys(s3, bucket):
        client.delete_object(Bucket=bucket, Key=key)


def test_an_emptied_prefix_gets_every_archive_back(run_cli, backup_env, s3, bucket, app_db, receiver):
    """Every object under the prefix deleted: the run that notices fails, saying how many archives it sends again, and
    sends them all (not only the newest it asked for); the next run is green with nothing pending."""
    env = {"CHECKNINER_BACKUP_HEALTHCHECK_URL": receiver.url, **EVERY_RUN}
    _three_archives(run_cli, app_db, env)
    local = archives(backup_env)
    assert len(local) == 3
    _empty(s3, bucket)
    result = run_cli("run", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    line = first_error(result)
    assert line.startswith(f"failed: 3 archives were missing, {local[-1]} among them, in s3://{bucket}/db/"), line
    assert "uploaded again" in line and receiver.calls[-1][0].endswith("/fail")
    assert keys(s3, bucket) == [f"db/{n}" for n in local] + ["db/latest.json"]
    assert run_cli("run", env=env).returncode == 0
    assert pending(run_cli) == 0


def test_a_store_back_empty_while_an_archive_waits_gets_every_archive_back(run_cli, backup_env, s3, bucket, app_db):
    """The S3 server is down when a change is saved (the archive waits in the outbox), then restarts empty: the queued
    archive alone would be sent, and the older ones would stay missing with nothing noticed. The probe asks a
    destination with archives to send too, for the newest it should already hold."""
    _three_archives(run_cli, app_db, EVERY_RUN)
    manage(["mutate_business"], app_db.url)
    with s3.outage():  # the server is down, then back with its buckets, empty
        away = run_cli("run", env=EVERY_RUN)
        assert away.returncode == 1, away.stdout + away.stderr
        assert pending(run_cli) == 1
    result = run_cli("run", env=EVERY_RUN)
    assert result.returncode == 1, result.stdout + result.stderr
    assert first_error(result).startswith("failed: 3 archives were missing, "), first_error(result)
    local = archives(backup_env)
    assert len(local) == 4 and keys(s3, bucket) == [f"db/{n}" for n in local] + ["db/latest.json"]
    assert run_cli("run", env=EVERY_RUN).returncode == 0
    assert pending(run_cli) == 0
