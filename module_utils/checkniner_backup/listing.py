"""Read-only views: which archives exist, locally and in S3, and the status of the runs (`list`, `status`, and the
archive_info module)."""

import os
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

from . import archive, health, latest, stores
from .errors import ConfigError
from .local import BackupDir, pending_count, waiting
from .state import State
from .units import utcnow


@dataclass
class LocalArchive:
    """One archive in CHECKNINER_BACKUP_DIR (`list`, the archive_info module's archives)."""

    name: str
    size: int
    fingerprint: Optional[str]
    pending_upload: List[str]  # destinations still to send it to
    location: str  # "local"
    latest: bool
    future: bool  # named later than now: never latest

    def as_dict(self):
        return asdict(self)


@dataclass
class RemoteArchive:
    """One archive in a destination (`list --remote`, the archive_info module's remote_archives)."""

    name: str
    size: int
    modified: str
    location: str  # the destination's name
    latest: bool
    future: bool
    lock: Optional[dict] = None  # {"mode", "until"} while its Object Lock retention lasts

    def as_dict(self):
        return asdict(self)


@dataclass
class RemotePointers:
    """Each destination's latest.json document, or None where it has none."""

    pointers: Dict[str, Optional[dict]]

    def as_dict(self):
        return dict(self.pointers)

    def names(self):
        """{destination: the archive its pointer names, or None}."""
        return {dest: (doc or {}).get("name") for dest, doc in self.pointers.items()}


@dataclass
class Status:
    """What the last runs, drill and prune did, and what waits for upload (`status --json`)."""

    backup_dir: str
    archives: int
    latest: Optional[str]
    fingerprint: Optional[str]
    last_run: Optional[dict]
    last_success: Optional[str]
    last_change: Optional[str]
    pending_uploads: int
    destinations: List[str]
    schedule_minutes: int
    stale: bool
    seconds_since_success: Optional[float]
    limit_seconds: int
    last_drill: Optional[dict]
    last_drill_success: Optional[str]
    drill_stale: bool
    last_prune: Optional[dict]
    last_prune_success: Optional[str]
    warnings: List[str] = field(default_factory=list)
    # {model: why} the models Django's serializer wrote in the last dump (the fast path declined them), and when
    serializer_models: Dict[str, str] = field(default_factory=dict)
    serializer_models_at: Optional[str] = None

    def as_dict(self):
        return asdict(self)


def local_archives(cfg, bdir=None) -> List[LocalArchive]:
    """A LocalArchive for every archive in CHECKNINER_BACKUP_DIR, oldest first."""
    bdir = bdir or BackupDir(cfg.require_backup_dir(), create=False)
    state = State.load(bdir)
    pending = {}
    for dest, names in waiting(cfg, bdir, state).items():
        for name in names:
            pending.setdefault(name, []).append(dest)
    now = utcnow()
    newest = latest.local_latest(bdir, now)
    rows = []
    for name in bdir.archive_names():
        rows.append(
            LocalArchive(
                name=name,
                size=os.path.getsize(bdir.join(name)),
                fingerprint=state.archive(name).get("fingerprint"),
                pending_upload=pending.get(name, []),
                location="local",
                latest=name == newest,
                future=archive.is_future(name, now),
            )
        )
    return rows


def remote_pointers(cfg) -> RemotePointers:
    """RemotePointers: each destination's latest.json document or None, one request per destination."""
    return RemotePointers({dest.name: stores.open(dest).read_pointer() for dest in cfg.destinations})


def remote_archives(cfg) -> List[RemoteArchive]:
    """A RemoteArchive for every archive in S3, oldest first per destination; its lock is read with one HEAD per
    archive, only in destinations where a lock is possible."""
    if not cfg.destinations:
        raise ConfigError("S3 is not configured: set S3_BUCKET_NAME to list remote archives")
    rows, now = [], utcnow()
    for dest in cfg.destinations:
        store = stores.open(dest)
        pointer = store.read_pointer() or {}
        lockable = store.lock_possible()
        for obj in store.iter_archives():
            name = obj["name"]
            future = archive.is_future(name, now)
            latest_ = name == pointer.get("name") and not future
            lock = store.locks([name], now).get(name) if lockable else None
            rows.append(RemoteArchive(name, obj["size"], obj["modified"], dest.name, latest_, future, lock))
    return rows


def status(cfg) -> Status:
    """The Status of this host's backups."""
    bdir = BackupDir(cfg.require_backup_dir(), create=False)
    state = State.load(bdir)
    drill, drill_success = state.job("drill")
    prune, prune_success = state.job("prune")
    slow, slow_at = state.serializer_models
    return Status(
        backup_dir=bdir.path,
        archives=len(bdir.archive_names()),
        latest=latest.local_latest(bdir),
        fingerprint=state.last.get("fingerprint"),
        last_run=state.last_run,
        last_success=state.last_success,
        last_change=state.last_change,
        pending_uploads=pending_count(cfg, bdir, state),
        destinations=[d.describe() for d in cfg.destinations],
        schedule_minutes=cfg.schedule_minutes,
        **health.staleness(state.last_success, 3 * cfg.schedule_minutes * 60),
        # the daily drill: stale when none passed within two days (a missed day, or a drill that keeps failing)
        last_drill=drill or None,
        last_drill_success=drill_success,
        drill_stale=health.staleness(drill_success, health.DRILL_STALE_SECONDS)["stale"],
        last_prune=prune or None,
        last_prune_success=prune_success,
        serializer_models=slow,
        serializer_models_at=slow_at,
        warnings=state.warnings,
    )
