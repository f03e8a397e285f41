"""monitoring/ against the real promtool (issue 21): the alert rules load and pass their unit tests, and the metrics
file of real runs, a drill and a prune (real PostgreSQL, moto) passes `promtool check metrics` and counts them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "monitoring" / "checkniner-backup.rules.yml"
RULE_TESTS = ROOT / "monitoring" / "tests" / "checkniner-backup.rules.test.yml"


@pytest.fixture(scope="module")
def promtool():
    path = shutil.which("promtool")
    assert path, "promtool is not installed: run `make sysdeps` (scripts/install-sysdeps.sh installs it)"
    return path


def promtool_run(promtool, *args, stdin=None):
    proc = subprocess.run([promtool, *args], input=stdin, capture_output=True, text=True, timeout=120, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def samples(path):
    """{(sample name, ((label, value), ...) without the database label): value} of a metrics file."""
    return {
        (s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "database"))): s.value
        for f in text_string_to_metric_families(Path(path).read_text())
        for s in f.samples
    }


def test_the_rules_load(promtool):
    code, out = promtool_run(promtool, "check", "rules", str(RULES))
    assert code == 0, out
    assert "SUCCESS: 8 rules found" in out, out


def test_the_rule_unit_tests_pass(promtool):
    code, out = promtool_run(promtool, "test", "rules", str(RULE_TESTS))
    assert code == 0, out


def test_every_dashboard_query_is_valid_promql(promtool, tmp_path):
    """Grafana would show a broken query as an empty panel: each target goes through promtool's parser, as a recording
    rule with the dashboard's variables filled in."""
    doc = json.loads((ROOT / "monitoring" / "checkniner-backup.dashboard.json").read_text())
    exprs = [target["expr"] for panel in doc["panels"] for target in panel.get("targets", [])]
    assert len(exprs) > 10
    rules = [{"record": f"dashboard:query{i}", "expr": e.replace("$instance", ".*").replace("$database", ".*")}
             for i, e in enumerate(exprs)]  # fmt: skip
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))  # JSON is YAML
    code, out = promtool_run(promtool, "check", "rules", str(path))
    assert code == 0 and f"SUCCESS: {len(exprs)} rules found" in out, out


def test_a_rule_test_that_expects_the_wrong_alert_fails(promtool, tmp_path):
    """The rule tests can fail: the same tests against rules whose threshold is off by an hour do."""
    rules = tmp_path / RULES.name
    rules.write_text(RULES.read_text().replace("> 3600", "> 7200", 1))
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / RULE_TESTS.name).write_text(RULE_TESTS.read_text())
    code, out = promtool_run(promtool, "test", "rules", str(tests / RULE_TESTS.name))
    assert code != 0 and "CheckninerBackupNoRecentSuccess" in out, out


def test_real_jobs_write_a_metrics_file_promtool_accepts_and_count_them(run_cli, promtool, tmp_path):
    metrics = tmp_path / "checkniner_backup.prom"
    env = {"CHECKNINER_BACKUP_METRICS_FILE": str(metrics)}
    for args in (("run",), ("run",), ("verify",), ("prune",)):
        done = run_cli(*args, env=env)
        assert done.returncode == 0, done.stderr
    code, out = promtool_run(promtool, "check", "metrics", stdin=metrics.read_text())
    assert code == 0, out
    got = samples(metrics)
    from checkniner_backup import __version__

    assert got[("checkniner_backup_build_info", (("version", __version__),))] == 1
    assert got[("checkniner_backup_runs_total", (("result", "saved"),))] == 1
    assert got[("checkniner_backup_runs_total", (("result", "unchanged"),))] == 1
    assert got[("checkniner_backup_runs_total", (("result", "failed"),))] == 0
    assert got[("checkniner_backup_archives_saved_total", ())] == 1
    assert got[("checkniner_backup_uploads_total", ())] == 1
    assert got[("checkniner_backup_upload_failures_total", ())] == 0
    assert got[("checkniner_backup_drills_total", (("result", "passed"),))] == 1
    assert got[("checkniner_backup_prunes_total", (("result", "pruned"),))] == 1
    assert got[("checkniner_backup_pruned_archives_total", ())] == 0
    assert got[("checkniner_backup_unauthenticated_objects", (("destination", "s3"),))] == 0  # prune set none


def test_an_upload_that_fails_is_counted_and_the_archive_pending(run_cli, promtool, tmp_path):
    metrics = tmp_path / "checkniner_backup.prom"
    env = {"CHECKNINER_BACKUP_METRICS_FILE": str(metrics), "S3_BUCKET_NAME": "no-such-bucket"}
    done = run_cli("run", env=env)
    assert done.returncode == 1, done.stderr
    code, out = promtool_run(promtool, "check", "metrics", stdin=metrics.read_text())
    assert code == 0, out
    got = samples(metrics)
    assert got[("checkniner_backup_runs_total", (("result", "saved"),))] == 1  # saved here, waiting in the outbox
    assert got[("checkniner_backup_upload_failures_total", ())] == 1
    assert got[("checkniner_backup_uploads_total", ())] == 0
    assert got[("checkniner_backup_pending_uploads", ())] == 1


PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: checkniner_backup
        tasks_from: prometheus
      vars:
        checkniner_backup_prometheus_rules_dir: {rules_dir}
"""


def play(tmp_path, rules_dir, *flags):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY.format(rules_dir=json.dumps(str(rules_dir))))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_LOCALHOST_WARNING": "false"}
    argv = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", str(playbook), *flags]
    argv += ["-e", f"ansible_python_interpreter={sys.executable}"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    recap = re.search(r"localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", proc.stdout)
    return proc, recap and {"changed": int(recap.group(2)), "failed": int(recap.group(3))}


def test_the_role_installs_the_rules_where_asked_once(tmp_path):
    rules_dir = tmp_path / "rules.d"
    rules_dir.mkdir()
    proc, recap = play(tmp_path, rules_dir, "--check")
    assert recap == {"changed": 1, "failed": 0}, proc.stdout
    assert list(rules_dir.iterdir()) == []  # check mode touched nothing
    proc, recap = play(tmp_path, rules_dir)
    assert recap == {"changed": 1, "failed": 0}, proc.stdout
    installed = rules_dir / RULES.name
    assert installed.read_bytes() == RULES.read_bytes() and installed.stat().st_mode & 0o777 == 0o644
    proc, recap = play(tmp_path, rules_dir)
    assert recap == {"changed": 0, "failed": 0}, proc.stdout


def test_the_role_refuses_a_rules_directory_that_does_not_exist(tmp_path):
    proc, recap = play(tmp_path, tmp_path / "no-such-dir")
    assert recap and recap["failed"] == 1, proc.stdout
    assert "is not a directory on this host: give the directory the Prometheus server loads" in proc.stdout
    assert not (tmp_path / "no-such-dir").exists()
