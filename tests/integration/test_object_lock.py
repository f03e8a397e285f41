"""S3 Object Lock (issue 12), against moto with a bucket created with Object Lock enabled: uploads carry a retention
the host's credentials cannot shorten or delete through, prune leaves what is still locked, list shows it."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import botocore.exceptions
import pytest
from support.django_project import manage

KEEP_NEWEST_ONLY = {f"CHECKNINER_KEEP_{tier}": "0" for tier in ("WITHIN", "HOURLY", "DAILY", "WEEKLY", "MONTHLY")}


@pytest.fixture
def locked_bucket(s3):
    name = f"cnb-lock-{uuid.uuid4().hex[:12]}"
    s3.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def remote(s3, bucket):
    resp = s3.client().list_objects_v2(Bucket=bucket, Prefix="db/")
    return sorted(o["Key"][3:] for o in resp.get("Contents", []) if o["Key"] != "db/latest.json")


def saved_name(result):
    assert result.returncode == 0, result.stderr
    return result.stdout.split("saved ", 1)[1].split(" ", 1)[0]


@pytest.mark.parametrize("mode", ["GOVERNANCE", "COMPLIANCE"])
def test_upload_sets_a_retention_the_hosts_credentials_cannot_delete_through(run_cli, s3, locked_bucket, mode):
    env = {"S3_BUCKET_NAME": locked_bucket, "S3_OBJECT_LOCK_DAYS": "2", "S3_OBJECT_LOCK_MODE": mode.lower()}
    before = dt.datetime.now(dt.timezone.utc)
    name = saved_name(run_cli("run", env=env))
    client = s3.client()  # the host's credentials (those backup_env gives the engine)
    head = client.head_object(Bucket=locked_bucket, Key=f"db/{name}")
    assert head["ObjectLockMode"] == mode
    until = head["ObjectLockRetainUntilDate"]
    assert before + dt.timedelta(days=2) - dt.timedelta(minutes=1) < until < before + dt.timedelta(days=2, minutes=5)
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        client.delete_object(Bucket=locked_bucket, Key=f"db/{name}", VersionId=head["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert client.head_object(Bucket=locked_bucket, Key=f"db/{name}", VersionId=head["VersionId"])["ContentLength"]

    listed = run_cli("list", "--remote", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)["archives"]
    assert row["lock"]["mode"] == mode and row["lock"]["until"].startswith(until.strftime("%Y-%m-%dT%H:%M"))
    text = run_cli("list", "--remote", env=env).stdout
    assert f"object lock ({mode}) until" in text, text


def test_prune_leaves_the_locked_archives_names_them_and_exits_0(run_cli, s3, locked_bucket, app_db):
    env = {"S3_BUCKET_NAME": locked_bucket}
    unlocked = saved_name(run_cli("run", env=env))  # uploaded before the lock was configured
    locked = []
    for _ in range(2):
        manage(["mutate_business"], app_db.url)
        locked.append(saved_name(run_cli("run", env=dict(env, S3_OBJECT_LOCK_DAYS="1"))))
    assert remote(s3, locked_bucket) == [unlocked, *locked]

    dry = run_cli("prune", "--dry-run", env=dict(env, **KEEP_NEWEST_ONLY))  # no lock days set: the bucket says
    assert dry.returncode == 0, dry.stderr
    assert f"would delete 1: {unlocked}" in dry.stdout and f"left 1 under Object Lock: {locked[0]}" in dry.stdout

    pruned = run_cli("prune", "--json", env=dict(env, **KEEP_NEWEST_ONLY))
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    doc = json.loads(pruned.stdout)
    (s3_loc,) = [loc for loc in doc["locations"] if loc["location"] == "s3"]
    assert s3_loc["locked"] == [locked[0]] and s3_loc["deleted"] == 1 and s3_loc["error"] is None
    assert s3_loc["keep"][locked[0]][0].startswith("object lock (GOVERNANCE) until ")
    assert remote(s3, locked_bucket) == locked  # the locked one is still there, not hidden behind a delete marker
    assert doc["ok"] is True
    again = run_cli("prune", env=dict(env, **KEEP_NEWEST_ONLY))
    assert again.returncode == 0, again.stderr
    assert f"left 1 under Object Lock: {locked[0]}" in again.stdout + again.stderr


@pytest.mark.parametrize(
    "override, message",
    [
        ({"S3_OBJECT_LOCK_DAYS": "two"}, "S3_OBJECT_LOCK_DAYS must be a whole number of days"),
        ({"S3_OBJECT_LOCK_MODE": "strict"}, "S3_OBJECT_LOCK_MODE must be GOVERNANCE or COMPLIANCE"),
        (
            {
                "CHECKNINER_BACKUP_DESTINATIONS": "offsite",
                "S3_OFFSITE_BUCKET_NAME": "b",
                "S3_OFFSITE_OBJECT_LOCK_DAYS": "-1",
            },
            "S3_OFFSITE_OBJECT_LOCK_DAYS must be a whole number of days",
        ),
    ],
)
def test_bad_object_lock_settings_are_configuration_errors(run_cli, override, message):
    result = run_cli("run", env=override)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr.splitlines()[0], result.stderr
