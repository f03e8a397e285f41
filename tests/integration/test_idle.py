"""The idle run is cheap: between probes it sends no request to a destination and never imports the S3 client, and
what the probe protects (a store that lost the newest archive is noticed) still holds, at most once per
CHECKNINER_PROBE_INTERVAL and on the run after any failure. Against the real PostgreSQL server and moto."""

import datetime as dt
import json
from pathlib import Path

from support.imports import imported

HEAVY = {"boto3", "botocore", "s3transfer"}


def _state_path(env):
    return Path(env["CHECKNINER_BACKUP_DIR"], "state.json")


def _archives(env):
    return sorted(p.name for p in Path(env["CHECKNINER_BACKUP_DIR"]).glob("*.tar.gz") if p.name != "latest.tar.gz")


def _run_measured(env, tmp_path):
    """`run` in a fresh interpreter under -X importtime: (the process, the top-level modules it imported)."""
    return imported(["run"], env, cwd=tmp_path)


def _probed_hours_ago(env, hours):
    path = _state_path(env)
    doc = json.loads(path.read_text())
    then = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=hours)
    doc["destinations"]["s3"]["probed"] = then.isoformat()
    path.write_text(json.dumps(doc))


def test_an_idle_run_never_imports_boto3(run_cli, backup_env, tmp_path):
    first = run_cli("run")
    assert first.returncode == 0 and "uploaded" in first.stdout, first.stdout + first.stderr
    assert json.loads(_state_path(backup_env).read_text())["destinations"]["s3"]["probed"]  # the upload answered
    assert "unchanged (" in run_cli("run").stdout  # settled: the precheck recorded
    proc, modules = _run_measured(backup_env, tmp_path)
    assert proc.returncode == 0 and "unchanged (precheck" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert "checkniner_backup" in modules and "psycopg2" in modules  # the measurement sees what the run imports
    assert not modules & HEAVY, sorted(modules & HEAVY)
    # once the interval has passed, the same idle run asks the store (and so imports boto3)
    _probed_hours_ago(backup_env, 2)
    proc, modules = _run_measured(backup_env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert "botocore" in modules


def test_a_lost_object_is_noticed_once_the_interval_has_passed(run_cli, backup_env, s3, bucket):
    assert run_cli("run").returncode == 0
    (name,) = _archives(backup_env)
    s3.client().delete_object(Bucket=bucket, Key=f"db/{name}")
    quiet = run_cli("run")  # within the hour: not asked
    assert quiet.returncode == 0 and "unchanged (" in quiet.stdout, quiet.stdout + quiet.stderr
    _probed_hours_ago(backup_env, 1.01)
    lost = run_cli("run")
    assert lost.returncode == 1, lost.stdout + lost.stderr
    assert f"{name} was missing or damaged in s3://{bucket}/db/" in lost.stderr
    s3.client().head_object(Bucket=bucket, Key=f"db/{name}")  # uploaded again by that run
    assert run_cli("run").returncode == 0


def test_the_run_after_a_failed_one_asks_every_destination(run_cli, backup_env, s3, bucket, pg):
    assert run_cli("run").returncode == 0
    (name,) = _archives(backup_env)
    s3.client().delete_object(Bucket=bucket, Key=f"db/{name}")
    down = run_cli("run", env={"DATABASE_URL": backup_env["DATABASE_URL"].replace(f":{pg.port}/", ":1/")})
    assert down.returncode == 1, down.stdout + down.stderr
    after = run_cli("run")  # the probe is within its hour, but the last run failed
    assert after.returncode == 1 and f"{name} was missing or damaged" in after.stderr, after.stdout + after.stderr
