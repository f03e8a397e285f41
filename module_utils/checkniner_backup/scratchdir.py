"""Private work directories of restore and verify: where an archive is downloaded, decrypted and extracted, so where
clear data exists while they run.

`cnb-restore-<pid>-XXXX` in the temp directory (TMPDIR, else /tmp), mode 0700, holding `.lock`, on which the command
keeps an exclusive flock for as long as the directory exists. The command removes its directory on every exit it
sees (signals included: restore/runtime.py); a `kill -9`, an OOM kill or a power cut leaves it behind, and then the
next command (`run`, `restore` or `verify` of the same user) removes it: a directory whose lock nobody holds belongs
to a dead process, however its pid was reused since.
"""

import contextlib
import fcntl
import glob
import os
import shutil
import tempfile
import time

PREFIX = "cnb-restore-"
LOCK = ".lock"
# a directory without a lock file: made by a version before the lock (or caught between mkdtemp and the lock);
# removed once this old, when nothing can still be using it
UNLOCKED_GRACE_SECONDS = 24 * 3600


@contextlib.contextmanager
def private_workdir(base=None, cleanup=None):
    """A fresh 0700 directory, locked while in use, removed afterwards. cleanup: a context manager factory entered
    around the removal (the restore holds signals off while it cleans). What dead commands left goes first."""
    remove_stale(base)
    # made under a hidden name and locked before it is renamed to the name remove_stale looks at: no other command
    # can find it unlocked and take it for a dead one's
    hidden = tempfile.mkdtemp(prefix=f".{PREFIX}{os.getpid()}-", dir=base)  # mode 0700
    fd = os.open(os.path.join(hidden, LOCK), os.O_RDWR | os.O_CREAT, 0o600)
    path = os.path.join(os.path.dirname(hidden), os.path.basename(hidden)[1:])
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(hidden, path)
        yield path
    finally:
        with cleanup() if cleanup else contextlib.nullcontext():
            shutil.rmtree(path if os.path.isdir(path) else hidden, ignore_errors=True)
            os.close(fd)


def remove_stale(base=None, now=None):
    """Remove the work directories of this user's dead commands in `base` (the temp directory by default). Returns
    the paths removed. Never raises: cleaning up must not stop the command that does it."""
    removed = []
    now = now or time.time()
    base = base or tempfile.gettempdir()
    for path in glob.glob(os.path.join(base, f"{PREFIX}*")) + glob.glob(os.path.join(base, f".{PREFIX}*")):
        try:
            info = os.lstat(path)
            if info.st_uid != os.getuid() or not os.path.isdir(path) or os.path.islink(path):
                continue
            if _in_use(path, info, now):
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        except OSError:
            continue
    return removed


def _in_use(path, info, now):
    try:
        fd = os.open(os.path.join(path, LOCK), os.O_RDWR)
    except FileNotFoundError:
        return now - info.st_mtime < UNLOCKED_GRACE_SECONDS
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the lock we may have taken: rmtree follows
    return False
