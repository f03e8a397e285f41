"""The local archive directory (CHECKNINER_BACKUP_DIR): archives, the latest.tar.gz link, work directories and the
outbox, one queue per S3 destination (outbox/<destination>/<name>: queued when saved, dequeued once S3 confirmed it).
An archive is queued for every destination before it is renamed into place, so an archive here that is in no outbox of
a destination is in it, once the directory was reconciled with that destination (backup/reconcile.py).

state.json is state.py's, the lock lock.py's, which archive is latest latest.py's.
"""

import glob
import os
import shutil

from . import archive, scratchdir
from .errors import ConfigError
from .fsutil import atomic_write_json, replace_symlink
from .units import utcnow

OUTBOX = "outbox"


class BackupDir:
    def __init__(self, path, create=True):
        self.path = os.path.abspath(path)
        if create:
            try:
                os.makedirs(self.path, mode=0o750, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot create CHECKNINER_BACKUP_DIR {self.path}: {exc.strerror}") from None
            if not os.access(self.path, os.W_OK | os.X_OK):
                raise ConfigError(f"CHECKNINER_BACKUP_DIR {self.path} is not writable by this user")

    def join(self, *parts):
        return os.path.join(self.path, *parts)

    def archive_names(self):
        """Every archive in the directory, oldest first (lexical order is time order)."""
        try:
            entries = os.listdir(self.path)
        except FileNotFoundError:
            return []
        return sorted(n for n in entries if archive.is_archive_name(n))

    def point_latest_at(self, name):
        """latest.tar.gz -> name: the seed's manual commands (`tar -xzf latest.tar.gz ...`) keep working."""
        replace_symlink(name, self.join(archive.LATEST))

    def link_target(self):
        """The archive latest.tar.gz points at, or None (no link, or a link to nothing). Prune never deletes it, so
        the link never dangles, even when an operator pointed it at an older archive."""
        link = self.join(archive.LATEST)
        if not os.path.islink(link) and not os.path.exists(link):
            return None
        target = os.path.realpath(link)
        name = os.path.basename(target)
        if os.path.dirname(target) != os.path.realpath(self.path) or not archive.is_archive_name(name):
            return None
        return name if os.path.exists(target) else None

    def make_workdir(self, tag=""):
        """A private directory for one command's members; a killed command's is removed by clean_leftovers."""
        path = self.join(f".work-{os.getpid()}{'-' + tag if tag else ''}")
        os.makedirs(path, mode=0o700)
        return path

    def clean_leftovers(self):
        """What a killed run left: temp files and work directories (called under the lock)."""
        for path in glob.glob(self.join(".tmp-*")) + glob.glob(self.join(OUTBOX, "*", ".tmp-*")):
            try:
                os.unlink(path)
            except OSError:
                pass
        for path in glob.glob(self.join(".work-*")):
            shutil.rmtree(path, ignore_errors=True)
        # and a killed restore's or verify's (a decrypted archive among them): every five minutes, cron's run clears it
        scratchdir.remove_stale()

    # -- the outbox ------------------------------------------------------------------------------------------

    def pending(self, destination):
        """Names waiting for the destination (by its name), oldest first."""
        try:
            names = os.listdir(self.join(OUTBOX, destination))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(n for n in names if archive.is_archive_name(n))

    def outboxed(self):
        """Every archive waiting in any outbox, also those of destinations no longer configured."""
        try:
            boxes = sorted(os.listdir(self.join(OUTBOX)))
        except (FileNotFoundError, NotADirectoryError):
            return set()
        return {name for box in boxes for name in self.pending(box)}

    def enqueue(self, destination, name):
        directory = self.join(OUTBOX, destination)
        os.makedirs(self.join(OUTBOX), mode=0o750, exist_ok=True)
        os.makedirs(directory, mode=0o750, exist_ok=True)
        atomic_write_json(os.path.join(directory, name), {"queued": utcnow().isoformat()})

    def dequeue(self, destination, name):
        try:
            os.unlink(self.join(OUTBOX, destination, name))
        except FileNotFoundError:
            pass


# -- what each destination still lacks ---------------------------------------------------------------------------


def unreconciled(bdir, state, destination):
    """Regular archives here not queued for a destination this directory was not reconciled with yet (configured
    since they were saved, or a state file older than reconciliation): every one of them, the next run finds out
    which the destination lacks (backup/reconcile.py). Safety archives are never uploaded. [] once reconciled."""
    if state.reconciled(destination):
        return []
    queued = set(bdir.pending(destination))
    return [n for n in bdir.archive_names() if not archive.is_safety_archive(n) and n not in queued]


def waiting(config, bdir, state):
    """{destination name: archives here it does not hold yet as far as this directory knows}, oldest first: those
    queued (whose file is still here) and those not reconciled yet."""
    present = set(bdir.archive_names())
    return {
        d.name: sorted((set(bdir.pending(d.name)) & present) | set(unreconciled(bdir, state, d.name)))
        for d in config.destinations
    }


def pending_count(config, bdir, state):
    """Archives waiting for upload, all destinations (what `status` calls pending_uploads)."""
    return sum(len(names) for names in waiting(config, bdir, state).values())
