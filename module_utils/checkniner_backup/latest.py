"""Which archive is `latest`: the one place that decides it (restic's FindLatest).

- Locally: the newest regular archive in the backup directory. Names sort by time, so it is the last name;
  `-pre-restore` safety copies never count. latest.tar.gz is a convenience link for people, switched to it last by
  every save.
- In S3: the archive `<prefix>latest.json` names (one request, however many archives exist), else the newest name of
  a paginated listing (a bucket written by hand, or a pointer lost).
- Everywhere (`restore --archive latest`): the newest of those; on a tie the local copy (no download).
- Never an archive whose name is from the future (archive.is_future: later than now plus an hour, a clock gone wrong
  or a planted name): it is passed over, and a pointer naming one is ignored with a warning.
"""

from dataclasses import dataclass, field
from typing import List, Optional

from . import archive, stores
from .errors import BackupError, StoreError
from .units import utcnow


def regular(names):
    """The names of regular archives (not safety copies), in the order given."""
    return [n for n in names if not archive.is_safety_archive(n)]


def candidates(names, now=None):
    """The names that may be `latest`: regular archives not from the future, in the order given."""
    now = now or utcnow()
    return [n for n in regular(names) if not archive.is_future(n, now)]


def local_latest(bdir, now=None):
    """The newest regular archive in the backup directory that is not from the future, or None."""
    if bdir is None:
        return None
    names = candidates(bdir.archive_names(), now)
    return names[-1] if names else None


def pointer_name(pointer, now=None):
    """The archive a latest.json document names, or "" when there is none or it names the future (a pointer like
    that is replaced by the next upload, never trusted)."""
    name = (pointer or {}).get("name") or ""
    return "" if not name or archive.is_future(name, now or utcnow()) else name


def remote_latest(store, now=None):
    """(name, sha256 or None, warnings) of the newest archive of one destination; (None, None, warnings) when it has
    none."""
    now = now or utcnow()
    pointer = store.read_pointer()
    if pointer and pointer_name(pointer, now):
        return pointer["name"], pointer.get("sha256"), []
    warnings = []
    if pointer:
        warnings.append(
            f"{store.describe()}: latest.json names {pointer['name']}, later than now: ignored (a clock gone "
            "wrong, or a planted name), the newest archive listed is used instead"
        )
    newest, future = None, []
    for obj in store.iter_archives():
        name = obj["name"]
        if archive.is_safety_archive(name):
            continue
        if archive.is_future(name, now):
            future.append(name)
        else:
            newest = name
    return newest, None, warnings + _passed_over(future, store.describe())


def _passed_over(future, where):
    if not future:
        return []
    more = f" and {len(future) - 1} more" if len(future) > 1 else ""
    return [f"{where}: passed over {future[-1]}{more}, named later than now (a clock gone wrong, or a planted name)"]


@dataclass(frozen=True)
class Latest:
    name: str
    destination: Optional[object] = None  # a stores destination; None: the local directory
    sha256: Optional[str] = None  # recorded by the pointer (S3)
    warnings: List[str] = field(default_factory=list)  # what was passed over on the way (a pointer from the future)


def find_latest(config, bdir, now=None):
    """The newest archive of every configured location. A destination that cannot be reached is skipped when
    another location has an archive; raises its StoreError when none has, BackupError when there is none at all."""
    now = now or utcnow()
    local = local_latest(bdir, now)
    remote, remote_error, warnings = None, None, []
    if bdir is not None:
        future = [n for n in regular(bdir.archive_names()) if archive.is_future(n, now)]
        warnings += _passed_over(future, bdir.path)
    for dest in config.destinations:
        try:
            name, sha, passed_over = remote_latest(stores.open(dest), now)
        except StoreError as exc:
            remote_error = exc
            continue
        warnings += passed_over
        if name and (remote is None or name > remote.name):
            remote = Latest(name, dest, sha)
    if local and (remote is None or local >= remote.name):
        return Latest(local, warnings=warnings)
    if remote:
        return Latest(remote.name, remote.destination, remote.sha256, warnings)
    if remote_error is not None:
        raise remote_error
    where = bdir.path if bdir else "no CHECKNINER_BACKUP_DIR"
    raise BackupError(f"no archive to restore: none in {where}, none in {describe_remote(config)}")


def describe_remote(config):
    """Where the remote archives are, for a message: every destination, or that there is none."""
    return stores.describe_all(config.destinations)
