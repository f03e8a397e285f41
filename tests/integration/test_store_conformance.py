"""One suite every store passes (restic's internal/backend/test): the S3 store on three implementations over real
HTTP, moto (Python), s3rver (Node.js) and `rclone serve s3` (Go), which differ where it hurts (header case,
checksums, multipart, the multi-object delete), and the directory store. Each server is the session's; each test
works under a prefix (or directory) of its own."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import uuid

import botocore.exceptions
import pytest
from support.s3 import ACCESS_KEY, SECRET_KEY
from support.stores import DirBackend, S3Backend

from checkniner_backup import stores
from checkniner_backup.stores import s3 as s3_store

NAMES = [f"2026-01-0{day}T000000Z.tar.gz" for day in range(1, 6)]
KINDS = ["moto", "s3rver", "rclone", "directory"]


@pytest.fixture(params=KINDS)
def backend(request, tmp_path):
    return _backend(request, request.param, tmp_path)


@pytest.fixture(params=KINDS[:3])
def s3_only(request, tmp_path):
    """What only the S3 store has: multipart uploads and a multi-object delete."""
    return _backend(request, request.param, tmp_path).open()


def _backend(request, kind, tmp_path):
    if kind == "moto":
        server = request.getfixturevalue("s3")
        bucket = server.create_bucket(f"cnb-conf-{uuid.uuid4().hex[:10]}")

        def lockable():
            name = f"cnb-lock-{uuid.uuid4().hex[:10]}"
            server.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
            return name

        return S3Backend("moto", server.endpoint_url, bucket, ACCESS_KEY, SECRET_KEY, True, lockable)
    if kind == "directory":
        return DirBackend(tmp_path / "stores")
    server = request.getfixturevalue({"s3rver": "s3rver", "rclone": "rclone_s3"}[kind])
    # neither keeps S3's additional checksums: they verify by size and our sha256 metadata only
    return S3Backend(kind, server.endpoint_url, server.bucket, server.access_key, server.secret_key, False)


@pytest.fixture
def store(backend):
    return backend.open()


def _archive(tmp_path, name, size=1024):
    path = tmp_path / f"src-{name}"
    path.write_bytes(os.urandom(size))
    return str(path), hashlib.sha256(path.read_bytes()).hexdigest()


def _put(store, tmp_path, name):
    path, sha = _archive(tmp_path, name)
    assert store.upload(path, name, sha, {}) is True


def _names(store):
    return [obj["name"] for obj in store.iter_archives()]


def test_put_then_head_round_trips_with_its_checksum_and_is_not_put_twice(store, tmp_path):
    path, sha = _archive(tmp_path, NAMES[0])
    assert store.head(NAMES[0]) is None
    assert store.upload(path, NAMES[0], sha, {"fingerprint": "f1"}) is True
    head = store.head(NAMES[0])
    assert head["size"] == 1024
    assert head["metadata"]["sha256"] == sha and head["metadata"]["fingerprint"] == "f1"  # whatever the case
    assert store.matches(head, sha, 1024)
    assert store.upload(path, NAMES[0], sha, {"fingerprint": "f1"}) is False  # already there, checksum matches
    back = tmp_path / "back"
    store.download(NAMES[0], str(back))
    assert hashlib.sha256(back.read_bytes()).hexdigest() == sha
    (row,) = store.iter_archives()
    assert row["name"] == NAMES[0] and row["size"] == 1024 and dt.datetime.fromisoformat(row["modified"])


def test_read_prefix_answers_the_first_bytes_only(backend, store, tmp_path):
    """The ranged read an archive's head is authenticated by (heads.py): the first bytes, all of a shorter object,
    nothing of an empty one, None for one that is not there."""
    path, _sha = _archive(tmp_path, NAMES[0], size=100_000)
    data = open(path, "rb").read()
    assert store.upload(path, NAMES[0], hashlib.sha256(data).hexdigest(), {}) is True
    assert store.read_prefix(NAMES[0], 4096) == data[:4096]
    assert store.read_prefix(NAMES[0], 1) == data[:1]
    assert store.read_prefix(NAMES[0], 1 << 20) == data
    assert store.read_prefix(NAMES[1], 4096) is None
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert store.upload(str(empty), NAMES[2], hashlib.sha256(b"").hexdigest(), {}) is True
    assert store.read_prefix(NAMES[2], 4096) == b""


def test_a_mismatched_or_damaged_object_does_not_match(backend, store, tmp_path):
    path, sha = _archive(tmp_path, NAMES[0])
    store.upload(path, NAMES[0], sha, {})
    head = store.head(NAMES[0])
    assert not store.matches(head, hashlib.sha256(b"other").hexdigest(), 1024)  # another archive's checksum
    assert not store.matches(head, sha, 1025)
    assert not store.matches(None, sha, 1024)
    # shorter bytes behind the metadata that vouched for the old ones: every store sees the size
    backend.overwrite(store, NAMES[0], os.urandom(1000))
    assert not store.matches(store.head(NAMES[0]), sha, 1024)
    # the same size: only a store with its own checksum of the bytes can tell (S3's additional checksums, the
    # directory store's record); the others vouch by size and metadata, and the signed manifest decides on restore
    backend.overwrite(store, NAMES[0], os.urandom(1024))
    assert store.matches(store.head(NAMES[0]), sha, 1024) is not backend.own_checksum
    # and a put sends the real archive again over a damaged one
    backend.overwrite(store, NAMES[0], os.urandom(1000))
    assert store.upload(path, NAMES[0], sha, {}) is True
    assert store.matches(store.head(NAMES[0]), sha, 1024)


def test_the_listing_pages_and_holds_only_archives_oldest_first(backend, store, tmp_path):
    for name in reversed(NAMES):
        _put(store, tmp_path, name)
    store.write_pointer({"name": NAMES[-1], "sha256": "ab" * 32})
    backend.put_raw(store, "notes.txt", b"not an archive")
    backend.put_raw(store, "media/0123", b"below the prefix's own level")
    store.page_size = 2  # five archives and two other objects: four pages
    requests = []
    if backend.kind == "s3":
        store.client.meta.events.register("before-call.s3.ListObjectsV2", lambda **kw: requests.append(kw))
    assert _names(store) == NAMES
    if backend.kind == "s3":
        assert len(requests) >= 3  # it paged: one request could not have held five names
    assert _names(backend.open()) == []  # another prefix (directory) of the same server sees none of them


def test_the_pointer_round_trips_is_none_when_absent_and_never_trusts_garbage(backend, store):
    assert store.read_pointer() is None
    doc = {"name": NAMES[1], "sha256": "ab" * 32, "size": 3, "fingerprint": "f", "updated": "2026-01-02T00:00:00"}
    store.write_pointer(doc)
    assert store.read_pointer() == doc
    store.write_pointer({**doc, "name": NAMES[2]})  # replaced, not appended
    assert store.read_pointer()["name"] == NAMES[2]
    for garbage in (b"{not json", b"[1, 2]", b'{"name": "../../etc/passwd"}', b""):
        backend.put_raw(store, stores.POINTER, garbage)
        assert store.read_pointer() is None, garbage


def test_delete_several_including_missing_ones(store, tmp_path):
    for name in NAMES[:3]:
        _put(store, tmp_path, name)
    store.delete([NAMES[0], NAMES[1], NAMES[4]])  # NAMES[4] was never there: no error, as in S3
    assert _names(store) == [NAMES[2]]
    assert store.head(NAMES[0]) is None
    store.delete([])
    assert _names(store) == [NAMES[2]]


def test_object_lock_where_the_store_has_it_and_none_where_it_has_not(backend, store, tmp_path):
    path, sha = _archive(tmp_path, NAMES[0])
    store.upload(path, NAMES[0], sha, {})
    assert store.lock_possible() is False  # no retention configured, none on the bucket
    assert store.head(NAMES[0])["lock"] is None and store.locks([NAMES[0]]) == {}
    if backend.lockable_bucket is None:
        return  # s3rver, rclone and a directory have no Object Lock: nothing here is ever reported locked
    locked = backend.open(bucket=backend.lockable_bucket(), object_lock_days=1, object_lock_mode="COMPLIANCE")
    assert locked.upload(path, NAMES[0], sha, {}) is True
    assert locked.lock_possible() is True
    lock = locked.head(NAMES[0])["lock"]
    assert lock["mode"] == "COMPLIANCE"
    assert dt.timedelta(hours=23) < dt.datetime.fromisoformat(lock["until"]) - dt.datetime.now(dt.timezone.utc)
    assert locked.locks([NAMES[0], NAMES[1]]) == {NAMES[0]: lock}
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)
    assert locked.locks([NAMES[0]], now=later) == {}  # a retention that has ended locks nothing
    version = locked.client.head_object(Bucket=locked.dest.bucket, Key=locked.key(NAMES[0]))["VersionId"]
    with pytest.raises(botocore.exceptions.ClientError) as refused:  # not even the version itself goes
        locked.client.delete_object(Bucket=locked.dest.bucket, Key=locked.key(NAMES[0]), VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


# -- what only the S3 store has (a directory is written in one piece, deleted name by name) -------------------


def test_a_multipart_upload_is_verified_and_not_sent_twice(s3_only, tmp_path, monkeypatch):
    monkeypatch.setattr(s3_store, "MULTIPART_THRESHOLD", 5 * 1024 * 1024)  # S3's smallest part
    path, sha = _archive(tmp_path, NAMES[0], 12 * 1024 * 1024)  # three parts
    assert s3_only.upload(path, NAMES[0], sha, {"fingerprint": "f1"}) is True
    head = s3_only.head(NAMES[0])
    assert head["metadata"]["sha256"] == sha and head["metadata"]["fingerprint"] == "f1"
    assert s3_only.matches(head, sha, os.path.getsize(path))
    assert s3_only.upload(path, NAMES[0], sha, {"fingerprint": "f1"}) is False
    back = tmp_path / "back"
    s3_only.download(NAMES[0], str(back))
    assert hashlib.sha256(back.read_bytes()).hexdigest() == sha


class _NoBatchDelete:
    """The store's own client, answering the multi-object delete as Google Cloud Storage's S3 interface does."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        return getattr(self._client, name)

    def delete_objects(self, **kwargs):
        raise botocore.exceptions.ClientError(
            {"Error": {"Code": "NotImplemented", "Message": "not implemented"}}, "DeleteObjects"
        )


def test_delete_without_the_multi_object_delete_goes_one_by_one(s3_only, tmp_path):
    for name in NAMES[:3]:
        _put(s3_only, tmp_path, name)
    s3_only._client = _NoBatchDelete(s3_only.client)
    s3_only.delete([NAMES[0], NAMES[1], NAMES[4]])
    assert _names(s3_only) == [NAMES[2]]
