"""monitoring/ names only what the engine writes (issue 21): every checkniner_backup_* series an alert rule or a
dashboard panel queries is one metrics.py renders, and README's table of metrics is the rendered list."""

import json
import re
from pathlib import Path

import pytest
import yaml

from checkniner_backup import metrics
from checkniner_backup.backup.result import RunResult
from checkniner_backup.local import BackupDir
from checkniner_backup.state import State

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
NAME = re.compile(r"\bcheckniner_backup_[a-z0-9_]+\b")


def rendered_names(tmp_path):
    """Every sample name metrics.py writes, from a state in which every job has run and prune counted objects."""
    state = State(BackupDir(tmp_path))
    state.record_saved("2030-01-01T000000Z.tar.gz", "0" * 64, 10, "f", 1)
    state.record_run(RunResult("saved", name="2030-01-01T000000Z.tar.gz", size=10, uploaded=["s3"]))
    state.record_job("drill", {"outcome": "passed", "archive": "a", "locations": []}, ok=True)
    state.record_job("prune", {"outcome": "pruned", "deleted": 1}, ok=True)
    state.record_unauthenticated("s3", 1)
    text = metrics.metrics_text(state, {"database": "app"}, destinations=["s3"])
    return {line.split("{", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}


def rule_expressions():
    doc = yaml.safe_load((MONITORING / "checkniner-backup.rules.yml").read_text())
    return [rule["expr"] for group in doc["groups"] for rule in group["rules"]]


def dashboard_expressions():
    doc = json.loads((MONITORING / "checkniner-backup.dashboard.json").read_text())
    found = [target["expr"] for panel in doc["panels"] for target in panel.get("targets", [])]
    for variable in doc["templating"]["list"]:
        query = variable.get("query")
        found += [query["query"]] if isinstance(query, dict) else []
    return found


@pytest.mark.parametrize("where, expressions", [("rules", rule_expressions), ("dashboard", dashboard_expressions)])
def test_every_series_monitoring_queries_is_one_the_engine_writes(tmp_path, where, expressions):
    exprs = expressions()
    assert exprs, f"no expressions found in the {where}"
    named = {name for expr in exprs for name in NAME.findall(expr)}
    unknown = sorted(named - rendered_names(tmp_path))
    assert not unknown, f"the {where} query {unknown}, which metrics.py does not write"


def test_the_name_check_catches_a_series_the_engine_does_not_write(tmp_path):
    assert NAME.findall("time() - checkniner_backup_last_sucess_timestamp_seconds > 3600") == [
        "checkniner_backup_last_sucess_timestamp_seconds"
    ]
    assert "checkniner_backup_last_sucess_timestamp_seconds" not in rendered_names(tmp_path)


def test_the_dashboard_shows_every_alerted_series(tmp_path):
    """What pages someone is on the dashboard too, so whoever is paged sees its history."""
    alerted = {name for expr in rule_expressions() for name in NAME.findall(expr)}
    shown = {name for expr in dashboard_expressions() for name in NAME.findall(expr)}
    assert alerted <= shown, f"alerted but not on the dashboard: {sorted(alerted - shown)}"


def test_readme_lists_exactly_the_series_the_engine_writes(tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n### Metrics\n", 1)[1].split("\n### ", 1)[0]
    listed = {m.group(1) for m in re.finditer(r"^\| `(checkniner_backup_[a-z0-9_]+)", section, re.MULTILINE)}
    assert listed == rendered_names(tmp_path)


def test_the_roles_rules_file_is_the_one_in_monitoring():
    """The role installs monitoring/'s file itself, from the source tree it builds the engine from."""
    tasks = (ROOT / "roles" / "checkniner_backup" / "tasks" / "prometheus.yml").read_text()
    assert "{{ checkniner_backup_source_dir }}/monitoring/checkniner-backup.rules.yml" in tasks
