"""Which archives exist, locally and in S3, and which one is `latest`: read-only, shared by `list` and the modules."""

import os

from . import archive
from .errors import ConfigError
from .runner import BackupDir
from .stores import S3Store


def local_latest(bdir):
    """The archive latest.tar.gz points at, or None (no link, or a link to nothing)."""
    link = bdir.join(archive.LATEST)
    if not os.path.islink(link) and not os.path.exists(link):
        return None
    target = os.path.realpath(link)
    name = os.path.basename(target)
    if os.path.dirname(target) != os.path.realpath(bdir.path) or not archive.is_archive_name(name):
        return None
    return name if os.path.exists(target) else None


def local_archives(cfg, bdir=None):
    """Rows (oldest first) for every archive in CHECKNINER_BACKUP_DIR: name, size, fingerprint, pending_upload
    (destinations still to send it to), location "local", latest."""
    bdir = bdir or BackupDir(cfg.require_backup_dir(), create=False)
    state = bdir.state()
    pending = {}
    for dest in cfg.destinations:
        for name in bdir.pending(dest):
            pending.setdefault(name, []).append(dest.name)
    latest = local_latest(bdir)
    rows = []
    for name in bdir.archive_names():
        path = bdir.join(name)
        info = (state.get("archives") or {}).get(name, {})
        rows.append(
            {
                "name": name,
                "size": os.path.getsize(path),
                "fingerprint": info.get("fingerprint"),
                "pending_upload": pending.get(name, []),
                "location": "local",
                "latest": name == latest,
            }
        )
    return rows


def remote_pointers(cfg):
    """{destination name: latest.json document or None}: one request per destination."""
    return {dest.name: S3Store(dest).read_pointer() for dest in cfg.destinations}


def remote_archives(cfg):
    """Rows (oldest first per destination) for every archive in S3: name, size, modified, location, latest."""
    if not cfg.destinations:
        raise ConfigError("S3 is not configured: set S3_BUCKET_NAME to list remote archives")
    rows = []
    for dest in cfg.destinations:
        store = S3Store(dest)
        pointer = store.read_pointer() or {}
        for obj in store.iter_archives():
            obj.update(location=dest.name, latest=obj["name"] == pointer.get("name"))
            rows.append(obj)
    return rows
