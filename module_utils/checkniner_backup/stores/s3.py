"""The S3 store (boto3, any S3-compatible endpoint): archives with a checksum, and the latest.json pointer. The only
module that imports boto3."""

import datetime as dt
import os
from contextlib import contextmanager

from ..archive import is_archive_name
from ..errors import ConfigError, StoreError
from ..units import utcnow
from .protocol import PAGE_SIZE, POINTER, matches, parse_pointer, pointer_body

MULTIPART_THRESHOLD = 64 * 1024 * 1024
_CHECKSUM_UNSUPPORTED = {"NotImplemented", "InvalidArgument", "InvalidRequest", "XAmzContentSHA256Mismatch"}
_CREDENTIAL_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken"}
# a store without the multi-object delete (POST ?delete) says so with one of these
_NO_BATCH_DELETE = {"NotImplemented", "MethodNotAllowed", "InvalidRequest", "501", "405"}
# "there is no such object", however a store says it: a HEAD has no body, so only the status code (404) comes back
_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}


def _lock_of(resp):
    """The Object Lock retention a HEAD answered, {"mode", "until" (ISO, UTC)}, or None."""
    until = resp.get("ObjectLockRetainUntilDate")
    if not until or not resp.get("ObjectLockMode"):
        return None
    if isinstance(until, str):
        until = dt.datetime.fromisoformat(until.replace("Z", "+00:00"))
    if until.tzinfo is None:
        until = until.replace(tzinfo=dt.timezone.utc)
    return {"mode": resp["ObjectLockMode"], "until": until.astimezone(dt.timezone.utc).isoformat()}


def _missing(exc):
    return exc.response.get("Error", {}).get("Code") in _MISSING_CODES


@contextmanager
def s3_errors(dest, doing):
    """Translate boto3's exceptions into one line that names the destination and what to do."""
    import boto3.exceptions
    import botocore.exceptions as bx

    try:
        try:
            yield
        except boto3.exceptions.S3UploadFailedError as exc:
            # the transfer manager wraps the real error: judge by the cause, like any other call
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, (bx.ClientError, bx.BotoCoreError)):
                raise cause from None
            raise StoreError(f"S3 upload failed ({dest.describe()}): {exc}") from None
    except bx.NoCredentialsError:
        raise ConfigError(
            f"no S3 credentials for {dest.describe()}: set S3_ACCESS_KEY and S3_SECRET_KEY (or AWS_* / a profile)"
        ) from None
    except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError, bx.ConnectionClosedError) as exc:
        raise StoreError(f"S3 unreachable while {doing} ({dest.describe()}): {exc}") from None
    except bx.ClientError as exc:
        err = exc.response.get("Error", {})
        code = err.get("Code", "")
        if code in ("NoSuchBucket",):
            where = dest.endpoint_url or "AWS"
            raise StoreError(f"S3 bucket {dest.bucket!r} does not exist at {where}: check S3_BUCKET_NAME") from None
        if code in _CREDENTIAL_CODES or code == "403":
            raise StoreError(
                f"S3 refused the credentials while {doing} ({dest.describe()}): {code}; "
                "check S3_ACCESS_KEY and S3_SECRET_KEY"
            ) from None
        message = f"{code} {err.get('Message', '')}".strip()
        raise StoreError(f"S3 error while {doing} ({dest.describe()}): {message}") from None
    except bx.BotoCoreError as exc:
        raise StoreError(f"S3 failed while {doing} ({dest.describe()}): {exc}") from None


