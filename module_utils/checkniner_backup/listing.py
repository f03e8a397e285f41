"""Read-only views: which archives exist, locally and in S3, and the status of the runs (`list`, `status`, and the
archive_info module)."""

import os

from . import archive, health, latest, stores
from .errors import ConfigError
from .local import BackupDir, pending_count, waiting
from .state import State
from .units import utcnow


def local_archives(cfg, bdir=None):
    """Rows (oldest first) for every archive in CHECKNINER_BACKUP_DIR: name, size, fingerprint, pending_upload
    (destinations still to send it to), location "local", latest, future (named later than now: never latest)."""
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
            {
                "name": name,
                "size": os.path.getsize(bdir.join(name)),
                "fingerprint": state.archive(name).get("fingerprint"),
                "pending_upload": pending.get(name, []),
                "location": "local",
                "latest": name == newest,
                "future": archive.is_future(name, now),
            }
        )
    return rows


def remote_pointers(cfg):
    """{destination name: latest.json document or None}: one request per destination."""
    return {dest.name: stores.open(dest).read_pointer() for dest in cfg.destinations}


def remote_archives(cfg):
    """Rows (oldest first per destination) for every archive in S3: name, size, modified, location, latest,
    future, lock ({"mode", "until"} while its Object Lock retention lasts, else None: one HEAD per archive, only in
    destinations where a lock is possible)."""
    if not cfg.destinations:
        raise ConfigError("S3 is not configured: set S3_BUCKET_NAME to list remote archives")
    rows, now = [], utcnow()
    for dest in cfg.destinations:
        store = stores.open(dest)
        pointer = store.read_pointer() or {}
        lockable = store.lock_possible()
        for obj in store.iter_archives():
            future = archive.is_future(obj["name"], now)
            obj.update(location=dest.name, latest=obj["name"] == pointer.get("name") and not future, future=future)
            obj["lock"] = store.locks([obj["name"]], now).get(obj["name"]) if lockable else None
            rows.append(obj)
    return rows


def status(cfg):
    """What the last runs, drill and prune did, and what waits for upload (`status --json`)."""
    bdir = BackupDir(cfg.require_backup_dir(), create=False)
    state = State.load(bdir)
    drill, drill_success = state.job("drill")
    prune, prune_success = state.job("prune")
    return {
        "backup_dir": bdir.path,
        "archives": len(bdir.archive_names()),
        "latest": latest.local_latest(bdir),
        "fingerprint": state.last.get("fingerprint"),
        "last_run": state.last_run,
        "last_success": state.last_success,
        "last_change": state.last_change,
        "pending_uploads": pending_count(cfg, bdir, state),
        "destinations": [d.describe() for d in cfg.destinations],
        "schedule_minutes": cfg.schedule_minutes,
        **health.staleness(state.last_success, 3 * cfg.schedule_minutes * 60),
        # the daily drill: stale when none passed within two days (a missed day, or a drill that keeps failing)
        "last_drill": drill or None,
        "last_drill_success": drill_success,
        "drill_stale": health.staleness(drill_success, health.DRILL_STALE_SECONDS)["stale"],
        "last_prune": prune or None,
        "last_prune_success": prune_success,
        "warnings": state.warnings,
    }
