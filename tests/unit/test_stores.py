"""stores/: destinations from the environment (S3 and directory), the one factory, and the directory store's own
promises that the conformance suite cannot see from outside (atomic writes, the record of a changed file)."""

import hashlib
import os

import pytest

from checkniner_backup import config, stores
from checkniner_backup.errors import ConfigError, StoreError
from checkniner_backup.stores.directory import META_DIR, DirStore
from checkniner_backup.stores.s3 import S3Store

DB = {"DATABASE_URL": "postgres://h/db"}


def dests(**env):
    return config.load({**DB, **env}).destinations


def test_a_name_with_a_dir_path_is_a_directory_destination_and_s3_names_keep_meaning_s3(tmp_path):
    found = dests(
        S3_BUCKET_NAME="primary",
        CHECKNINER_BACKUP_DESTINATIONS="NAS,offsite",
        DIR_NAS_PATH=str(tmp_path / "nas") + "/",
        S3_OFFSITE_BUCKET_NAME="off",
    )
    assert [(d.name, d.kind) for d in found] == [("s3", "s3"), ("nas", "directory"), ("offsite", "s3")]
    assert found[1].path == str(tmp_path / "nas")  # normalised: no trailing slash
    assert found[1].describe() == f"directory {tmp_path / 'nas'}"
    assert "S3" not in found[1].describe() + found[1].lost_hint()
    assert isinstance(stores.open(found[1]), DirStore) and isinstance(stores.open(found[0]), S3Store)


def test_without_s3_bucket_name_the_named_destinations_are_the_only_ones(tmp_path):
    found = dests(CHECKNINER_BACKUP_DESTINATIONS="nas", DIR_NAS_PATH=str(tmp_path))
    assert [d.name for d in found] == ["nas"]
    assert dests() == []


@pytest.mark.parametrize(
    "env, message",
    [
        (
            {"CHECKNINER_BACKUP_DESTINATIONS": "nas,1bad"},
            "CHECKNINER_BACKUP_DESTINATIONS has invalid destination names: 1bad",
        ),
        ({"CHECKNINER_BACKUP_DESTINATIONS": "a-b"}, "invalid destination names: a-b"),
        ({"CHECKNINER_BACKUP_DESTINATIONS": "nas", "DIR_NAS_PATH": "relative/dir"}, "DIR_NAS_PATH must be an absolute"),
        (
            {"CHECKNINER_BACKUP_DESTINATIONS": "nas", "DIR_NAS_PATH": "/mnt/nas", "S3_NAS_BUCKET_NAME": "b"},
            "destination 'nas' has both DIR_NAS_PATH and S3_NAS_BUCKET_NAME: keep one",
        ),
        (
            {"CHECKNINER_BACKUP_DESTINATIONS": "nas", "DIR_NAS_PATH": "/mnt/nas", "S3_NAS_OBJECT_LOCK_DAYS": "7"},
            "destination 'nas' is a directory \\(DIR_NAS_PATH\\): Object Lock is S3's",
        ),
        ({"CHECKNINER_BACKUP_DESTINATIONS": "nas"}, "destination 'nas' has no bucket: set S3_NAS_BUCKET_NAME"),
        ({"CHECKNINER_BACKUP_DESTINATIONS": "s3", "S3_BUCKET_NAME": "b"}, "names 's3' twice"),
    ],
)
def test_bad_destinations_are_told_what_is_wrong(env, message):
    with pytest.raises(ConfigError, match=message) as refused:
        config.load({**DB, **env})
    assert "app labels" not in str(refused.value)


def test_the_factory_refuses_what_is_no_destination():
    with pytest.raises(TypeError):
        stores.open("s3://bucket")


def archive(tmp_path, data=b"archive bytes"):
    path = tmp_path / "src.tar.gz"
    path.write_bytes(data)
    return str(path), hashlib.sha256(data).hexdigest()


NAME = "2026-01-01T000000Z.tar.gz"


def test_a_missing_directory_fails_with_one_line_and_is_never_created(tmp_path):
    store = stores.open(stores.DirDestination(path=str(tmp_path / "unmounted"), name="nas"))
    path, sha = archive(tmp_path)
    with pytest.raises(StoreError, match=f"directory {tmp_path / 'unmounted'} does not exist while checking {NAME}"):
        store.upload(path, NAME, sha, {})
    assert not (tmp_path / "unmounted").exists()


def test_upload_leaves_no_temp_file_and_a_record_beside_the_archive(tmp_path):
    (tmp_path / "nas").mkdir()
    store = stores.open(stores.DirDestination(path=str(tmp_path / "nas"), name="nas"))
    path, sha = archive(tmp_path)
    assert store.upload(path, NAME, sha, {"fingerprint": "f1"}) is True
    assert sorted(os.listdir(tmp_path / "nas")) == [META_DIR, NAME]
    assert os.listdir(tmp_path / "nas" / META_DIR) == [f"{NAME}.json"]
    assert store.head(NAME)["metadata"] == {"fingerprint": "f1", "sha256": sha}


def test_a_file_changed_after_it_was_written_is_hashed_again_and_does_not_match(tmp_path):
    (tmp_path / "nas").mkdir()
    store = stores.open(stores.DirDestination(path=str(tmp_path / "nas"), name="nas"))
    path, sha = archive(tmp_path)
    store.upload(path, NAME, sha, {})
    target = tmp_path / "nas" / NAME
    before = target.stat().st_mtime_ns
    target.write_bytes(b"archive bytez")  # same size, other bytes: the record no longer describes it
    # a write within the filesystem's timestamp tick could keep the mtime; a real later write does not
    os.utime(target, ns=(before, before + 10**9))
    assert not store.matches(store.head(NAME), sha, os.path.getsize(path))
    assert store.upload(path, NAME, sha, {}) is True and target.read_bytes() == b"archive bytes"


def test_an_archive_without_its_record_is_written_again(tmp_path):
    (tmp_path / "nas").mkdir()
    store = stores.open(stores.DirDestination(path=str(tmp_path / "nas"), name="nas"))
    path, sha = archive(tmp_path)
    (tmp_path / "nas" / NAME).write_bytes(b"archive bytes")  # copied in by hand: nothing vouches for it
    assert store.head(NAME)["metadata"] == {}
    assert store.upload(path, NAME, sha, {}) is True


@pytest.mark.parametrize("implementation", [S3Store, DirStore])
def test_every_store_has_every_method_of_the_protocol(implementation):
    wanted = {name for name in vars(stores.Store) if not name.startswith("_")}
    assert wanted >= {"head", "upload", "download", "iter_archives", "delete", "read_pointer", "write_pointer"}
    assert not [name for name in wanted if not callable(getattr(implementation, name, None))]
