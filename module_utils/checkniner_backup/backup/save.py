"""The one way an archive is written: a run's new archive and a restore's pre-restore safety archive both come
through package(), which builds the manifest (manifest.py), signs it with the host's key (signing.py, when
CHECKNINER_SIGNING_KEY is set) and writes the tar.gz (archive.py)."""

import os
import shutil
from dataclasses import dataclass
from typing import Optional

from .. import archive, child_env, crypto, lock, manifest, pg, signing
from ..errors import BackupError
from ..fingerprint import file_sha256
from ..local import BackupDir
from ..snapshot import Snapshot, take
from ..units import utcnow


def package(config, path, workdir, taken_at, preflight, snapshot_id, snap, sql_only=None):
    """Package a complete Snapshot taken into workdir as the archive at path (its name is the file name), signed
    when the host has a signing key. Returns the archive's size. sql_only: why the snapshot holds no fixtures (a
    safety archive of a damaged database)."""
    key = signing.signing_key(config)
    sign = (lambda data: signing.sign(key, data)) if key else None
    doc = manifest.build(config, os.path.basename(path), taken_at, preflight, snapshot_id, snap, sql_only)
    return archive.write_archive(path, manifest.member_files(doc, workdir), doc, int(taken_at.timestamp()), sign)


def _write(config, bdir, name, workdir, taken_at, preflight, snapshot_id, snap, sql_only=None):
    """Package the archive into the backup directory, encrypted to BACKUPS_GPG_RECIPIENT when it is set: the clear
    archive is written in the 0700 work directory, removed once encrypted, and never reaches the backup directory.
    Returns (the name as written, with .gpg when encrypted; its size)."""
    if not config.gpg_recipient:
        return name, package(config, bdir.join(name), workdir, taken_at, preflight, snapshot_id, snap, sql_only)
    clear = os.path.join(workdir, name)
    package(config, clear, workdir, taken_at, preflight, snapshot_id, snap, sql_only)
    name += crypto.SUFFIX
    try:
        size = crypto.encrypt(clear, bdir.join(name), config.gpg_recipient, child_env.gpg(config))
    finally:
        os.unlink(clear)  # now, not with the work directory: the clear copy lives no longer than gpg reads it
    return name, size


def save_new(config, bdir, state, workdir, taken_at, preflight, snapshot_id, snap, fingerprint):
    """A run's new archive: packaged (and encrypted), recorded in the state, queued for every destination, and only
    then named by latest.tar.gz. Returns (name, size)."""
    name = archive.name_for(taken_at, bdir.archive_names())
    final = name + crypto.SUFFIX if config.gpg_recipient else name
    # queued before it exists: a run killed after the rename never leaves an archive no outbox knows (one killed
    # before it leaves a queued name without a file, which the upload drops)
    for dest in config.destinations:
        bdir.enqueue(dest.name, final)
    name, size = _write(config, bdir, name, workdir, taken_at, preflight, snapshot_id, snap)
    sha256 = file_sha256(bdir.join(name))
    state.record_saved(name, sha256, size, fingerprint)
    state.save()
    bdir.point_latest_at(name)
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
        preflight = pg.preflight(config.database, child_env.libpq(config))
        signing.signing_key(config)  # a broken signing key fails here, before the dump, not after it
        if config.gpg_recipient:  # and a missing public key: encrypted like every archive, or not written at all
            crypto.check_recipient(config.gpg_recipient, child_env.gpg(config))
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
            name = archive.name_for(taken_at, bdir.archive_names(), suffix=archive.safety_suffix())
            name, _size = _write(config, bdir, name, workdir, taken_at, preflight, snapshot_id, snap, sql_only)
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
