"""What each PUT asks of the bucket (issue 21): server-side encryption and the storage class on every archive and on
latest.json, and an upload bandwidth limit. Real PostgreSQL, the moto S3 endpoint, the command line.

moto enforces a bucket policy's Deny on PutObject but not its conditions (it refuses encrypted PUTs too), so the
headers are checked on what the bucket recorded for each object, not through a policy."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
import uuid

import pytest
from support.s3 import ACCESS_KEY, SECRET_KEY

from checkniner_backup import stores


def test_archives_and_the_pointer_carry_the_encryption_and_storage_class_asked_for(
    run_cli, backup_env, s3, bucket, tmp_path
):
    env = {"S3_SSE": "AES256", "S3_STORAGE_CLASS": "STANDARD_IA"}
    proc = run_cli("run", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    client = s3.client()
    names = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    archive = next(n for n in names if n.endswith(".tar.gz"))
    head = client.head_object(Bucket=bucket, Key=archive)
    assert head.get("ServerSideEncryption") == "AES256" and head.get("StorageClass") == "STANDARD_IA", head
    pointer = client.head_object(Bucket=bucket, Key=f"{backup_env.get('S3_PREFIX', 'db/')}latest.json")
    assert pointer.get("ServerSideEncryption") == "AES256", pointer
    # the default asks for nothing: the bucket's own settings apply
    other = f"{bucket}-plain"
    client.create_bucket(Bucket=other)
    proc = run_cli("run", env={"S3_BUCKET_NAME": other, "CHECKNINER_BACKUP_DIR": str(tmp_path / "plain")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plain = [o["Key"] for o in client.list_objects_v2(Bucket=other)["Contents"]]
    head = client.head_object(Bucket=other, Key=next(n for n in plain if n.endswith(".tar.gz")))
    assert "ServerSideEncryption" not in head and head.get("StorageClass", "STANDARD") == "STANDARD", head


def test_an_upload_keeps_to_its_bandwidth_limit(backend_free_s3, tmp_path):
    """A lower bound only (a loaded machine makes uploads slower, never faster): 2 MiB at 512 KiB/s cannot arrive in
    less than about four seconds; unlimited, moto takes it in well under one. (boto3 limits a stream only past its
    first 256 KiB: a small archive goes at full speed, which is harmless.)"""
    store, _ = backend_free_s3(max_bandwidth=512 * 1024)
    path = tmp_path / "2026-01-01T000000Z.tar.gz"
    path.write_bytes(os.urandom(2 * 1024 * 1024))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    started = time.monotonic()
    assert store.upload(str(path), path.name, sha, {}) is True
    took = time.monotonic() - started
    assert took >= 0.8 * (2 * 1024 * 1024 - 256 * 1024) / (512 * 1024), took


@pytest.fixture
def backend_free_s3(s3):
    """open(**fields): the moto S3 store of a new bucket, its destination with these fields set."""

    def open_store(**fields):
        bucket = s3.create_bucket(f"cnb-put-{uuid.uuid4().hex[:10]}")
        env = {"S3_BUCKET_NAME": bucket, "S3_ENDPOINT_URL": s3.endpoint_url, "S3_ACCESS_KEY": ACCESS_KEY,
               "S3_SECRET_KEY": SECRET_KEY}  # fmt: skip
        dest = dataclasses.replace(stores.destinations(env)[0], **fields)
        return stores.open(dest), bucket

    return open_store
