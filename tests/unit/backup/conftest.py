"""A snapshot's member files and its Capture, without PostgreSQL or Django: what the backup flow's phases read."""

import datetime as dt
import hashlib

import pytest

from checkniner_backup import config
from checkniner_backup.archive_writer import Capture
from checkniner_backup.pg import Preflight
from checkniner_backup.snapshot import Snapshot

TAKEN_AT = dt.datetime(2026, 11, 23, 21, 40, 52, tzinfo=dt.timezone.utc)
INFO = {"database": "checkniner", "server_version": "15.8", "server_version_num": 150008}


def _member(path, data):
    path.write_bytes(data)
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


class FakeStore:
    """The one thing the backup flow asks of a destination here: its latest.json pointer."""

    def __init__(self, pointer=None):
        self.pointer = pointer

    def read_pointer(self):
        return self.pointer


@pytest.fixture
def cfg(tmp_path):
    return config.load({"CHECKNINER_BACKUP_DIR": str(tmp_path / "backups")}, require_database=False)


@pytest.fixture
def capture(cfg, tmp_path):
    """A complete snapshot of database checkniner: its SQL and the auth and checkouts fixtures, in a work directory."""
    work = tmp_path / "work"
    work.mkdir()
    snap = Snapshot(sql=_member(work / "checkniner.sql", b"-- the dump\n"), complete=True)
    for label in ("auth", "checkouts"):
        fixture = _member(work / f"{label}.json", f'[{{"model": "{label}.x"}}]'.encode())
        snap.fixtures[label] = {**fixture, "objects": 1, "business": True}
    return Capture(cfg, Preflight(INFO, "15.8", "1234"), "00000003-1", TAKEN_AT, snap, str(work))
