"""Restore, verify and list by time (`--at TIME`): three archives of three states of the database, and the one taken
for a time is the newest saved at or before it, locally and from S3 (the pointer names only the newest: the listing
decides, paginated). Real PostgreSQL, the moto server, the sample project."""

import json
import uuid

import pytest
from support.archives import backup, first_error_line
from support.django_project import BUSINESS_TABLES, manage
from support.pg import table_digests

from checkniner_backup import archive
from checkniner_backup.latest import iso


@pytest.fixture
def three(pg, app_db, run_cli):
    """Three archives, each of a different state of the business data: [(name, that state's digests)]."""
    saved = []
    for i in range(3):
        if i:
            manage(["mutate_business"], app_db.url)
        name = backup(run_cli)
        saved.append((name, table_digests(pg, app_db.name, BUSINESS_TABLES)))
    names = [name for name, _ in saved]
    assert len(set(names)) == 3 and names == sorted(names)
    assert len({json.dumps(digests, sort_keys=True) for _, digests in saved}) == 3  # three different states
    return saved


def at(name, seconds=0):
    """--at for the time an archive's name stands for, moved by seconds."""
    import datetime as dt

    return iso(archive.time_of(name) + dt.timedelta(seconds=seconds))


def new_target(pg, scratch_dbs):
    name = f"cnb_{uuid.uuid4().hex[:12]}"
    scratch_dbs.append(name)
    return name, pg.app_url(name)


def restore_json(run_cli, *args, env=None):
    proc = run_cli("restore", "--json", *args, env=env)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return json.loads(proc.stdout)


def list_json(run_cli, *args, env=None):
    proc = run_cli("list", "--json", *args, env=env)
    assert proc.returncode == 0, proc.stderr
    return [(row["name"], row["location"]) for row in json.loads(proc.stdout)["archives"]]


def test_restore_at_takes_the_newest_saved_at_or_before_locally(pg, run_cli, three, scratch_dbs):
    (first, _), (second, second_state), (third, _) = three
    target, url = new_target(pg, scratch_dbs)
    env = {"CHECKNINER_RESTORE_TARGET_DATABASE_URL": url}

    # a second after the second archive, and before the third: the database as the second archive holds it
    result = restore_json(run_cli, "--at", at(second, 0), env=env)
    assert result["ok"] and result["archive"] == second and result["source"] == "local"
    assert table_digests(pg, target, BUSINESS_TABLES) == second_state

    # the same time, spelled the other ways TIME takes
    for spelled in (at(second).replace("T", " ")[:-1], archive.NAME_RE.match(second).group(1)):
        assert restore_json(run_cli, "--check", "--at", spelled, env=env)["archive"] == second
    # just before the second: the first; a time in the future and a time ago of 0: the newest
    assert restore_json(run_cli, "--check", "--at", at(second, -1), env=env)["archive"] == first
    assert restore_json(run_cli, "--check", "--at", "2999-01-01", env=env)["archive"] == third
    assert restore_json(run_cli, "--check", "--at", "-0m", env=env)["archive"] == third

    # list --at shows that archive alone, and --json stays one document of the same rows
    assert list_json(run_cli, "--at", at(third, -1)) == [(second, "local")]
    proc = run_cli("list", "--at", at(third, -1))
    assert proc.returncode == 0 and proc.stdout.split()[0] == second


def test_a_time_before_the_oldest_archive_is_one_clear_line(pg, app_db, run_cli, three, scratch_dbs):
    (first, _), _, _ = three
    before = table_digests(pg, app_db.name, BUSINESS_TABLES)
    for command in (("restore", "--yes"), ("list",), ("verify",)):
        proc = run_cli(*command, "--at", "-1w")  # `--at -1w`: a time ago, not taken for an option
        assert proc.returncode == 1, proc.stderr
        line = first_error_line(proc)
        assert "no archive saved at or before" in line and f"the oldest is {first}" in line, line
        assert f"from {at(first)}" in line, line
    assert table_digests(pg, app_db.name, BUSINESS_TABLES) == before  # nothing restored

    proc = run_cli("restore", "--yes", "--at", at(first), "--archive", first)
    assert proc.returncode == 2
    assert "--at and --archive " in first_error_line(proc)
    proc = run_cli("restore", "--yes", "--at", "yesterday")
    assert proc.returncode == 2
    assert "--at must be an ISO 8601 time" in first_error_line(proc)
    assert table_digests(pg, app_db.name, BUSINESS_TABLES) == before


def test_restore_at_from_s3_lists_the_destination_paginated(pg, run_cli, three, s3, bucket, tmp_path, scratch_dbs):
    (first, _), (second, second_state), (third, _) = three
    target, url = new_target(pg, scratch_dbs)
    # The host is gone: only S3, whose latest.json names the third.
    env = {"CHECKNINER_BACKUP_DIR": str(tmp_path / "lost"), "CHECKNINER_RESTORE_TARGET_DATABASE_URL": url}
    result = restore_json(run_cli, "--at", at(third, -1), env=env)
    assert result["ok"] and result["archive"] == second and result["source"] == "s3"
    assert table_digests(pg, target, BUSINESS_TABLES) == second_state
    assert list_json(run_cli, "--remote", "--at", at(second)) == [(second, "s3")]  # the third may be 1 s later

    proc = run_cli("restore", "--check", "--at", at(first, -1), env=env)
    assert proc.returncode == 1
    line = first_error_line(proc)
    assert f"the oldest is {first} (from {at(first)}, in " in line and bucket in line, line

    # More than one page of older keys (1,000): the archive of that time is on the second page.
    client = s3.client()
    for i in range(1005):
        client.put_object(Bucket=bucket, Key=f"db/2000-01-01T{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}Z.tar.gz",
                          Body=b"")  # fmt: skip
    assert restore_json(run_cli, "--check", "--at", at(third, -1), env=env)["archive"] == second


def test_verify_at_proves_each_copy_of_that_time(run_cli, three):
    _, (second, _), (third, _) = three
    proc = run_cli("verify", "--json", "--at", at(third, -1))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] and result["archive"] == second
    assert [(row["location"], row["archive"]) for row in result["locations"]] == [("local", second), ("s3", second)]
