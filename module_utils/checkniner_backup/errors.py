"""Typed errors. Every error a user can meet carries a one-line message that says what to do.

One failure channel: the engine raises for every failure and returns only what succeeded. A restore or a drill
whose proof does not hold is a failure too (ProofFailed), not a result with ok=False; it carries the result, so the
front doors still print (CLI) or return (modules) every difference, with exit code 1 / failed=true as before."""

import errno
import traceback


class BackupError(Exception):
    """The job failed (exit code 1)."""

    exit_code = 1

    def __init__(self, message):
        super().__init__(message)
        self.message = message
        self.warnings = []  # lines the front door prints after the failure's (a heartbeat that could not be sent)

    def __str__(self):
        return self.message


class ConfigError(BackupError):
    """Bad usage or bad configuration (exit code 2)."""

    exit_code = 2


class StoreError(BackupError):
    """A remote store (S3) could not be reached or refused an operation."""


class IntegrityError(BackupError):
    """An archive or member does not match its recorded checksum."""


class ProofFailed(IntegrityError):
    """A restore or the restore drill ran to its end and what it restored does not match the archive (for the drill:
    a copy failed). The one failure channel of both: every failure raises, the fetch's and the proof's alike; only
    this one carries the typed result (.result: a RestoreResult or a DrillResult), so that the front doors still
    print and return every detail of what differs. Exit code 1; its line is the result's message."""

    def __init__(self, result):
        super().__init__(result.message)
        self.result = result


class Busy(BackupError):
    """Another run holds the lock (lock.run_lock). `run` and `prune` report it as their outcome "busy" and exit 0:
    the holder is doing the work. Everything else fails with this one line: nothing was done, try again."""


class Interrupted(BackupError):
    """A signal stopped a restore or the drill (the work was cleaned up)."""


def os_error_line(exc):
    """One line for an OSError a user can meet (a full disk, a permission): what failed, where, and what to do. Not a
    bug, so no traceback."""
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the device{where}: free some space (checkniner-backup prune) or grow the disk"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{exc.strerror}{where}: check the owner and mode (cron runs as the application user)"
    return f"{exc.strerror or exc}{where}"


def describe(exc):
    """(one line, exit code, traceback or None) of an exception met by a scheduled job (run, verify, prune).

    BackupError: its own line and exit code. OSError (a full disk, a permission): one line, exit 1, no traceback: the
    machine needs fixing, not the code. Anything else is a bug: one line, exit 1, and the traceback, which the front
    door prints after the line."""
    if isinstance(exc, BackupError):
        return str(exc), exc.exit_code, None
    if isinstance(exc, OSError):
        return os_error_line(exc), 1, None
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"unexpected {exc.__class__.__name__}: {exc} (a bug: please report it with the traceback)", 1, trace
