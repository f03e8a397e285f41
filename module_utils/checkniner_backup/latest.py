"""Which archive is `latest`: the one place that decides it (restic's FindLatest).

- Locally: the newest regular archive in the backup directory. Names sort by time, so it is the last name;
  `-pre-restore` safety copies never count. latest.tar.gz is a convenience link for people, switched to it last by
  every save.
- In S3: the archive `<prefix>latest.json` names (one request, however many archives exist), else the newest name of
  a paginated listing (a bucket written by hand, or a pointer lost).
- Everywhere (`restore --archive latest`): the newest of those; on a tie the local copy (no download).
"""

from dataclasses import dataclass
from typing import Optional

from . import archive
from .errors import BackupError, StoreError
from .s3 import S3Store


def regular(names):
    """The names of regular archives (not safety copies), in the order given."""
    return [n for n in names if not archive.is_safety_archive(n)]


def local_latest(bdir):
    """The newest regular archive in the backup directory, or None."""
    if bdir is None:
        return None
    names = regular(bdir.archive_names())
    return names[-1] if names else None


def remote_latest(store):
    """(name, sha256 or None) of the newest archive of one destination, or (None, None)."""
    pointer = store.read_pointer()
    if pointer:
        return pointer["name"], pointer.get("sha256")
    newest = None
    for obj in store.iter_archives():
        if not archive.is_safety_archive(obj["name"]):
            newest = obj["name"]
    return newest, None


@dataclass(frozen=True)
class Latest:
    name: str
    destination: Optional[object] = None  # config.S3Destination; None: the local directory
    sha256: Optional[str] = None  # recorded by the pointer (S3)


def find_latest(config, bdir):
    """The newest archive of every configured location. A destination that cannot be reached is skipped when
    another location has an archive; raises its StoreError when none has, BackupError when there is none at all."""
    local = local_latest(bdir)
    remote, remote_error = None, None
    for dest in config.destinations:
        try:
            name, sha = remote_latest(S3Store(dest))
        except StoreError as exc:
            remote_error = exc
            continue
        if name and (remote is None or name > remote.name):
            remote = Latest(name, dest, sha)
    if local and (remote is None or local >= remote.name):
        return Latest(local)
    if remote:
        return remote
    if remote_error is not None:
        raise remote_error
    where = bdir.path if bdir else "no CHECKNINER_BACKUP_DIR"
    remote_where = ", ".join(d.describe() for d in config.destinations) or "no S3 destination configured"
    raise BackupError(f"no archive to restore: none in {where}, none in {remote_where}")
