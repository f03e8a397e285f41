"""One metrics file for the three scheduled jobs, rendered from state.json; drill staleness in `status`."""

import datetime as dt
import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from checkniner_backup import config, listing, metrics
from checkniner_backup.backup.result import RunResult
from checkniner_backup.local import BackupDir
from checkniner_backup.state import State

NOW = dt.datetime.now(dt.timezone.utc)


def ago(**delta):
    return (NOW - dt.timedelta(**delta)).isoformat()


def families(text):
    return {
        f.name: {tuple(sorted(s.labels.items())): s.value for s in f.samples}
        for f in text_string_to_metric_families(text)
    }


def test_every_job_has_its_series_and_a_run_keeps_the_others():
    state = State(None)
    state.record_run(RunResult("unchanged", reason="precheck", duration=0.5))
    state.record_job("drill", {"outcome": "failed", "archive": "a", "error": "boom", "locations": []}, ok=False)
    state.record_job("prune", {"outcome": "pruned", "deleted": 2, "error": None}, ok=True)
    text = metrics.metrics_text(state, {"database": "app"}, RunResult("failed", error="disk", duration=1.25))
    got = families(text)
    db = (("database", "app"),)
    assert got["checkniner_backup_last_run_result"][db + (("result", "failed"),)] == 1
    assert got["checkniner_backup_run_duration_seconds"][db] == 1.25
    assert got["checkniner_backup_drill_last_result"] == {
        db + (("result", "failed"),): 1,
        db + (("result", "passed"),): 0,
    }
    assert "checkniner_backup_drill_last_success_timestamp_seconds" not in got  # never passed
    assert got["checkniner_backup_prune_last_result"][db + (("result", "pruned"),)] == 1
    assert got["checkniner_backup_prune_last_success_timestamp_seconds"][db] > 1.7e9
    # the drill rewriting the file (no run result at hand) keeps the run's series from state.json
    again = families(metrics.metrics_text(state, {"database": "app"}))
    assert again["checkniner_backup_last_run_result"][db + (("result", "unchanged"),)] == 1


def test_the_objects_a_prune_left_unauthenticated_are_a_series():
    state = State(None)
    record = {"outcome": "pruned", "deleted": 0, "error": None, "unauthenticated": {"local": 0, "s3": 3}}
    state.record_job("prune", record, ok=True)
    got = families(metrics.metrics_text(state, {"database": "app"}))
    series = got["checkniner_backup_unauthenticated_objects"]
    assert series[(("database", "app"), ("destination", "s3"))] == 3
    assert series[(("database", "app"), ("destination", "local"))] == 0


@pytest.mark.parametrize(
    "doc, stale",
    [
        ({}, True),
        ({"last_drill_success": ago(hours=30)}, False),
        ({"last_drill_success": ago(days=2, minutes=1)}, True),
    ],
)
def test_status_flags_the_drill_stale_after_two_days_without_a_pass(tmp_path, doc, stale):
    record = {"at": ago(hours=1), "outcome": "failed", "archive": "x.tar.gz", "error": "s3: damaged", "locations": []}
    (tmp_path / "state.json").write_text(json.dumps({**doc, "last_drill": record}))
    status = listing.status(config.load({"CHECKNINER_BACKUP_DIR": str(tmp_path)}, require_database=False)).as_dict()
    assert status["drill_stale"] is stale
    assert status["last_drill"]["outcome"] == "failed" and status["last_drill"]["archive"] == "x.tar.gz"
    assert status["last_drill_success"] == doc.get("last_drill_success")
    assert State.load(BackupDir(tmp_path, create=False)).warnings == []
