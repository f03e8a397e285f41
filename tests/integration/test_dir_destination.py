"""The whole pipeline with a directory destination (a NAS, a second disk: DIR_<NAME>_PATH), as the only destination
and beside S3: run, unchanged run, restore from it, the drill, prune. Against the real PostgreSQL server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.django_project import manage

KEEP_NEWEST_ONLY = {f"CHECKNINER_KEEP_{tier}": "0" for tier in ("WITHIN", "HOURLY", "DAILY", "WEEKLY", "MONTHLY")}
NO_S3 = {"S3_BUCKET_NAME": None, "S3_ACCESS_KEY": None, "S3_SECRET_KEY": None, "S3_ENDPOINT_URL": None}


@pytest.fixture
def nas(tmp_path):
    path = tmp_path / "nas"
    path.mkdir()
    return path


def only_nas(nas):
    return {**NO_S3, "CHECKNINER_BACKUP_DESTINATIONS": "nas", "DIR_NAS_PATH": str(nas)}


def in_nas(nas):
    return sorted(p.name for p in nas.iterdir() if p.name.endswith(".tar.gz"))


def local(env):
    return sorted(p.name for p in Path(env["CHECKNINER_BACKUP_DIR"]).glob("*.tar.gz") if p.name != "latest.tar.gz")


def ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_a_directory_as_the_only_destination_runs_restores_drills_and_prunes(
    run_cli, backup_env, app_db, nas, tmp_path, pg
):
    env = only_nas(nas)
    first = ok(run_cli("run", env=env))
    (name,) = local(backup_env)
    assert f"uploaded {name}" in first.stdout, first.stdout
    assert in_nas(nas) == [name]
    assert json.loads((nas / "latest.json").read_text())["name"] == name
    assert (nas / ".meta" / f"{name}.json").exists()
    status = json.loads(ok(run_cli("status", "--json", env=env)).stdout)
    assert status["pending_uploads"] == 0 and status["destinations"] == [f"directory {nas}"]

    # unchanged: nothing saved, nothing written to the directory
    again = ok(run_cli("run", env=env))
    assert "unchanged" in again.stdout and "uploaded" not in again.stdout, again.stdout
    manage(["mutate_business"], app_db.url)
    ok(run_cli("run", env=env))
    old, new = local(backup_env)
    assert in_nas(nas) == [old, new]
    remote = json.loads(ok(run_cli("list", "--remote", "--json", env=env)).stdout)["archives"]
    assert [(r["name"], r["location"], r["latest"], r["lock"]) for r in remote] == [
        (old, "nas", False, None),
        (new, "nas", True, None),
    ]
    assert "S3" not in ok(run_cli("list", "--remote", env=env)).stdout

    # a host that lost its directory finds the fingerprint through the directory's latest.json: no duplicate
    fresh = ok(run_cli("run", env={**env, "CHECKNINER_BACKUP_DIR": str(tmp_path / "fresh")}))
    assert "unchanged (fingerprint" in fresh.stdout, fresh.stdout

    # restore latest from the directory once the local copies are gone
    for archive in local(backup_env):
        Path(backup_env["CHECKNINER_BACKUP_DIR"], archive).unlink()
    target = f"{app_db.name}_from_nas"
    restore_env = {**env, "CHECKNINER_RESTORE_TARGET_DATABASE_URL": app_db.url.rsplit("/", 1)[0] + f"/{target}"}
    restored = ok(run_cli("restore", "--json", env=restore_env))
    doc = json.loads(restored.stdout)
    assert doc["ok"] is True and (doc["archive"], doc["source"]) == (new, "nas")
    pg.drop_database(target)

    # the drill of this destination by name, on a host whose archives are only there
    drill = ok(run_cli("verify", "--from", "nas", "--json", env={**env, "CHECKNINER_BACKUP_DIR": str(tmp_path / "d")}))
    result = json.loads(drill.stdout)
    assert result["ok"] is True
    assert [(r["location"], r["where"], r["archive"]) for r in result["locations"]] == [
        ("nas", f"directory {nas}", new)
    ]

    # prune the directory down to what latest.json names (the local directory has nothing left)
    pruned = ok(run_cli("prune", "--json", env={**env, **KEEP_NEWEST_ONLY}))
    (where,) = [loc for loc in json.loads(pruned.stdout)["locations"] if loc["location"] == "nas"]
    assert (where["where"], where["delete"], where["deleted"]) == (f"directory {nas}", [old], 1)
    assert in_nas(nas) == [new] and not (nas / ".meta" / f"{old}.json").exists()


def test_a_directory_beside_s3_gets_every_archive_with_its_own_pointer(run_cli, backup_env, s3, bucket, nas):
    # every run probes its destinations (by default at most once an hour: tests/integration/test_idle.py)
    env = {"CHECKNINER_BACKUP_DESTINATIONS": "nas", "DIR_NAS_PATH": str(nas), "CHECKNINER_PROBE_INTERVAL": "0"}
    result = ok(run_cli("run", env=env))
    (name,) = local(backup_env)
    assert f"uploaded {name}->s3, {name}->nas" in result.stdout, result.stdout
    assert in_nas(nas) == [name] and json.loads((nas / "latest.json").read_text())["name"] == name
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(keys) == [f"db/{name}", "db/latest.json"]
    # an archive lost from the directory is noticed by the next quiet run and written again, in the directory's words
    (nas / name).unlink()
    lost = run_cli("run", env=env)
    assert lost.returncode == 1
    assert f"{name} was missing or damaged in directory {nas}: uploaded again" in lost.stderr, lost.stderr
    assert "S3_PREFIX" not in lost.stderr and in_nas(nas) == [name]


def test_an_unmounted_directory_fails_the_run_in_one_line_that_does_not_say_s3(run_cli, backup_env, nas):
    shutil.rmtree(nas)
    result = run_cli("run", env=only_nas(nas))
    assert result.returncode == 1
    first = result.stderr.strip().splitlines()[0]
    assert f"directory {nas} does not exist" in first and "S3" not in first, result.stderr
    assert not nas.exists()  # never created: a missing mount must not fill the mount point
    (name,) = local(backup_env)  # saved locally, waiting for the directory
    assert json.loads(run_cli("status", "--json", env=only_nas(nas)).stdout)["pending_uploads"] == 1
    nas.mkdir()
    ok(run_cli("run", env=only_nas(nas)))
    assert in_nas(nas) == [name]


def test_prune_remote_off_leaves_s3_to_the_pruner_but_prunes_the_directory(
    run_cli, backup_env, app_db, s3, bucket, nas
):
    """The host's S3 keys need no delete right (CHECKNINER_PRUNE_REMOTE=0); the directory it can delete from anyway,
    and no pruner elsewhere reaches it."""
    env = {"CHECKNINER_BACKUP_DESTINATIONS": "nas", "DIR_NAS_PATH": str(nas)}
    ok(run_cli("run", env=env))
    manage(["mutate_business"], app_db.url)
    ok(run_cli("run", env=env))
    old, new = local(backup_env)
    pruned = ok(run_cli("prune", "--json", env={**env, **KEEP_NEWEST_ONLY, "CHECKNINER_PRUNE_REMOTE": "0"}))
    by_location = {loc["location"]: loc for loc in json.loads(pruned.stdout)["locations"]}
    assert by_location["s3"].get("skipped") is True and by_location["s3"]["deleted"] == 0
    assert by_location["nas"]["delete"] == [old] and in_nas(nas) == [new]
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(keys) == [f"db/{old}", f"db/{new}", "db/latest.json"]  # S3 untouched
    # the directory alone, no local directory: still something to prune here
    alone = {**only_nas(nas), **KEEP_NEWEST_ONLY, "CHECKNINER_PRUNE_REMOTE": "0", "CHECKNINER_BACKUP_DIR": None}
    assert ok(run_cli("prune", env=alone)).stdout
