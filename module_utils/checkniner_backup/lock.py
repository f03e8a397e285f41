"""The run lock: every command that writes the backup directory (or an outbox, or state.json) goes through here.

flock on CHECKNINER_BACKUP_DIR/.lock: the kernel drops it when the holder dies, so a killed run never leaves a stale
lock. Two waiting policies, one loop: cron's `run` never waits (the holder is doing the work, and the next run is five
minutes away); everything a person, a playbook or the daily prune started waits up to WAIT for a run to finish.
"""

import contextlib
import errno
import fcntl
import os
import time

from .errors import Busy

LOCK = ".lock"
NO_WAIT = 0.0
WAIT = 120.0  # a changed run of a large site takes a minute or two; longer means something is stuck: say so


@contextlib.contextmanager
def run_lock(directory, wait=NO_WAIT, nothing_done="nothing done"):
    """Hold the run lock of the backup directory, waiting up to `wait` seconds for another holder.

    Raises Busy ("another checkniner-backup run held the lock ...: <nothing_done>; try again") when it stays held.
    """
    deadline = time.monotonic() + wait
    fd = os.open(os.path.join(directory, LOCK), os.O_RDWR | os.O_CREAT, 0o640)
    try:
        while not _try_flock(fd):
            left = deadline - time.monotonic()
            if left <= 0:
                held = f" for {wait:g}s" if wait else ""
                raise Busy(
                    f"another checkniner-backup run held the lock on {directory}{held}: {nothing_done}; try again"
                )
            time.sleep(min(1.0, left))
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def _try_flock(fd):
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True
