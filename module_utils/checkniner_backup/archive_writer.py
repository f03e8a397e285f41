"""The one way an archive is written, below both flows: a run's new archive (backup/save.py) and a restore's
pre-restore safety archive (restore/target.py) both come through write(), which builds the manifest (manifest.py),
signs it with the host's key (signing.py, when CHECKNINER_SIGNING_KEY is set), writes the tar.gz (archive.py) and
encrypts it (crypto.py, when BACKUPS_GPG_RECIPIENT is set)."""

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from typing import Optional

from . import archive, child_env, crypto, lock, manifest, pg, signing
from . import config as config_mod
from .errors import BackupError
from .local import BackupDir
from .snapshot import Snapshot, take
from .units import utcnow


@dataclass(frozen=True)
class Capture:
    """Everything one snapshot produced that its archive is made of: what package() and manifest.build() read."""

    config: config_mod.Config
    preflight: pg.Preflight
    snapshot_id: str
    taken_at: dt.datetime
    snap: Snapshot
    workdir: str  # the 0700 work directory holding the snapshot's member files
    sql_only: Optional[str] = None  # why the snapshot holds no fixtures (a safety archive of a damaged database)
    sequence: Optional[int] = None  # the host's save sequence (state.next_sequence); None: a safety archive


def preflight(config):
    """What is checked before any dump that ends in an archive, so that nothing fails after the dump: the server
    answers and pg_dump can read it, the signing key is usable, and the GnuPG recipient's public key is there
    (encrypted like every archive, or not written at all). Returns pg.Preflight."""
    found = pg.preflight(config.database, child_env.libpq(config))
    signing.signing_key(config)
    if config.gpg_recipient:
        crypto.check_recipient(config.gpg_recipient, child_env.gpg(config))
    return found


def package(capture, path):
    """Package a complete Snapshot as the archive at path (its name is the file name), signed when the host has a
    signing key. Returns the archive's size."""
    key = signing.signing_key(capture.config)
    sign = (lambda data: signing.sign(key, data)) if key else None
    doc = manifest.build(capture, os.path.basename(path))
    mtime = int(capture.taken_at.timestamp())
    return archive.write_archive(path, manifest.member_files(doc, capture.workdir), doc, mtime, sign)


def write(capture, bdir, name):
    """Package the archive into the backup directory, encrypted to BACKUPS_GPG_RECIPIENT when it is set: the clear
    archive is written in the 0700 work directory, removed once encrypted, and never reaches the backup directory.
    Returns (the name as written, with .gpg when encrypted; its size)."""
    config = capture.config
    if not config.gpg_recipient:
        return name, package(capture, bdir.join(name))
    clear = os.path.join(capture.workdir, name)
    package(capture, clear)
    name += crypto.SUFFIX
    try:
        size = crypto.encrypt(clear, bdir.join(name), config.gpg_recipient, child_env.gpg(config))
    finally:
        os.unlink(clear)  # now, not with the work directory: the clear copy lives no longer than gpg reads it
    return name, size


@dataclass(frozen=True)
class SafetyArchive:
    name: str
    sql_only: Optional[str] = None  # why the application's fixtures are missing, when they are


def save_safety_archive(config):
    """Archive the live database as it is now, `<stamp>-pre-restore.tar.gz` (`.gpg` when archives are encrypted),
    under the run lock (waiting for a run that holds it). Never named latest, never uploaded.

    A live database damaged by hand (a table dropped) is what a restore is for, and the application's Django may not
    be able to read it: the safety archive then holds pg_dump's SQL alone (from the same snapshot), and says why.
    """
    bdir = BackupDir(config.require_backup_dir())
    with lock.run_lock(bdir.path, wait=lock.WAIT, nothing_done="no safety archive, nothing restored"):
        found = preflight(config)  # a broken signing key or a missing public key fails here, before the dump
        workdir = bdir.make_workdir("pre-restore")
        try:
            with pg.exported_snapshot(config.database) as (snapshot_id, _settled):
                taken_at = utcnow()
                sql_only = None
                try:
                    snap = take(config, workdir, lambda _business: True, snapshot_id)
                    if not snap.complete or snap.sql is None:
                        raise BackupError("the dump came out incomplete")
                except BackupError as exc:
                    sql_only = str(exc)
                    snap = _sql_only(config, workdir, snapshot_id)
            capture = Capture(config, found, snapshot_id, taken_at, snap, workdir, sql_only)
            name = archive.name_for(taken_at, bdir.archive_names(), suffix=archive.safety_suffix())
            name, _size = write(capture, bdir, name)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return SafetyArchive(name, sql_only)


def _sql_only(config, workdir, snapshot_id):
    """pg_dump alone, into a work directory emptied of what the failed dump left."""
    for entry in os.listdir(workdir):
        if not entry.startswith("."):
            os.unlink(os.path.join(workdir, entry))
    sql = pg.pg_dump(
        config.database, snapshot_id, os.path.join(workdir, f"{config.database.name}.sql"), child_env.libpq(config)
    )
    return Snapshot(sql=sql, complete=True)
