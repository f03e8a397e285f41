"""Typed errors. Every error a user can meet carries a one-line message that says what to do."""


class BackupError(Exception):
    """The job failed (exit code 1)."""

    exit_code = 1

    def __init__(self, message, detail=None):
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self):
        return self.message


class ConfigError(BackupError):
    """Bad usage or bad configuration (exit code 2)."""

    exit_code = 2


class StoreError(BackupError):
    """A remote store (S3) could not be reached or refused an operation."""


class IntegrityError(BackupError):
    """An archive or member does not match its recorded checksum."""
