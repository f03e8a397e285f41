"""What the front doors call: the command line (cli.py) and the Ansible modules (library/) import this and nothing
else of the engine, so every behaviour is written once, behind these names.

    run(config, dry_run=False) -> RunResult            one backup iteration (backup/command.py)
    upload(config, name, dry_run=False) -> dict        one archive into every S3 destination (backup/upload.py)
    restore(config, RestoreRequest) -> dict            restore and prove (restore/command.py)
    verify(config, VerifyRequest) -> dict              the restore drill (restore/drill.py)
    prune(config, dry_run, policy) -> dict             tiered retention (retention.py)
    local_archives / remote_archives / status          read-only views (listing.py)
    parse_at(TIME) / archives_at(rows, before)         `--at`: a time, and the archive of each location at it
    keygen(path, comment=None) -> dict                 a signing key pair: path (0600) and path.pub (signing.py)
    preflight(config) -> Preflight                     the server answers and pg_dump can dump it (pg.py), read-only
    show_progress(stream)                              one progress line on a terminal (progress.py)

Requests carry the front door's Spelling (restore/request.py), so the engine's messages name options the way that
user types them.
"""

from . import config, pg, progress
from .backup.command import run
from .backup.result import RunResult
from .backup.upload import ensure_uploaded as upload
from .errors import BackupError, Busy, ConfigError, IntegrityError, Interrupted, StoreError
from .latest import archives_at, local_latest, parse_at
from .listing import local_archives, remote_archives, remote_pointers, status
from .local import BackupDir
from .restore.command import restore
from .restore.drill import verify
from .restore.request import CLI, MODULE, SOURCES, RestoreRequest, Spelling, VerifyRequest
from .restore.target import TARGET_ENV, argv_password_warning
from .retention import prune
from .retention import summary as prune_summary
from .signing import keygen
from .units import human_size, utcnow

load_config = config.load
Preflight = pg.Preflight
show_progress = progress.enable  # the command line's choice: stderr is a terminal and the output is not JSON
retention_policy = config.retention
RETENTION_VARS = config.RETENTION_VARS


def preflight(cfg):
    """What `run` checks before anything else: the server answers (the URL parsed by config.py, the one owner) and
    the host's pg_dump is at least the server's major version. Changes nothing. Raises ConfigError / BackupError with
    one line that names what to fix and no part of the password."""
    return pg.preflight(cfg.database, cfg.env)


__all__ = [
    "CLI",
    "MODULE",
    "Preflight",
    "RETENTION_VARS",
    "SOURCES",
    "TARGET_ENV",
    "BackupDir",
    "BackupError",
    "Busy",
    "ConfigError",
    "IntegrityError",
    "Interrupted",
    "RestoreRequest",
    "RunResult",
    "Spelling",
    "StoreError",
    "VerifyRequest",
    "archives_at",
    "argv_password_warning",
    "human_size",
    "keygen",
    "load_config",
    "local_archives",
    "local_latest",
    "parse_at",
    "preflight",
    "prune",
    "prune_summary",
    "remote_archives",
    "remote_pointers",
    "restore",
    "retention_policy",
    "run",
    "show_progress",
    "status",
    "upload",
    "utcnow",
    "verify",
]
