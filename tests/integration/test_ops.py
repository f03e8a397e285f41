"""Heartbeats, metrics, JSON logs, staleness and a second destination (issue 5), against the real servers."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from support.django_project import manage
from support.heartbeat import closed_port_url


def test_heartbeats_saved_unchanged_and_failure(run_cli, receiver, app_db):
    env = {"CHECKNINER_BACKUP_HEALTHCHECK_URL": receiver.url}
    assert run_cli("run", env=env).returncode == 0
    assert run_cli("run", env=env).returncode == 0
    manage(["mutate_business"], app_db.url)
    failed = run_cli("run", env={**env, "S3_ENDPOINT_URL": closed_port_url()})
    assert failed.returncode == 1
    paths = [c[0] for c in receiver.calls]
    assert paths == ["/ping/0f4c-uuid", "/ping/0f4c-uuid", "/ping/0f4c-uuid/fail"]
    assert receiver.calls[0][1].startswith("saved ") and receiver.calls[0][2] == "saved"
    assert receiver.calls[1][1].startswith("unchanged (") and receiver.calls[1][2] == "unchanged"
    assert "S3 unreachable" in receiver.calls[2][1]


def test_receiver_down_does_not_fail_the_backup(run_cli, backup_env):
    result = run_cli("run", env={"CHECKNINER_BACKUP_HEALTHCHECK_URL": closed_port_url() + "/ping/secret-uuid"})
    assert result.returncode == 0
    assert "saved " in result.stdout
    assert "heartbeat to http://127.0.0.1" in result.stderr and "failed" in result.stderr
    assert "secret-uuid" not in result.stderr


def test_metrics_file_parses_and_reflects_last_run(run_cli, tmp_path, backup_env):
    metrics = tmp_path / "textfile" / "checkniner_backup.prom"
    metrics.parent.mkdir()
    env = {"CHECKNINER_BACKUP_METRICS_FILE": str(metrics)}
    assert run_cli("run", env=env).returncode == 0
    families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
    size = next(iter(families["checkniner_backup_last_archive_size_bytes"].samples)).value
    latest = Path(backup_env["CHECKNINER_BACKUP_DIR"], "latest.tar.gz")
    assert size == latest.stat().st_size
    results = {s.labels["result"]: s.value for s in families["checkniner_backup_last_run_result"].samples}
    assert results == {"saved": 1, "unchanged": 0, "failed": 0, "busy": 0}
    assert next(iter(families["checkniner_backup_pending_uploads"].samples)).value == 0
    for name in ("last_run_timestamp_seconds", "last_success_timestamp_seconds", "last_change_timestamp_seconds"):
        assert next(iter(families[f"checkniner_backup_{name}"].samples)).value > 1.7e9
    assert run_cli("run", env=env).returncode == 0
    families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
    results = {s.labels["result"]: s.value for s in families["checkniner_backup_last_run_result"].samples}
    assert results["unchanged"] == 1 and results["saved"] == 0
    assert oct(metrics.stat().st_mode & 0o777) == "0o644"


def test_status_flags_staleness_and_json_log_lines(run_cli):
    before = json.loads(run_cli("status", "--json").stdout)
    assert before["stale"] is True and before["seconds_since_success"] is None
    result = run_cli("run", env={"CHECKNINER_BACKUP_LOG_FORMAT": "json"})
    assert result.returncode == 0
    (line,) = result.stdout.splitlines()
    doc = json.loads(line)
    assert doc["command"] == "run" and doc["outcome"] == "saved" and doc["message"].startswith("saved ")
    after = json.loads(run_cli("status", "--json").stdout)
    assert after["stale"] is False and after["limit_seconds"] == 15 * 60


def test_bad_ops_settings_are_one_line_config_errors(run_cli):
    result = run_cli("run", env={"CHECKNINER_BACKUP_LOG_FORMAT": "xml"})
    assert result.returncode == 2
    assert "CHECKNINER_BACKUP_LOG_FORMAT must be one of text, json" in result.stderr.splitlines()[0]
    result = run_cli("run", env={"CHECKNINER_BACKUP_DESTINATIONS": "offsite"})
    assert result.returncode == 2
    assert "set S3_OFFSITE_BUCKET_NAME" in result.stderr.splitlines()[0]


def test_second_destination_down_then_caught_up(run_cli, s3, bucket, backup_env):
    offsite = s3.create_bucket(bucket + "-offsite")
    second = {
        "CHECKNINER_BACKUP_DESTINATIONS": "offsite",
        "S3_OFFSITE_BUCKET_NAME": offsite,
        "S3_OFFSITE_PREFIX": "replica/",
        "S3_OFFSITE_ACCESS_KEY": "offsite-key",
        "S3_OFFSITE_SECRET_KEY": "offsite-secret",
        "S3_OFFSITE_ENDPOINT_URL": closed_port_url(),
    }
    result = run_cli("run", env=second)
    assert result.returncode == 1
    assert "saved " in result.stderr and "S3 unreachable" in result.stderr
    name = json.loads(run_cli("list", "--json", env=second).stdout)["archives"][0]["name"]
    client = s3.client()
    primary_keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert primary_keys == [f"db/{name}", "db/latest.json"]  # the healthy destination was not blocked
    assert client.list_objects_v2(Bucket=offsite).get("KeyCount") == 0
    status = json.loads(run_cli("status", "--json", env=second).stdout)
    assert status["pending_uploads"] == 1

    second["S3_OFFSITE_ENDPOINT_URL"] = s3.endpoint_url
    again = run_cli("run", env=second)
    assert again.returncode == 0, again.stderr
    assert f"{name}->offsite" in again.stdout
    offsite_keys = [o["Key"] for o in client.list_objects_v2(Bucket=offsite).get("Contents", [])]
    assert offsite_keys == [f"replica/{name}", "replica/latest.json"]
    pointer = json.loads(client.get_object(Bucket=offsite, Key="replica/latest.json")["Body"].read())
    assert pointer["name"] == name
    assert json.loads(run_cli("status", "--json", env=second).stdout)["pending_uploads"] == 0
