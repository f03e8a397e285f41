"""Where archives go, from the environment: the primary S3 destination (the seed's S3_* variables) and each name in
CHECKNINER_BACKUP_DESTINATIONS, an S3 bucket (S3_<NAME>_*) or a directory (DIR_<NAME>_PATH: a NAS, a second disk)."""

import os
import re
from dataclasses import dataclass
from typing import Optional

from ..errors import ConfigError
from ..options import SSE_MODES, STORAGE_CLASSES

DEFAULT_PREFIX = "db/"
DEFAULT_REGION = "us-east-1"
OBJECT_LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")
DESTINATIONS_VAR = "CHECKNINER_BACKUP_DESTINATIONS"
# a destination's name becomes part of variable names (S3_<NAME>_*, DIR_<NAME>_PATH) and of the outbox's directory
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class S3Destination:
    bucket: str
    prefix: str = DEFAULT_PREFIX
    endpoint_url: Optional[str] = None
    region: str = DEFAULT_REGION
    access_key: Optional[str] = None
    secret_key: Optional[str] = None
    name: str = "s3"
    object_lock_days: int = 0  # S3 Object Lock retention set on each uploaded archive; 0: none
    object_lock_mode: str = "GOVERNANCE"
    sse: Optional[str] = None  # server-side encryption each PUT asks for: AES256 (SSE-S3) or aws:kms (SSE-KMS)
    sse_kms_key_id: Optional[str] = None  # with aws:kms: the key; none: the account's default KMS key
    storage_class: Optional[str] = None  # none: the bucket's default (STANDARD)
    max_bandwidth: int = 0  # bytes per second an upload may use; 0: no limit
    kind = "s3"

    def put_args(self):
        """What every PUT of this destination carries beside its body (archives and latest.json alike: a bucket
        policy that requires encryption refuses the pointer too)."""
        args = {}
        if self.sse:
            args["ServerSideEncryption"] = self.sse
        if self.sse_kms_key_id:
            args["SSEKMSKeyId"] = self.sse_kms_key_id
        if self.storage_class:
            args["StorageClass"] = self.storage_class
        return args

    def describe(self):
        where = self.endpoint_url or "AWS"
        return f"s3://{self.bucket}/{self.prefix} at {where}"

    def lost_hint(self):
        """What removes objects behind the host's back here, for the message of an archive found missing."""
        return "a lifecycle rule, another host using the same S3_PREFIX?"


@dataclass(frozen=True)
class DirDestination:
    """A local or mounted directory. It must exist: an unmounted NAS must fail the upload, not fill the mount point.
    Object Lock is S3's: a directory has no retention a host cannot shorten (use the NAS's own snapshots)."""

    path: str
    name: str
    kind = "directory"
    object_lock_days = 0

    def describe(self):
        return f"directory {self.path}"

    def lost_hint(self):
        return "a cleanup job, or another host writing to the same directory?"


def destinations(env):
    """The primary destination plus each name in CHECKNINER_BACKUP_DESTINATIONS, whose variables carry the name:
    CHECKNINER_BACKUP_DESTINATIONS=offsite -> S3_OFFSITE_BUCKET_NAME, S3_OFFSITE_ACCESS_KEY, S3_OFFSITE_SECRET_KEY,
    S3_OFFSITE_ENDPOINT_URL, S3_OFFSITE_REGION, S3_OFFSITE_PREFIX, S3_OFFSITE_OBJECT_LOCK_DAYS,
    S3_OFFSITE_OBJECT_LOCK_MODE; or, when DIR_OFFSITE_PATH is set, that directory. Without S3_BUCKET_NAME the named
    destinations are the only ones. Each destination has its own outbox and its own latest.json."""
    primary = _s3(env, lambda suffix: f"S3_{suffix}", "s3")
    found = [primary] if primary else []
    for name in _names(env.get(DESTINATIONS_VAR, "")):
        if name == "s3" or any(d.name == name for d in found):
            raise ConfigError(f"{DESTINATIONS_VAR} names {name!r} twice (s3 is the primary destination)")
        found.append(_named(env, name))
    return found


def _names(value):
    names = [n.strip() for n in (value or "").split(",") if n.strip()]
    bad = [n for n in names if not _NAME.match(n)]
    if bad:
        raise ConfigError(
            f"{DESTINATIONS_VAR} has invalid destination names: {', '.join(bad)} "
            "(letters, digits and _, not starting with a digit, e.g. offsite,nas)"
        )
    return [n.lower() for n in names]


