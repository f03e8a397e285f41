"""Every scheduled job reports (issue 13): the restore drill and prune ping their own heartbeat URL, write their
series into the metrics file, and `status` shows them."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families
from support.heartbeat import closed_port_url


def results(path, family):
    for f in text_string_to_metric_families(path.read_text()):
        if f.name == f"checkniner_backup_{family}":
            return {s.labels["result"]: s.value for s in f.samples}
    return None


def status(run_cli, env=None):
    return json.loads(run_cli("status", "--json", env=env).stdout)


def test_the_drill_pings_its_url_records_its_outcome_and_keeps_the_run_metrics(run_cli, receiver, tmp_path):
    metrics = tmp_path / "checkniner.prom"
    env = {"CHECKNINER_VERIFY_HEALTHCHECK_URL": receiver.url, "CHECKNINER_BACKUP_METRICS_FILE": str(metrics)}
    assert run_cli("run", env=env).returncode == 0
    assert status(run_cli)["drill_stale"] is True and status(run_cli)["last_drill"] is None
    drill = run_cli("verify", "--json", env=env)
    assert drill.returncode == 0, drill.stderr
    name = json.loads(drill.stdout)["archive"]
    assert receiver.calls[-1][0] == "/ping/0f4c-uuid" and receiver.calls[-1][2] == "passed"
    assert receiver.calls[-1][1].startswith(f"local: {name} restores")
    doc = status(run_cli)
    assert doc["drill_stale"] is False and doc["last_drill_success"] == doc["last_drill"]["at"]
    assert doc["last_drill"]["outcome"] == "passed" and doc["last_drill"]["archive"] == name
    assert doc["last_drill"]["locations"][0]["ok"] is True
    assert results(metrics, "drill_last_result") == {"passed": 1, "failed": 0}
    assert results(metrics, "last_run_result")["saved"] == 1  # the run's series survive the drill's rewrite

    failed = run_cli("verify", "--archive", "/nonexistent/2030-01-01T000000Z.tar.gz", env=env)
    assert failed.returncode == 2
    line = failed.stderr.splitlines()[0].split(" checkniner-backup verify: ", 1)[1]
    assert line.startswith("failed: no archive '/nonexistent/2030-01-01T000000Z.tar.gz'"), line
    assert receiver.calls[-1] == ("/ping/0f4c-uuid/fail", line, "failed")
    doc = status(run_cli)
    assert doc["last_drill"]["outcome"] == "failed" and doc["last_drill"]["error"] == line.removeprefix("failed: ")
    assert doc["drill_stale"] is False  # the last pass is recent
    assert results(metrics, "drill_last_result") == {"passed": 0, "failed": 1}


def test_the_drill_reports_where_there_is_no_backup_directory(run_cli, receiver, tmp_path):
    assert run_cli("run").returncode == 0
    metrics = tmp_path / "restore-host.prom"
    env = {
        "CHECKNINER_BACKUP_DIR": None,
        "CHECKNINER_VERIFY_HEALTHCHECK_URL": receiver.url,
        "CHECKNINER_BACKUP_METRICS_FILE": str(metrics),
    }
    drill = run_cli("verify", env=env)
    assert drill.returncode == 0, drill.stderr
    assert [c[0] for c in receiver.calls] == ["/ping/0f4c-uuid"]
    assert results(metrics, "drill_last_result") == {"passed": 1, "failed": 0}
    assert results(metrics, "last_run_result") is None  # nothing else is known here


def test_prune_pings_its_url_and_reports_a_failed_destination(run_cli, receiver, tmp_path):
    metrics = tmp_path / "checkniner.prom"
    env = {"CHECKNINER_PRUNE_HEALTHCHECK_URL": receiver.url, "CHECKNINER_BACKUP_METRICS_FILE": str(metrics)}
    assert run_cli("run", env=env).returncode == 0
    pruned = run_cli("prune", env=env)
    assert pruned.returncode == 0, pruned.stderr
    assert receiver.calls[-1][0] == "/ping/0f4c-uuid" and receiver.calls[-1][2] == "pruned"
    assert receiver.calls[-1][1].startswith("local (") and "kept 1, deleted 0" in receiver.calls[-1][1]
    assert status(run_cli)["last_prune"]["outcome"] == "pruned"
    assert results(metrics, "prune_last_result") == {"pruned": 1, "failed": 0}

    down = run_cli("prune", env={**env, "S3_ENDPOINT_URL": closed_port_url()})
    assert down.returncode == 1
    path, body, outcome = receiver.calls[-1]
    assert path == "/ping/0f4c-uuid/fail" and outcome == "failed"
    assert body.startswith("failed: local (") and "s3 (" in body and "S3 unreachable" in body
    doc = status(run_cli)
    assert doc["last_prune"]["outcome"] == "failed" and doc["last_prune"]["error"].startswith("s3: S3 unreachable")
    assert doc["last_prune_success"] < doc["last_prune"]["at"]
    assert results(metrics, "prune_last_result") == {"pruned": 0, "failed": 1}
    assert results(metrics, "last_run_result")["saved"] == 1


# -- the drill proves the off-site copy ----------------------------------------------------------------------------


def test_a_damaged_object_in_the_bucket_fails_the_drill_though_the_local_copy_is_intact(
    run_cli, backup_env, s3, bucket, receiver, pg
):
    env = {"CHECKNINER_VERIFY_HEALTHCHECK_URL": receiver.url}
    assert run_cli("run").returncode == 0
    good = run_cli("verify", "--json", env=env)
    assert good.returncode == 0, good.stderr
    doc = json.loads(good.stdout)
    name = doc["archive"]
    assert [(r["location"], r["archive"], r["ok"]) for r in doc["locations"]] == [
        ("local", name, True),
        ("s3", name, True),
    ]
    assert doc["locations"][1]["proven_with"] == "local"  # the same bytes: not restored twice
    assert doc["message"].startswith(f"local: {name} restores: ") and "; s3: " in doc["message"]

    client = s3.client()
    key = f"db/{name}"
    head = client.head_object(Bucket=bucket, Key=key)
    body = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0xFF  # bit rot in the bucket; its metadata still claims the original checksum
    client.put_object(Bucket=bucket, Key=key, Body=bytes(body), Metadata=head["Metadata"])

    bad = run_cli("verify", "--json", env=env)
    assert bad.returncode == 1, bad.stderr
    doc = json.loads(bad.stdout)
    assert doc["ok"] is False
    local, remote = doc["locations"]
    assert local["ok"] is True and local["proven_with"] is None  # the local copy was restored and proven
    assert remote["ok"] is False and remote["archive"] is None  # refused before it counted as fetched
    expected = f"{name} from s3://{bucket}/db/ at {s3.endpoint_url} does not match its recorded sha256"
    assert remote["message"].startswith(expected), remote["message"]
    assert doc["message"] == f"the drill FAILED for s3: s3: {remote['message']}; passed: local"
    assert receiver.calls[-1] == ("/ping/0f4c-uuid/fail", doc["message"], "failed")
    assert status(run_cli)["last_drill"]["locations"][1]["ok"] is False
    assert pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'cnb\\_verify\\_%';").strip() == "0"

    only_local = run_cli("verify", "--from", "local", env=env)
    assert only_local.returncode == 0, only_local.stderr
    only_s3 = run_cli("verify", "--from", "s3", env=env)
    assert only_s3.returncode == 1
    assert f"failed: {expected}" in only_s3.stderr.splitlines()[0]
    assert receiver.calls[-1][0] == "/ping/0f4c-uuid/fail"
