"""The stores the conformance suite holds to one protocol: each opens a store of its kind on a server the session
started (moto, s3rver, `rclone serve s3`) or on a directory, under a place of the test's own, and can reach past the
store to damage what it holds (as a disk, a hand or another program would)."""

from __future__ import annotations

import uuid
from pathlib import Path

from checkniner_backup import stores


class S3Backend:
    """An S3 server of the session; each test gets its own prefix (or, on moto, its own bucket)."""

    kind = "s3"

    def __init__(self, name, endpoint_url, bucket, access_key, secret_key, own_checksum, lockable_bucket=None):
        self.name, self.endpoint_url, self.bucket = name, endpoint_url, bucket
        self.access_key, self.secret_key = access_key, secret_key
        self.own_checksum = own_checksum  # keeps a checksum of the bytes it stores (ChecksumSHA256)
        self.lockable_bucket = lockable_bucket  # makes a bucket with Object Lock enabled; None: has no Object Lock

    def open(self, bucket=None, **options):
        dest = stores.S3Destination(
            bucket=bucket or self.bucket,
            prefix=f"t{uuid.uuid4().hex[:10]}/",
            endpoint_url=self.endpoint_url,
            access_key=self.access_key,
            secret_key=self.secret_key,
            name="conformance",
            **options,
        )
        return stores.open(dest)

    def client(self):
        import boto3
        from botocore.config import Config

        config = Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required")
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=config,
        )

    def overwrite(self, store, name, data):
        """Replace the object's bytes behind the store's back, keeping the metadata that vouched for the old ones."""
        client = self.client()
        key = store.dest.prefix + name
        metadata = client.head_object(Bucket=store.dest.bucket, Key=key).get("Metadata", {})
        extra = {"ChecksumAlgorithm": "SHA256"} if self.own_checksum else {}
        client.put_object(Bucket=store.dest.bucket, Key=key, Body=data, Metadata=metadata, **extra)

    def put_raw(self, store, key, data):
        """An object the store did not write (a pointer by hand, a file of another tool) under its prefix."""
        self.client().put_object(Bucket=store.dest.bucket, Key=store.dest.prefix + key, Body=data)


class DirBackend:
    """A directory of the test's own (a local disk here; a NAS mount is the same calls)."""

    kind = "directory"
    name = "directory"
    own_checksum = True
    lockable_bucket = None

    def __init__(self, root: Path):
        self.root = root

    def open(self, **options):
        path = self.root / f"t{uuid.uuid4().hex[:10]}"
        path.mkdir(parents=True)
        return stores.open(stores.DirDestination(path=str(path), name="conformance"))

    def overwrite(self, store, name, data):
        Path(store.dest.path, name).write_bytes(data)

    def put_raw(self, store, key, data):
        target = Path(store.dest.path, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
