"""Every destination holds what this host saved (issue 13): nothing stranded, and a quiet site notices a broken store
within one run. Against the real PostgreSQL server and real S3 endpoints."""

from __future__ import annotations

import json
from pathlib import Path

from support.django_project import manage

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
    assert set(state_of(backup_env)["archives"][old]["uploaded"]) == {"s3"}
    # confirmed: no longer pinned
    dry = json.loads(run_cli("prune", "--dry-run", "--json", env=keep_one).stdout)
    assert dry["locations"][0]["delete"] == [old]
    again = run_cli("run")
    assert again.returncode == 0 and "uploaded" not in again.stdout, again.stdout


def test_an_archive_a_killed_run_never_queued_is_uploaded_by_the_next(run_cli, backup_env, s3, bucket):
    directory = Path(backup_env["CHECKNINER_BACKUP_DIR"])
    assert run_cli("run", env={"S3_ENDPOINT_URL": "http://127.0.0.1:9"}).returncode == 1  # saved, not sent
    (name,) = archives(backup_env)
    # what a run killed between the rename and the queue leaves: the archive, no queue entry, no record
    (directory / "outbox" / "s3" / name).unlink()
    doc = state_of(backup_env)
    del doc["archives"][name]
    (directory / "state.json").write_text(json.dumps(doc))
    assert pending(run_cli) == 1

    result = run_cli("run")
    assert result.returncode == 0, result.stderr
    assert f"uploaded {name}" in result.stdout
    assert keys(s3, bucket) == [f"db/{name}", "db/latest.json"]
    entry = state_of(backup_env)["archives"][name]
    assert entry["sha256"] and entry["uploaded"]["s3"]  # described from the archive itself
    assert pending(run_cli) == 0


def test_a_state_file_older_than_confirmations_is_reconciled_from_one_listing(run_cli, backup_env, s3, bucket):
    directory = Path(backup_env["CHECKNINER_BACKUP_DIR"])
    assert run_cli("run").returncode == 0
    (name,) = archives(backup_env)
    doc = state_of(backup_env)
    del doc["archives"][name]["uploaded"]  # as every state.json written before issue 13
    (directory / "state.json").write_text(json.dumps(doc))
    assert pending(run_cli) == 1
    before = s3.client().head_object(Bucket=bucket, Key=f"db/{name}")["LastModified"]

    result = run_cli("run")
    assert result.returncode == 0 and "uploaded" not in result.stdout, result.stdout + result.stderr
    assert s3.client().head_object(Bucket=bucket, Key=f"db/{name}")["LastModified"] == before  # not sent again
    assert state_of(backup_env)["archives"][name]["uploaded"]["s3"]
    assert pending(run_cli) == 0