def _named(env, name):
    upper = name.upper()
    path_var = f"DIR_{upper}_PATH"
    path = (env.get(path_var) or "").strip()
    if not path:
        extra = _s3(env, lambda suffix: f"S3_{upper}_{suffix}", name)
        if extra is None:
            raise ConfigError(f"destination {name!r} has no bucket: set S3_{upper}_BUCKET_NAME")
        return extra
    if (env.get(f"S3_{upper}_BUCKET_NAME") or "").strip():
        raise ConfigError(f"destination {name!r} has both {path_var} and S3_{upper}_BUCKET_NAME: keep one")
    if (env.get(f"S3_{upper}_OBJECT_LOCK_DAYS") or "0").strip() != "0":
        raise ConfigError(
            f"destination {name!r} is a directory ({path_var}): Object Lock is S3's, unset S3_{upper}_OBJECT_LOCK_DAYS"
        )
    if not os.path.isabs(path):
        raise ConfigError(f"{path_var} must be an absolute path (the cron job's working directory is not yours)")
    return DirDestination(path=os.path.normpath(path), name=name)


def _s3(env, var, name):
    """One S3 destination from its variables; var(suffix) names them (S3_BUCKET_NAME, S3_OFFSITE_BUCKET_NAME, ...)."""
    bucket = env.get(var("BUCKET_NAME"), "").strip()
    if not bucket:
        return None
    prefix = env.get(var("PREFIX"), DEFAULT_PREFIX)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return S3Destination(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=env.get(var("ENDPOINT_URL")) or None,
        region=env.get(var("REGION")) or DEFAULT_REGION,
        access_key=env.get(var("ACCESS_KEY")) or None,
        secret_key=env.get(var("SECRET_KEY")) or None,
        name=name,
        object_lock_days=_lock_days(env, var("OBJECT_LOCK_DAYS")),
        object_lock_mode=_lock_mode(env, var("OBJECT_LOCK_MODE")),
        **_put_options(env, var),
    )


def _put_options(env, var):
    """SSE, SSE_KMS_KEY_ID, STORAGE_CLASS and MAX_BANDWIDTH of one S3 destination, checked."""
    sse = (env.get(var("SSE")) or "").strip()
    if sse and sse.lower() not in [m.lower() for m in SSE_MODES]:
        raise ConfigError(f"{var('SSE')} must be AES256 (SSE-S3) or aws:kms (SSE-KMS), not {sse!r}")
    sse = next((m for m in SSE_MODES if m.lower() == sse.lower()), None) if sse else None
    key_id = (env.get(var("SSE_KMS_KEY_ID")) or "").strip() or None
    if key_id and sse != "aws:kms":
        raise ConfigError(f"{var('SSE_KMS_KEY_ID')} is a KMS key: set {var('SSE')}=aws:kms with it")
    storage = (env.get(var("STORAGE_CLASS")) or "").strip().upper() or None
    if storage and storage not in STORAGE_CLASSES:
        raise ConfigError(
            f"{var('STORAGE_CLASS')} must be one of {', '.join(STORAGE_CLASSES)}, not {storage!r} (restores and the "
            "drill read archives at once: move old ones to an archive class with a lifecycle rule instead)"
        )
    raw = (env.get(var("MAX_BANDWIDTH")) or "").strip()
    if raw and not raw.isdigit():
        raise ConfigError(
            f"{var('MAX_BANDWIDTH')} must be a whole number of bytes per second (0: no limit), not {raw!r}"
        )
    return {"sse": sse, "sse_kms_key_id": key_id, "storage_class": storage, "max_bandwidth": int(raw or 0)}


def _lock_days(env, name):
    raw = (env.get(name) or "").strip()
    if not raw:
        return 0
    if not raw.isdigit():
        raise ConfigError(f"{name} must be a whole number of days (empty or 0: no Object Lock), not {raw!r}")
    return int(raw)


def _lock_mode(env, name):
    raw = (env.get(name) or "").strip()
    mode = raw.upper() or OBJECT_LOCK_MODES[0]
    if mode not in OBJECT_LOCK_MODES:
        raise ConfigError(f"{name} must be GOVERNANCE or COMPLIANCE, not {raw!r}")
    return mode


def describe_all(dests):
    """Where the remote archives are, for a message: every destination, or that there is none."""
    return ", ".join(d.describe() for d in dests) or "no S3 destination configured"
