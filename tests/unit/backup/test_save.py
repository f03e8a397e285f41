"""Save: the Capture packaged as an archive (manifest.build, archive_writer), recorded, queued, then named latest."""

import dataclasses
import os

from checkniner_backup import archive, archive_writer, manifest
from checkniner_backup.backup import save
from checkniner_backup.local import BackupDir
from checkniner_backup.state import State

from .conftest import TAKEN_AT


def test_the_manifest_records_the_capture(capture):
    doc = manifest.build(capture, "2026-11-23T214052Z.tar.gz")
    assert (doc["name"], doc["created"], doc["snapshot"]) == ("2026-11-23T214052Z.tar.gz", TAKEN_AT.isoformat(),
                                                             "00000003-1")  # fmt: skip
    assert (doc["database"], doc["server_version"], doc["pg_dump_version"]) == ("checkniner", "15.8", "15.8")
    assert doc["apps"] == ["auth", "checkouts"] and doc["business_apps"] == ["auth", "checkouts"]
    assert list(doc["members"]) == ["checkniner.sql", "auth.json", "checkouts.json"]
    assert doc["fingerprint"] == manifest.fingerprint_of(["auth", "checkouts"], capture.snap)
    assert "sql_only" not in doc


def test_an_sql_only_capture_names_no_business_app(capture):
    damaged = dataclasses.replace(capture, sql_only="the dump came out incomplete")
    doc = manifest.build(damaged, "x-pre-restore.tar.gz")
    assert doc["sql_only"] == "the dump came out incomplete" and doc["business_apps"] == []


def test_save_new_queues_then_writes_records_and_points_latest(tmp_path, capture, monkeypatch):
    from checkniner_backup import config

    env = {"CHECKNINER_BACKUP_DIR": str(tmp_path / "b2"), "S3_BUCKET_NAME": "bucket"}
    cfg = config.load(env, require_database=False)
    capture = dataclasses.replace(capture, config=cfg)
    bdir = BackupDir(cfg.backup_dir)
    queued_when_written = []
    real_write = archive_writer.write

    def write(capture_, bdir_, name):
        # a run killed while writing must leave a queued name, never an archive no outbox knows
        queued_when_written.append((list(bdir_.pending("s3")), os.path.lexists(bdir_.join("latest.tar.gz"))))
        return real_write(capture_, bdir_, name)

    monkeypatch.setattr(archive_writer, "write", write)
    name, size = save.save_new(capture, bdir, State.load(bdir), "fp")
    assert name == "2026-11-23T214052Z.tar.gz" and size == os.path.getsize(bdir.join(name))
    assert queued_when_written == [([name], False)]  # queued first; latest.tar.gz named only after the write
    assert os.readlink(bdir.join("latest.tar.gz")) == name
    assert State.load(bdir).archive(name)["fingerprint"] == "fp"
    head = archive.read_manifest(bdir.join(name))
    assert head["name"] == name and head["snapshot"] == "00000003-1"
