"""state.json: a malformed file is set aside under the lock and read as empty elsewhere; older files keep working."""

import json

import pytest

from checkniner_backup.local import BackupDir
from checkniner_backup.state import State, problem_of

GOOD = {
    "archives": {"2026-01-01T000000Z.tar.gz": {"sha256": "a" * 64, "size": 10, "fingerprint": "f"}},
    "last": {"name": "2026-01-01T000000Z.tar.gz", "fingerprint": "f", "sha256": "a" * 64, "size": 10},
    "last_run": {"at": "2026-01-01T00:00:00+00:00", "outcome": "saved", "reason": "", "error": None},
    "last_success": "2026-01-01T00:00:00+00:00",
    "precheck": {"fingerprint": "f", "identity": "x", "xmax": 5},
    "digests": {},
}


@pytest.mark.parametrize(
    "doc, problem",
    [
        (GOOD, None),
        ({}, None),
        ([], "not a JSON object"),
        ({"last_run": "yesterday"}, "of the wrong shape (last_run)"),
        ({"last_success": 5}, "of the wrong shape (last_success)"),
        ({"last_success": "not a time"}, "of the wrong shape (last_success)"),
        ({"archives": ["a"]}, "of the wrong shape (archives)"),
        ({"archives": {"a": {"size": "big"}}}, "of the wrong shape (archives)"),
        ({"destinations": {"s3": {"reconciled": 1}}}, "of the wrong shape (destinations)"),
        ({"digests": {"fingerprint": "f", "identity": "x"}}, "of the wrong shape (digests)"),
        ({"digests": {"fingerprint": "f", "tables": [], "migrations": None}}, "of the wrong shape (digests)"),
        ({"statistics": {"skipped": "many"}}, "of the wrong shape (statistics)"),
        ({"statistics": []}, "of the wrong shape (statistics)"),
        (
            {"destinations": {"s3": {"reconciled": "2026-01-01T00:00:00+00:00", "probed": "soon"}}},
            "of the wrong shape (destinations)",
        ),
        ({"statistics": {"fingerprint": "f", "skipped": 3, "why": "x", "epoch": {}, "tables": {}}}, None),
    ],
)
def test_problem_of(doc, problem):
    assert problem_of(doc) == problem


@pytest.mark.parametrize("text, problem", [("{not json", "not valid JSON"), ('{"last": []}', "wrong shape (last)")])
def test_malformed_file_is_set_aside_under_the_lock(tmp_path, text, problem):
    (tmp_path / "state.json").write_text(text)
    bdir = BackupDir(tmp_path, create=False)
    read = State.load(bdir)
    assert read.doc == {} and problem in read.warnings[0] and "the next run sets it aside" in read.warnings[0]
    assert (tmp_path / "state.json").read_text() == text  # a reader does not touch it

    state = State.load(bdir, set_aside=True)
    assert state.doc == {}
    (bad,) = tmp_path.glob("state.json.bad-*")
    assert bad.read_text() == text  # kept for a person to look at
    assert not (tmp_path / "state.json").exists()
    (warning,) = state.warnings
    assert problem in warning and f"set aside as {bad.name}" in warning
    state.save()
    assert State.load(bdir).warnings == []


def test_reconciliation_is_remembered_per_configured_destination(tmp_path):
    bdir = BackupDir(tmp_path, create=False)
    (tmp_path / "state.json").write_text(json.dumps(GOOD))  # written before destinations were reconciled
    state = State.load(bdir)
    assert not state.reconciled("s3")
    state.record_reconciled("s3")
    state.record_reconciled("offsite")
    state.save()
    state = State.load(bdir)
    assert state.reconciled("s3") and state.reconciled("offsite") and not state.reconciled("other")
    state.forget_destinations(["s3"])  # offsite is no longer configured: reconciled again if it comes back
    assert state.reconciled("s3") and not state.reconciled("offsite")
    assert state.archive("2026-01-01T000000Z.tar.gz")["sha256"] == "a" * 64
