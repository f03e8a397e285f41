"""Change detection's first question: the fingerprint of the last archive, from state, a local manifest (read through
manifest.py) or a destination's pointer."""

from checkniner_backup import archive_writer, manifest
from checkniner_backup.backup import detect
from checkniner_backup.local import BackupDir
from checkniner_backup.state import State

from .conftest import FakeStore


def test_the_newest_local_manifest_when_state_knows_nothing(cfg, capture):
    bdir = BackupDir(cfg.backup_dir)
    name, _size = archive_writer.write(capture, bdir, "2026-11-23T214052Z.tar.gz")
    expected = manifest.fingerprint_of(list(cfg.apps), capture.snap)
    assert manifest.recorded_fingerprint(bdir.join(name)) == expected
    assert detect.last_fingerprint(cfg, bdir, State.load(bdir)) == (expected, "local archive")


def test_an_encrypted_or_unreadable_archive_is_passed_over(cfg, tmp_path):
    bdir = BackupDir(cfg.backup_dir)
    with open(bdir.join("2026-11-23T214052Z.tar.gz"), "wb") as f:
        f.write(b"not a tar")
    with open(bdir.join("2026-11-23T214053Z.tar.gz.gpg"), "wb") as f:
        f.write(b"ciphertext")
    assert manifest.recorded_fingerprint(bdir.join("2026-11-23T214053Z.tar.gz.gpg")) is None
    assert detect.last_fingerprint(cfg, bdir, State.load(bdir)) == (None, None)


def test_the_pointer_when_the_directory_holds_nothing(tmp_path, monkeypatch):
    from checkniner_backup import config

    env = {"CHECKNINER_BACKUP_DIR": str(tmp_path / "b"), "S3_BUCKET_NAME": "bucket"}
    cfg = config.load(env, require_database=False)
    bdir = BackupDir(cfg.backup_dir)
    pointer = {"name": "2026-11-23T214052Z.tar.gz", "fingerprint": "remote-fp"}
    monkeypatch.setattr(detect.stores, "open", lambda dest: FakeStore(pointer))
    source = f"latest.json of {cfg.destinations[0].describe()}"
    assert detect.last_fingerprint(cfg, bdir, State.load(bdir)) == ("remote-fp", source)
    monkeypatch.setattr(detect.stores, "open", lambda dest: FakeStore({**pointer, "name": "2999-01-01T000000Z.tar.gz"}))
    assert detect.last_fingerprint(cfg, bdir, State.load(bdir)) == (None, None)  # a pointer naming the future
