"""The one way an archive is written: a run's new archive and a restore's pre-restore safety archive both come
through package(), which builds the manifest (manifest.py) and the tar.gz (archive.py)."""

import os
import shutil

from .. import archive, crypto, lock, manifest, pg
from ..errors import BackupError
from ..fingerprint import file_sha256
from ..local import BackupDir
from ..snapshot import take
from ..units import utcnow


def package(config, path, workdir, taken_at, preflight, snapshot_id, snap):
    """Package a complete Snapshot taken into workdir as the archive at path (its name is the file name). Returns
    the archive's size."""
    doc = manifest.build(config, os.path.basename(path), taken_at, preflight, snapshot_id, snap)
    return archive.write_archive(path, manifest.member_files(doc, workdir), doc, int(taken_at.timestamp()))


def save_new(config, bdir, state, workdir, taken_at, preflight, snapshot_id, snap, fingerprint):
    """A run's new archive: packaged (and encrypted), recorded in the state, queued for every destination, and only
    then named by latest.tar.gz. Returns (name, size)."""
    name = archive.name_for(taken_at, bdir.archive_names())
    final = name + crypto.SUFFIX if config.gpg_recipient else name
    # queued before it exists: a run killed after the rename never leaves an archive no outbox knows (one killed
    # before it leaves a queued name without a file, which the upload drops)
    for dest in config.destinations:
        bdir.enqueue(dest.name, final)
    if config.gpg_recipient:
        # the clear archive never reaches the backup directory; only the encrypted one is kept and sent
        clear = os.path.join(workdir, name)
        package(config, clear, workdir, taken_at, preflight, snapshot_id, snap)
        size = crypto.encrypt(clear, bdir.join(final), config.gpg_recipient, config.env)
    else:
        size = package(config, bdir.join(final), workdir, taken_at, preflight, snapshot_id, snap)
    name = final
    sha256 = file_sha256(bdir.join(name))
    state.record_saved(name, sha256, size, fingerprint)
    state.save()
    bdir.point_latest_at(name)
    return name, size


def save_safety_archive(config):
    """Archive the live database as it is now, `<stamp>-pre-restore.tar.gz`, under the run lock (waiting for a run
    that holds it). Returns the archive's name. Never named latest, never uploaded."""
    bdir = BackupDir(config.require_backup_dir())
    with lock.run_lock(bdir.path, wait=lock.WAIT, nothing_done="no safety archive, nothing restored"):
        preflight = pg.preflight(config.database, config.env)
        workdir = bdir.make_workdir("pre-restore")
        try:
            with pg.exported_snapshot(config.database) as (snapshot_id, _settled):
                taken_at = utcnow()
                snap = take(config, workdir, lambda _business: True, snapshot_id)
            if not snap.complete or snap.sql is None:
                raise BackupError("the pre-restore safety archive came out incomplete: nothing restored")
            name = archive.name_for(taken_at, bdir.archive_names(), suffix=archive.safety_suffix())
            package(config, bdir.join(name), workdir, taken_at, preflight, snapshot_id, snap)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return name
