"""checkniner_upload: changed only when an archive was sent, check mode sends nothing, every failure in one line, and
a run holding the lock past the wait ends the task with one clear line (before: "MODULE FAILURE" and a traceback).

The engine (api.upload) is faked, except for the failures it decides before S3 and for the real lock.
"""

import time

import pytest
from support.ansible_module import (  # first: it puts module_utils under ansible.module_utils
    ENGINE_ERRORS,
    assert_engine_failure,
    engine_error,
    raiser,
    run_module,
)

# isort: split
from ansible.module_utils.checkniner_backup import api, lock, stores


def fake_upload(monkeypatch, seen, outcome):
    def upload(cfg, name=None, dry_run=False):
        seen.update(cfg=cfg, name=name, dry_run=dry_run)
        return api.UploadResult(**outcome)

    monkeypatch.setattr(api, "upload", upload)


def test_upload_uploaded_is_changed(monkeypatch, seen, base_args):
    fake_upload(monkeypatch, seen, {"name": "a.tar.gz", "changed": True, "destinations": {"s3": "uploaded"}})
    result, code, _ = run_module("checkniner_upload", dict(base_args, s3_bucket="b", name="a.tar.gz"))
    assert code == 0
    assert result["changed"] is True
    assert result["destinations"] == {"s3": "uploaded"}
    assert (seen["name"], seen["dry_run"]) == ("a.tar.gz", False)


def test_upload_present_is_unchanged(monkeypatch, seen, base_args):
    fake_upload(monkeypatch, seen, {"name": "a.tar.gz", "changed": False, "destinations": {"s3": "present"}})
    result, code, _ = run_module("checkniner_upload", dict(base_args, s3_bucket="b"))
    assert code == 0
    assert result["changed"] is False
    assert seen["name"] == "latest"


def test_upload_check_mode(monkeypatch, seen, base_args):
    fake_upload(monkeypatch, seen, {"name": "a.tar.gz", "changed": True, "destinations": {"s3": "would upload"}})
    result, _, _ = run_module("checkniner_upload", dict(base_args, s3_bucket="b"), check=True)
    assert seen["dry_run"] is True
    assert result["changed"] is True and result["destinations"] == {"s3": "would upload"}


def test_upload_needs_s3(base_args, tmp_path):
    result, code, _ = run_module("checkniner_upload", base_args)
    assert code == 1
    assert result["msg"].startswith("S3 is not configured: set S3_BUCKET_NAME")


def test_upload_without_archive_says_so(base_args, tmp_path):
    (tmp_path / "backups").mkdir()
    result, code, _ = run_module("checkniner_upload", dict(base_args, s3_bucket="b"))
    assert code == 1
    assert result["msg"] == f"no local archive in {tmp_path / 'backups'} to upload"


def test_upload_store_error(monkeypatch, base_args):
    def upload(cfg, name=None, dry_run=False):
        raise api.StoreError("S3 bucket 'b' does not exist at AWS: check S3_BUCKET_NAME")

    monkeypatch.setattr(api, "upload", upload)
    result, code, _ = run_module("checkniner_upload", dict(base_args, s3_bucket="b"))
    assert code == 1
    assert result["msg"] == "S3 bucket 'b' does not exist at AWS: check S3_BUCKET_NAME"


@pytest.mark.parametrize("kind", sorted(ENGINE_ERRORS))
def test_upload_engine_errors_fail_with_their_one_line(monkeypatch, base_args, tracebacks, kind):
    monkeypatch.setattr(api, "upload", raiser(engine_error(kind)))
    result, code, _ = run_module("checkniner_upload", dict(base_args, s3_bucket="b"))
    assert_engine_failure(result, code, kind)


class MissingStore:
    """An S3 destination that holds nothing yet: the archive must be uploaded, which needs the run lock."""

    def __init__(self, dest):
        self.dest = dest

    def describe(self):
        return self.dest.describe()

    def head(self, name):
        return None

    def read_pointer(self):
        return None

    @staticmethod
    def matches(head, sha256, size):
        return head is not None

    def upload(self, *args, **kwargs):
        raise AssertionError("uploaded without the run lock")

    def write_pointer(self, doc):
        raise AssertionError("pointer written without the run lock")


def test_upload_while_a_run_holds_the_lock_fails_with_one_line(monkeypatch, tmp_path, base_args):
    """The real engine and the real lock, held by this test (flock is per open file: a second open conflicts)."""
    bdir = tmp_path / "backups"
    bdir.mkdir()
    (bdir / "2026-01-01T000000Z.tar.gz").write_bytes(b"not really an archive")
    monkeypatch.setattr(stores, "open", MissingStore)  # the one factory every caller uses
    monkeypatch.setattr(lock, "WAIT", 1.0)
    with lock.run_lock(str(bdir)):
        started = time.monotonic()
        result, code, _ = run_module("checkniner_upload", dict(base_args, s3_bucket="b"))
        waited = time.monotonic() - started
    assert code == 1 and result["failed"] is True
    assert result["msg"] == (
        f"another checkniner-backup run held the lock on {bdir} for 1s: 2026-01-01T000000Z.tar.gz not uploaded; "
        "try again"
    )
    assert result["msg"].startswith("another checkniner-backup run held the lock")
    assert "\n" not in result["msg"] and "Traceback" not in result["msg"]
    assert waited >= 1.0  # it waited for the holder, then gave up


class PresentStore(MissingStore):
    """A destination that already holds the archive with its checksum, and a pointer naming it."""

    def head(self, name):
        return {"size": 21, "metadata": {}}

    def read_pointer(self):
        return {"name": "2026-01-01T000000Z.tar.gz"}


def test_upload_with_nothing_to_do_needs_no_lock(monkeypatch, tmp_path, base_args):
    """Idempotent and never blocked by cron: with every destination in place the lock is not even asked for."""
    bdir = tmp_path / "backups"
    bdir.mkdir()
    (bdir / "2026-01-01T000000Z.tar.gz").write_bytes(b"not really an archive")
    monkeypatch.setattr(stores, "open", PresentStore)  # the one factory every caller uses
    monkeypatch.setattr(lock, "WAIT", 5.0)
    with lock.run_lock(str(bdir)):
        started = time.monotonic()
        result, code, _ = run_module("checkniner_upload", dict(base_args, s3_bucket="b"))
        assert time.monotonic() - started < 2.0
    assert code == 0 and result["changed"] is False
    assert result["destinations"] == {"s3": "present"}


class UploadedMeanwhileStore(MissingStore):
    """Missing when first asked; by the time the lock is taken, the run that held it has uploaded it."""

    heads = 0

    def head(self, name):
        UploadedMeanwhileStore.heads += 1
        return None if UploadedMeanwhileStore.heads == 1 else {"size": 21, "metadata": {}}

    def read_pointer(self):
        return {"name": "2026-01-01T000000Z.tar.gz"}


def test_upload_is_unchanged_when_the_lock_holder_sent_it_meanwhile(monkeypatch, tmp_path, base_args):
    """changed tells the truth: decided by what was uploaded under the lock, not by the look before it."""
    bdir = tmp_path / "backups"
    bdir.mkdir()
    (bdir / "2026-01-01T000000Z.tar.gz").write_bytes(b"not really an archive")
    monkeypatch.setattr(stores, "open", UploadedMeanwhileStore)  # the one factory every caller uses
    result, code, _ = run_module("checkniner_upload", dict(base_args, s3_bucket="b"))
    assert code == 0 and result["changed"] is False, result
    assert result["destinations"] == {"s3": "present"}
