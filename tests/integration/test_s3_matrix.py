"""The S3 store's own operations on three implementations over real HTTP: moto (Python), s3rver (Node.js) and
`rclone serve s3` (Go). They differ where it hurts: header case, checksums, multipart, the multi-object delete."""

from __future__ import annotations

import hashlib
import os
import uuid

import botocore.exceptions
import pytest
from support.rclone import RcloneS3
from support.s3 import ACCESS_KEY, SECRET_KEY
from support.s3rver import S3rver

from checkniner_backup import s3 as s3_mod
from checkniner_backup.config import S3Destination

NAMES = ["2026-01-01T000000Z.tar.gz", "2026-01-02T000000Z.tar.gz", "2026-01-03T000000Z.tar.gz"]


class _Moto:
    """The session's moto server, with a bucket of this test's own."""

    access_key, secret_key = ACCESS_KEY, SECRET_KEY

    def __init__(self, server):
        self.endpoint_url = server.endpoint_url
        self.bucket = server.create_bucket(f"cnb-matrix-{uuid.uuid4().hex[:10]}")

    def stop(self):
        pass


@pytest.fixture(params=["moto", "s3rver", "rclone"])
def store(request, s3):
    if request.param == "moto":
        server = _Moto(s3)
    else:
        server = {"s3rver": S3rver, "rclone": RcloneS3}[request.param]("checkniner-matrix").start()
    dest = S3Destination(
        bucket=server.bucket,
        endpoint_url=server.endpoint_url,
        access_key=server.access_key,
        secret_key=server.secret_key,
    )
    yield s3_mod.S3Store(dest)
    server.stop()


def _archive(tmp_path, name, size):
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return str(path), hashlib.sha256(path.read_bytes()).hexdigest()


def test_multipart_upload_is_verified_and_not_sent_twice(store, tmp_path, monkeypatch):
    monkeypatch.setattr(s3_mod, "MULTIPART_THRESHOLD", 5 * 1024 * 1024)  # S3's smallest part
    path, sha = _archive(tmp_path, NAMES[0], 12 * 1024 * 1024)  # three parts
    assert store.upload(path, NAMES[0], sha, {"fingerprint": "f1"}) is True
    head = store.head(NAMES[0])
    assert head["metadata"]["sha256"] == sha and head["metadata"]["fingerprint"] == "f1"  # whatever the case
    assert store.matches(head, sha, os.path.getsize(path))
    assert store.upload(path, NAMES[0], sha, {"fingerprint": "f1"}) is False  # already there, checksum matches
    back = tmp_path / "back"
    store.download(NAMES[0], str(back))
    assert hashlib.sha256(back.read_bytes()).hexdigest() == sha


def test_a_missing_object_and_pointer_are_none_and_the_pointer_round_trips(store):
    assert store.head("2026-01-09T000000Z.tar.gz") is None
    assert store.read_pointer() is None
    store.write_pointer({"name": NAMES[1], "sha256": "ab" * 32})
    assert store.read_pointer()["name"] == NAMES[1]


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


@pytest.mark.parametrize("batch", [True, False], ids=["multi-object delete", "one by one"])
def test_delete_with_and_without_the_multi_object_delete(store, tmp_path, batch):
    for name in NAMES:
        path, sha = _archive(tmp_path, name, 1024)
        store.upload(path, name, sha, {})
    if not batch:
        store._client = _NoBatchDelete(store.client)
    store.delete(NAMES[:2])
    assert [obj["name"] for obj in store.iter_archives()] == NAMES[2:]
