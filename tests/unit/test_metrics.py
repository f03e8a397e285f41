"""The metrics file (metrics.py): _total counters kept in state.json, build_info, the unauthenticated-objects gauge."""

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from checkniner_backup import __version__, metrics
from checkniner_backup.backup.result import RunResult
from checkniner_backup.local import BackupDir
from checkniner_backup.state import State

DB = (("database", "app"),)


def samples(text):
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def render(state, result=None, destinations=()):
    return samples(metrics.metrics_text(state, {"database": "app"}, result, destinations))


def test_an_older_state_file_without_counters_loads_and_counts_from_zero(tmp_path):
    old = {
        "last_run": {"at": "2030-01-01T00:00:00+00:00", "outcome": "saved"},
        "last_success": "2030-01-01T00:00:00+00:00",
    }
    (tmp_path / "state.json").write_text(json.dumps(old))
    state = State.load(BackupDir(tmp_path, create=False), set_aside=True)
    assert state.warnings == []
    got = render(state)
    assert got[("checkniner_backup_last_run_result", DB + (("result", "saved"),))] == 1  # the old record still shows
    assert got[("checkniner_backup_runs_total", DB + (("result", "saved"),))] == 0
    assert got[("checkniner_backup_drills_total", DB + (("result", "passed"),))] == 0
    state.record_run(RunResult("unchanged", reason="precheck"))
    state.record_run(RunResult("failed", error="disk", exit_code=1))
    state.record_run(RunResult("failed", error="disk", exit_code=1))
    state.save()
    got = render(State.load(BackupDir(tmp_path, create=False)))
    assert got[("checkniner_backup_runs_total", DB + (("result", "unchanged"),))] == 1
    assert got[("checkniner_backup_runs_total", DB + (("result", "failed"),))] == 2


def test_each_job_and_each_archive_is_counted(tmp_path):
    state = State(BackupDir(tmp_path))
    state.record_saved("a.tar.gz", "0" * 64, 10, "f", 1)
    state.record_run(RunResult("saved", name="a.tar.gz", uploaded=["s3", "nas"]))
    failed_upload = RunResult("unchanged", reason="precheck")
    failed_upload.stores_failed(OSError("bucket gone"))
    state.record_run(failed_upload)
    state.record_job("drill", {"outcome": "failed", "error": "x"}, ok=False)
    state.record_job("prune", {"outcome": "pruned", "deleted": 3}, ok=True)
    state.record_job("prune", {"outcome": "pruned", "deleted": 2}, ok=True)
    got = render(state)
    assert got[("checkniner_backup_archives_saved_total", DB)] == 1
    assert got[("checkniner_backup_uploads_total", DB)] == 2
    assert got[("checkniner_backup_upload_failures_total", DB)] == 1
    assert got[("checkniner_backup_runs_total", DB + (("result", "failed"),))] == 1  # the unchanged run failed
    assert got[("checkniner_backup_drills_total", DB + (("result", "failed"),))] == 1
    assert got[("checkniner_backup_drills_total", DB + (("result", "passed"),))] == 0
    assert got[("checkniner_backup_prunes_total", DB + (("result", "pruned"),))] == 2
    assert got[("checkniner_backup_pruned_archives_total", DB)] == 5


@pytest.mark.parametrize("counters", [{"runs": {"saved": -1}}, {"runs": "3"}, {"uploads": True}, []])
def test_a_state_file_with_malformed_counters_is_set_aside(tmp_path, counters):
    (tmp_path / "state.json").write_text(json.dumps({"counters": counters}))
    state = State.load(BackupDir(tmp_path, create=False), set_aside=True)
    assert "of the wrong shape (counters)" in state.warnings[0]
    assert state.counters == {}


def test_build_info_carries_the_version(tmp_path):
    got = render(State(BackupDir(tmp_path)))
    assert got[("checkniner_backup_build_info", DB + (("version", __version__),))] == 1


def test_unauthenticated_objects_are_zero_until_prune_counts_them(tmp_path):
    state = State(BackupDir(tmp_path))
    got = render(state, destinations=["s3", "nas"])
    assert got[("checkniner_backup_unauthenticated_objects", DB + (("destination", "s3"),))] == 0
    assert got[("checkniner_backup_unauthenticated_objects", DB + (("destination", "nas"),))] == 0
    state.record_unauthenticated("nas", 4)
    state.record_unauthenticated("old", 1)  # no longer configured: still shown until someone looks
    got = render(state, destinations=["s3", "nas"])
    assert got[("checkniner_backup_unauthenticated_objects", DB + (("destination", "nas"),))] == 4
    assert got[("checkniner_backup_unauthenticated_objects", DB + (("destination", "old"),))] == 1
    assert not any(name == "checkniner_backup_unauthenticated_objects" for name, _ in render(State(None)))


def test_a_run_that_failed_before_reading_its_state_still_says_when(tmp_path):
    got = render(None, RunResult("failed", error="no backup directory", exit_code=2, duration=0.1), ["s3"])
    assert got[("checkniner_backup_last_run_result", DB + (("result", "failed"),))] == 1
    assert got[("checkniner_backup_last_run_timestamp_seconds", DB)] > 1.7e9
    assert not any(name.endswith("_total") for name, _ in got)  # nothing to count from
    # nor to say of the destinations: a 0 would resolve an alert on objects prune found
    assert not any(name == "checkniner_backup_unauthenticated_objects" for name, _ in got)


def test_a_drill_without_a_backup_directory_counts_nothing():
    """A restore host remembers nothing between drills: a counter would restart at 1 each time."""
    state = State(None)
    state.record_job("drill", {"outcome": "passed"}, ok=True)
    got = render(state)
    assert got[("checkniner_backup_drill_last_result", DB + (("result", "passed"),))] == 1
    assert not any(name.endswith("_total") for name, _ in got)


def test_the_metrics_file_is_written_whole_and_readable(tmp_path):
    from checkniner_backup import config

    path = tmp_path / "checkniner_backup.prom"
    cfg = config.load(
        {"CHECKNINER_BACKUP_DIR": str(tmp_path), "CHECKNINER_BACKUP_METRICS_FILE": str(path)}, require_database=False
    )
    assert metrics.write_metrics(cfg, State(BackupDir(tmp_path)), RunResult("unchanged", reason="precheck")) == []
    assert path.stat().st_mode & 0o777 == 0o644
    assert ("checkniner_backup_runs_total", (("result", "saved"),)) in samples(path.read_text())
    assert list(tmp_path.glob("*.tmp*")) == []


def test_prune_reports_unauthenticated_objects_through_its_record(tmp_path):
    state = State(BackupDir(tmp_path))
    state.record_job("prune", {"outcome": "pruned", "deleted": 0, "unauthenticated": {"s3": 2, "nas": 0}}, ok=True)
    state.record_job("prune", {"outcome": "failed", "deleted": 0, "unauthenticated": {"nas": 1}}, ok=False)
    assert state.unauthenticated == {"s3": 2, "nas": 1}  # s3 not listed the second time: its count stands
    got = render(state, destinations=["s3", "nas"])
    assert got[("checkniner_backup_unauthenticated_objects", DB + (("destination", "s3"),))] == 2
    state.save()
    assert State.load(BackupDir(tmp_path, create=False)).warnings == []  # the shape check accepts what it wrote
