"""manifest.Manifest.check_identity: the signed manifest says which archive it is and where it was written to."""

import pytest

from checkniner_backup.errors import IntegrityError
from checkniner_backup.manifest import Manifest
from checkniner_backup.stores import DirDestination, S3Destination

NAME = "2026-11-30T140000Z.tar.gz"


def manifest(**doc):
    return Manifest.check({"format": "checkniner-backup", "database": "db", "members": {"db.sql": {}}, **doc}, NAME)


def test_its_own_name_passes_also_encrypted():
    m = manifest(name=NAME, prefixes=["db/"])
    assert m.check_identity(NAME, "local") == []
    assert m.check_identity(NAME + ".gpg", "s3", S3Destination(bucket="b", prefix="db/")) == []


def test_an_old_archive_under_a_later_name_is_refused():
    m = manifest(name="2026-11-01T000000Z.tar.gz")
    with pytest.raises(IntegrityError, match=rf"{NAME} holds the signed manifest of 2026-11-01T000000Z.tar.gz"):
        m.check_identity(NAME, "s3", S3Destination(bucket="b"))
    with pytest.raises(IntegrityError, match="rollback"):
        m.check_identity(NAME, "local")


def test_a_file_the_user_renamed_is_restored_under_its_manifests_name_with_a_warning():
    (warning,) = manifest(name="2026-11-01T000000Z.tar.gz").check_identity("copy.tar.gz", "path")
    assert "copy.tar.gz holds the signed manifest of 2026-11-01T000000Z.tar.gz" in warning


def test_another_hosts_archive_under_this_prefix_is_refused():
    m = manifest(name=NAME, prefixes=["app1/"])
    with pytest.raises(IntegrityError, match="under app2/ was written for app1/: another host's archive"):
        m.check_identity(NAME, "s3", S3Destination(bucket="b", prefix="app2/"))
    assert m.check_identity(NAME, "nas", DirDestination(name="nas", path="/mnt/nas")) == []


def test_archives_written_before_the_manifest_said_so_are_not_checked():
    assert manifest().check_identity(NAME, "s3", S3Destination(bucket="b", prefix="x/")) == []
