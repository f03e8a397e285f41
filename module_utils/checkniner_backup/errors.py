"""Typed errors. Every error a user can meet carries a one-line message that says what to do."""


class BackupError(Exception):
    """The job failed (exit code 1)."""

    exit_code = 1

    def __init__(self, message):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return self.message


class ConfigError(BackupError):
    """Bad usage or bad configuration (exit code 2)."""

    exit_code = 2


class StoreError(BackupError):
    """A remote store (S3) could not be reached or refused an operation."""


class IntegrityError(BackupError):
    """An archive or member does not match its recorded checksum."""


class Busy(BackupError):
    """Another run holds the lock (lock.run_lock). `run` and `prune` report it as their outcome "busy" and exit 0:
    the holder is doing the work. Everything else fails with this one line: nothing was done, try again."""


class Interrupted(BackupError):
    """A signal stopped a restore or the drill (the work was cleaned up)."""


def os_error_line(exc):
    """One line for an OSError a user can meet (a full disk, a permission): what failed, where, and what to do. Not a
    bug, so no traceback."""
    import errno

    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the device{where}: free some space (checkniner-backup prune) or grow the disk"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{exc.strerror}{where}: check the owner and mode (cron runs as the application user)"
    return f"{exc.strerror or exc}{where}"
