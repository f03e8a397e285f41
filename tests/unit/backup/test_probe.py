"""The quiet-site probe (backup/reconcile.probe) against a real directory destination: at most once per
CHECKNINER_PROBE_INTERVAL, and on every run after a failure, so that a store that lost the newest archive is still
noticed at a cost that fits a five-minute schedule."""

import datetime as dt
import hashlib
import os

import pytest

from checkniner_backup import config
from checkniner_backup.backup import reconcile
from checkniner_backup.local import BackupDir
from checkniner_backup.state import State

NAME = "2026-11-23T214052Z.tar.gz"


@pytest.fixture
def setup(tmp_path):
    """A directory with one archive, a directory destination that holds nothing, reconciled and probed just now."""
    nas = tmp_path / "nas"
    nas.mkdir()

    def make(interval="1h"):
        env = {"CHECKNINER_BACKUP_DIR": str(tmp_path / "backups"), "CHECKNINER_BACKUP_DESTINATIONS": "nas",
               "DIR_NAS_PATH": str(nas), "CHECKNINER_PROBE_INTERVAL": interval}  # fmt: skip
        cfg = config.load(env, require_database=False)
        bdir = BackupDir(cfg.backup_dir)
        data = b"archive bytes"
        with open(bdir.join(NAME), "wb") as out:
            out.write(data)
        state = State(bdir)
        state.record_saved(NAME, hashlib.sha256(data).hexdigest(), len(data), "f", sequence=1)
        state.record_reconciled("nas")
        state.record_probe("nas", ok=True)
        return cfg, bdir, state

    return make


def _age(state, minutes):
    then = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes)
    state.doc["destinations"]["nas"]["probed"] = then.isoformat()


def test_within_the_interval_nothing_is_asked(setup):
    cfg, bdir, state = setup()
    _age(state, 59)
    assert reconcile.probe(cfg, bdir, state) == ({}, {})
    assert bdir.pending("nas") == []  # the loss is not seen yet: that is the interval's price


def test_after_the_interval_the_lost_archive_is_found_and_queued(setup):
    cfg, bdir, state = setup()
    _age(state, 61)
    errors, lost = reconcile.probe(cfg, bdir, state)
    assert errors == {} and lost == {"nas": (NAME, 1)}
    assert bdir.pending("nas") == [NAME]


def test_a_failed_run_makes_the_next_one_ask(setup):
    cfg, bdir, state = setup()
    state.doc["last_run"] = {"at": dt.datetime.now(dt.timezone.utc).isoformat(), "outcome": "failed"}
    assert reconcile.probe(cfg, bdir, state)[1] == {"nas": (NAME, 1)}


def test_a_failed_probe_is_asked_again_every_run_until_it_answers(setup, tmp_path):
    cfg, bdir, state = setup()
    _age(state, 61)
    os.rename(tmp_path / "nas", tmp_path / "unmounted")
    errors, _ = reconcile.probe(cfg, bdir, state)
    assert list(errors) == ["nas"] and state.probed("nas") is None
    os.rename(tmp_path / "unmounted", tmp_path / "nas")
    assert reconcile.probe(cfg, bdir, state)[1] == {"nas": (NAME, 1)}
    assert state.probed("nas") is not None


def test_interval_zero_asks_every_run(setup):
    cfg, bdir, state = setup("0")
    assert reconcile.probe(cfg, bdir, state)[1] == {"nas": (NAME, 1)}


@pytest.mark.parametrize("minutes, due", [(-5, True), (0, False), (59, False), (60, True)])
def test_probe_due(setup, minutes, due):
    cfg, _bdir, state = setup()
    now = dt.datetime.fromisoformat(state.probed("nas")) + dt.timedelta(minutes=minutes)
    assert reconcile.probe_due(cfg, state, "nas", now) is due


def test_a_bad_interval_is_one_line_naming_the_variable(tmp_path):
    with pytest.raises(config.ConfigError, match="^CHECKNINER_PROBE_INTERVAL must be a duration like 24h"):
        config.load({"CHECKNINER_PROBE_INTERVAL": "hourly"}, require_database=False)
