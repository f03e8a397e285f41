"""The restore's one body (command.restore_into) with a mode strategy: what every mode shares, in its order. The
target database's admin calls are recorded, not made; the mode is a recording fake."""

from types import SimpleNamespace

import pytest

from checkniner_backup.errors import BackupError
from checkniner_backup.restore import command
from checkniner_backup.restore.job import RestoreJob
from checkniner_backup.restore.result import RestoreResult


class RecordingMode:
    def __init__(self, calls, matches=False, fail_write=False):
        self.calls, self.matches, self.fail_write = calls, matches, fail_write

    def prepare(self, job):
        self.calls.append("prepare")

    def require_target(self, job):
        self.calls.append("require_target")

    def already_matches(self, job):
        self.calls.append("already_matches")
        return self.matches

    def would(self, job):
        self.calls.append("would")
        return "would restore"

    def write(self, job):
        self.calls.append("write")
        if self.fail_write:
            raise BackupError("the replay failed")

    def prove(self, job):
        self.calls.append("prove")
        job.result.ok = True


@pytest.fixture
def calls(monkeypatch):
    calls = []
    monkeypatch.setattr(command, "database_exists", lambda target: calls.append("exists?") or target.exists)
    monkeypatch.setattr(command, "is_migrated", lambda target: (True, True))
    monkeypatch.setattr(command, "create_database", lambda target: calls.append("create"))
    monkeypatch.setattr(command, "drop_database", lambda target: calls.append("drop"))
    monkeypatch.setattr(command, "save_safety", lambda config, result: calls.append("safety"))
    return calls


def job(exists, live=False, check=False):
    target = SimpleNamespace(exists=exists, describe=lambda: "database 't'", name="t")
    fetched = SimpleNamespace(name="a.tar.gz")
    return RestoreJob(None, fetched, target, "/work", SimpleNamespace(check=check), live, None, RestoreResult())


def test_over_the_live_database_the_safety_archive_comes_before_the_write(calls):
    restoring = job(exists=True, live=True)
    command.restore_into(restoring, RecordingMode(calls))
    assert calls == ["prepare", "exists?", "require_target", "already_matches", "safety", "write", "prove"]
    assert restoring.result.ok and not restoring.result.created_database


def test_a_new_target_is_created_after_the_checks_and_dropped_when_the_write_fails(calls):
    restoring = job(exists=False)
    with pytest.raises(BackupError, match="the replay failed"):
        command.restore_into(restoring, RecordingMode(calls, fail_write=True))
    assert calls == ["prepare", "exists?", "require_target", "already_matches", "create", "write", "drop"]


def test_an_existing_target_is_never_dropped(calls):
    with pytest.raises(BackupError):
        command.restore_into(job(exists=True), RecordingMode(calls, fail_write=True))
    assert "drop" not in calls and "create" not in calls


def test_check_mode_and_already_matching_write_nothing(calls):
    checking = job(exists=True, live=True, check=True)
    command.restore_into(checking, RecordingMode(calls))
    assert calls[-1] == "would" and not {"safety", "create", "write"} & set(calls)
    assert (checking.result.ok, checking.result.changed, checking.result.message) == (True, True, "would restore")
    calls.clear()
    matching = job(exists=True, live=True)
    command.restore_into(matching, RecordingMode(calls, matches=True))
    assert calls[-1] == "already_matches"
    assert (matching.result.ok, matching.result.changed) == (True, False)
    assert matching.result.message == "database 't' already matches a.tar.gz"