class S3Store:
    def __init__(self, dest):
        self.dest = dest
        self.page_size = PAGE_SIZE
        self._client = None

    def describe(self):
        return self.dest.describe()

    @property
    def client(self):
        if self._client is None:
            import boto3
            from botocore.config import Config as BotoConfig

            options = {"retries": {"max_attempts": 3, "mode": "standard"}, "connect_timeout": 5, "read_timeout": 60}
            if self.dest.endpoint_url:
                # S3-compatible stores: path-style addressing works everywhere; checksums only where we ask for one
                # (boto3 >= 1.36 otherwise adds CRC32 trailers that several implementations reject)
                options["s3"] = {"addressing_style": "path"}
                options["request_checksum_calculation"] = "when_required"
                options["response_checksum_validation"] = "when_required"
            kwargs = {"region_name": self.dest.region, "config": BotoConfig(**options)}
            if self.dest.endpoint_url:
                kwargs["endpoint_url"] = self.dest.endpoint_url
            if self.dest.access_key and self.dest.secret_key:
                kwargs["aws_access_key_id"] = self.dest.access_key
                kwargs["aws_secret_access_key"] = self.dest.secret_key
            self._client = boto3.session.Session().client("s3", **kwargs)
        return self._client

    def key(self, name):
        return f"{self.dest.prefix}{name}"

    def head(self, name):
        """The object's size and metadata, or None when it is not there."""
        import botocore.exceptions as bx

        with s3_errors(self.dest, f"checking {name}"):
            try:
                resp = self.client.head_object(Bucket=self.dest.bucket, Key=self.key(name), ChecksumMode="ENABLED")
            except bx.ClientError as exc:
                if _missing(exc):
                    return None
                raise
        return {
            "lock": _lock_of(resp),
            "size": resp["ContentLength"],
            # user metadata names are case-insensitive HTTP headers: Go servers (rclone, MinIO, SeaweedFS) send
            # them back canonicalised (`Sha256`), moto and s3rver as written (`sha256`)
            "metadata": {k.lower(): v for k, v in (resp.get("Metadata") or {}).items()},
            "checksum_sha256": resp.get("ChecksumSHA256"),
            # a multipart upload's checksum is of its parts' checksums (AWS writes it `...-N`, moto without the
            # suffix): only a single-part object's is the whole file's
            "multipart": "-" in (resp.get("ETag") or "") or resp.get("ChecksumType") == "COMPOSITE",
        }

    matches = staticmethod(matches)

    def upload(self, path, name, sha256, metadata):
        """Make sure the archive is in S3 with a matching checksum. Returns True when it was uploaded now."""
        size = os.path.getsize(path)
        if self.matches(self.head(name), sha256, size):
            return False
        from boto3.s3.transfer import TransferConfig

        meta = {k: str(v) for k, v in metadata.items()}
        meta["sha256"] = sha256
        extra = {"Metadata": meta, "ChecksumAlgorithm": "SHA256", "ContentType": "application/gzip"}
        extra.update(self.dest.put_args())
        if self.dest.object_lock_days:
            # the bucket must have Object Lock enabled; the host needs s3:PutObjectRetention, never a delete right
            extra["ObjectLockMode"] = self.dest.object_lock_mode
            extra["ObjectLockRetainUntilDate"] = utcnow() + dt.timedelta(days=self.dest.object_lock_days)
        transfer = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD,
            multipart_chunksize=MULTIPART_THRESHOLD,
            max_bandwidth=self.dest.max_bandwidth or None,
        )
        import botocore.exceptions as bx

        with s3_errors(self.dest, f"uploading {name}"):
            try:
                self.client.upload_file(path, self.dest.bucket, self.key(name), ExtraArgs=extra, Config=transfer)
            except Exception as exc:  # noqa: BLE001 - narrowed just below
                cause = exc if isinstance(exc, bx.ClientError) else (exc.__cause__ or exc.__context__)
                code = cause.response.get("Error", {}).get("Code") if isinstance(cause, bx.ClientError) else None
                if code not in _CHECKSUM_UNSUPPORTED:
                    raise
                # a store without S3's additional checksums: upload plainly; the HEAD below still verifies size and
                # the sha256 we put in the metadata
                del extra["ChecksumAlgorithm"]
                self.client.upload_file(path, self.dest.bucket, self.key(name), ExtraArgs=extra, Config=transfer)
        if not self.matches(self.head(name), sha256, size):
            raise StoreError(f"S3 upload of {name} did not verify: the stored object's size or checksum differs")
        return True

    def read_pointer(self):
        import botocore.exceptions as bx

        with s3_errors(self.dest, f"reading {POINTER}"):
            try:
                body = self.client.get_object(Bucket=self.dest.bucket, Key=self.key(POINTER))["Body"].read()
            except bx.ClientError as exc:
                if _missing(exc):
                    return None
                raise
        return parse_pointer(body)

    def write_pointer(self, doc):
        body = pointer_body(doc)
        with s3_errors(self.dest, f"writing {POINTER}"):
            self.client.put_object(
                Bucket=self.dest.bucket,
                Key=self.key(POINTER),
                Body=body,
                ContentType="application/json",
                **self.dest.put_args(),
            )

    def iter_archives(self):
        """Every archive under the prefix, oldest first (lexical = time order), page by page: flat memory."""
        with s3_errors(self.dest, "listing archives"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.dest.bucket,
                Prefix=self.dest.prefix,
                Delimiter="/",
                PaginationConfig={"PageSize": self.page_size},
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    name = obj["Key"][len(self.dest.prefix) :]
                    if is_archive_name(name):
                        yield {"name": name, "size": obj["Size"], "modified": obj["LastModified"].isoformat()}

    def read_prefix(self, name, length):
        """The object's first `length` bytes: one ranged GET (a server that ignores Range is read no further)."""
        import botocore.exceptions as bx

        with s3_errors(self.dest, f"reading the head of {name}"):
            try:
                resp = self.client.get_object(
                    Bucket=self.dest.bucket, Key=self.key(name), Range=f"bytes=0-{length - 1}"
                )
                body = resp["Body"]
                try:
                    return body.read(length)
                finally:
                    body.close()
            except bx.ClientError as exc:
                if _missing(exc):
                    return None
                if exc.response.get("Error", {}).get("Code") == "InvalidRange":  # an empty object has no byte 0
                    return b""
                raise
            except bx.IncompleteReadError:
                # s3rver answers a range of an empty object with a length it never sends
                head = self.head(name)
                if head is not None and head["size"] == 0:
                    return b""
                raise

    def download(self, name, path):
        with s3_errors(self.dest, f"downloading {name}"):
            self.client.download_file(self.dest.bucket, self.key(name), path)

    def lock_possible(self):
        """Whether archives here may carry an Object Lock retention: this destination sets one, or the bucket has
        Object Lock enabled (a default retention set by hand). A store that cannot tell says no (s3rver, rclone); a
        pruner not allowed to ask (AccessDenied) takes it as yes: the HEADs that follow tell."""
        import botocore.exceptions as bx

        if self.dest.object_lock_days:
            return True
        with s3_errors(self.dest, "reading the bucket's Object Lock configuration"):
            try:
                resp = self.client.get_object_lock_configuration(Bucket=self.dest.bucket)
            except bx.ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in ("AccessDenied", "403"):
                    return True
                if code == "NoSuchBucket":
                    raise
                return False  # ObjectLockConfigurationNotFoundError, NotImplemented, MethodNotAllowed, ...
        return resp.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"

    def locks(self, names, now=None):
        """{name: {"mode", "until"}} of the names whose Object Lock retention has not ended (one HEAD each)."""
        now = now or utcnow()
        found = {}
        for name in names:
            head = self.head(name)
            lock = head and head["lock"]
            if lock and dt.datetime.fromisoformat(lock["until"]) > now:
                found[name] = lock
        return found

    def delete(self, names):
        """Delete in batches of 1,000; a key S3 refused to delete is reported (after every batch was tried).

        Stores without the multi-object delete (Google Cloud Storage's S3 interface answers NotImplemented) get one
        DELETE per key instead, from the first refusal on."""
        import botocore.exceptions as bx

        names = list(names)
        refused = []
        one_by_one = False
        with s3_errors(self.dest, "deleting archives"):
            for start in range(0, len(names), 1000):
                keys = [self.key(n) for n in names[start : start + 1000]]
                if not one_by_one:
                    try:
                        resp = self.client.delete_objects(
                            Bucket=self.dest.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
                        )
                        refused += [f"{e.get('Key')} ({e.get('Code')})" for e in resp.get("Errors", [])]
                        continue
                    except bx.ClientError as exc:
                        if exc.response.get("Error", {}).get("Code") not in _NO_BATCH_DELETE:
                            raise
                        one_by_one = True
                for key in keys:
                    try:
                        self.client.delete_object(Bucket=self.dest.bucket, Key=key)
                    except bx.ClientError as exc:
                        refused.append(f"{key} ({exc.response.get('Error', {}).get('Code')})")
        if refused:
            more = f" and {len(refused) - 3} more" if len(refused) > 3 else ""
            raise StoreError(f"S3 refused to delete {', '.join(refused[:3])}{more} ({self.dest.describe()})")
