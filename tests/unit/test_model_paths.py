"""Which path wrote each model: recorded in the manifest (checked as it is read back, older manifests give none),
named by the run's line and kept in state.json for `status` until the next dump."""

import pytest

from checkniner_backup.backup.result import RunResult
from checkniner_backup.local import BackupDir
from checkniner_backup.manifest import Manifest, model_paths, serializer_models
from checkniner_backup.state import State, problem_of

SLOW = "created is a Stamp that overrides value_to_string"
PATHS = {
    "auth.user": {"path": "fast"},
    "checkouts.checkout": {"path": "serializer", "reason": SLOW},
    "checkouts.pilotweight": {"path": "serializer", "reason": "a row's data holds a value PostgreSQL writes otherwise"},
}


def test_the_helpers_documents_merge_in_model_order():
    by_app = [{"checkouts.checkout": PATHS["checkouts.checkout"]}, {"auth.user": {"path": "fast"}}]
    assert list(model_paths(*by_app)) == ["auth.user", "checkouts.checkout"]
    assert serializer_models(model_paths(*by_app)) == {"checkouts.checkout": SLOW}


@pytest.mark.parametrize(
    "recorded, expected",
    [
        (None, {}),  # an archive written before the paths were recorded
        ([], {}),
        ({"a.b": "fast"}, {}),
        ({"a.b": {"path": "elsewhere"}}, {}),
        ({"a.b": {"path": "serializer"}}, {"a.b": {"path": "serializer", "reason": "unknown"}}),
        ({"a.b": {"path": "serializer", "reason": "one\ntwo"}}, {"a.b": {"path": "serializer", "reason": "one"}}),
        ({"a.b": {"path": "fast", "reason": "ignored"}}, {"a.b": {"path": "fast"}}),
    ],
)
def test_what_a_manifest_says_is_checked_as_it_is_read(recorded, expected):
    doc = {"format": "checkniner-backup", "database": "app", "members": {"app.sql": {}}}
    if recorded is not None:
        doc["models"] = recorded
    assert Manifest.check(doc, "a.tar.gz").model_paths == expected


def test_the_line_counts_the_models_through_djangos_serializer():
    line = RunResult("saved", name="x.tar.gz", size=10, models=PATHS).line()
    assert "; 2 model(s) through Django's serializer: checkouts.checkout, checkouts.pilotweight" in line
    many = {f"app.m{n}": {"path": "serializer", "reason": "r"} for n in range(5)}
    assert (
        "; 5 model(s) through Django's serializer: app.m0, app.m1, app.m2, ..."
        in RunResult("unchanged", reason="fingerprint", models=many).line()
    )
    assert "serializer" not in RunResult("saved", name="x.tar.gz", models={"auth.user": {"path": "fast"}}).line()
    assert RunResult("saved", models=PATHS).as_dict()["models"] == PATHS


def test_status_keeps_the_last_dumps_serializer_models_until_the_next_dump(tmp_path):
    state = State(BackupDir(str(tmp_path)))
    assert state.serializer_models == ({}, None)
    state.record_run(RunResult("saved", name="x.tar.gz", models=PATHS))
    slow, at = state.serializer_models
    assert slow == serializer_models(PATHS) and at
    state.record_run(RunResult("unchanged", reason="precheck"))  # no dump: nothing new to say
    assert state.serializer_models == (slow, at)
    state.record_run(RunResult("unchanged", reason="fingerprint", models={"auth.user": {"path": "fast"}}))
    assert state.serializer_models[0] == {}
    assert problem_of(state.doc) is None
    assert problem_of({"serializer_models": {"at": "now", "models": {}}}) == "of the wrong shape (serializer_models)"
    assert problem_of({"serializer_models": {"models": {"a.b": 1}}}) == "of the wrong shape (serializer_models)"
