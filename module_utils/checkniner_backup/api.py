"""What the front doors call: the command line (cli.py) and the Ansible modules (library/) import this and nothing
else of the engine, so every behaviour is written once, behind these names.

    load_config(env, require_database) -> Config      the configuration from one environment mapping (config.py)
    run(config, dry_run=False) -> RunResult            one backup iteration (backup/command.py)
    upload(config, name, dry_run=False) -> UploadResult  one archive into every S3 destination (backup/upload.py)
    restore(config, RestoreRequest) -> RestoreResult   restore and prove (restore/command.py)
    verify(config, VerifyRequest) -> DrillResult       the restore drill (restore/drill.py)
    prune(config, dry_run, policy) -> PruneResult      tiered retention (retention.py)
    local_archives / remote_archives / remote_pointers / status    read-only views (listing.py)
    keygen(path, comment=None) -> KeyPair              a signing key pair: path (0600) and path.pub (signing.py)
    publish_public(path, comment=None) -> KeyPair      path.pub from the private key at path (signing.py)
    parse_at(TIME) / archives_at(rows, before)         `--at`: a time, and the archive of each location at it
    preflight(config) -> Preflight                     the server answers and pg_dump can dump it (pg.py), read-only
    show_progress(stream)                              one progress line on a terminal (progress.py)

Every result is a dataclass; its as_dict() is the JSON document and the module's RETURN keys, and the front door
calls it. One failure channel: every failure raises a BackupError (ConfigError exit 2, the others exit 1). A restore
or a drill that ran to its end and whose proof does not hold raises ProofFailed, which carries its RestoreResult or
DrillResult, so the door still prints or returns every difference.

Requests carry the front door's Spelling (restore/request.py), so the engine's messages name options the way that
user types them.
"""

from . import child_env, config, options, pg, progress, retention
from .backup.command import run
from .backup.result import RunResult
from .backup.upload import UploadResult, ensure_uploaded
from .config import Config
from .errors import BackupError, Busy, ConfigError, IntegrityError, Interrupted, ProofFailed, StoreError
from .latest import archives_at, local_latest, parse_at
from .listing import (
    LocalArchive,
    RemoteArchive,
    RemotePointers,
    Status,
    local_archives,
    remote_archives,
    remote_pointers,
    status,
)
from .local import BackupDir
from .pg import Preflight
from .restore.command import restore
from .restore.drill import verify
from .restore.request import CLI, MODULE, SOURCES, RestoreRequest, Spelling, VerifyRequest
from .restore.result import DrillResult, RestoreResult
from .restore.target import TARGET_ENV, argv_password_warning
from .retention import PruneResult, prune
from .retention_policy import RETENTION_VARS, Retention, parse_policy
from .signing import KeyPair, keygen, publish_public
from .units import human_size, utcnow


def load_config(env=None, require_database=True) -> Config:
    """The engine's configuration from one environment mapping (the process's own by default), validated by config.load:
    a ConfigError names what to fix. require_database: whether DATABASE_URL must be set (list and status need none)."""
    return config.load(env, require_database=require_database)


def upload(cfg, name=None, dry_run=False) -> UploadResult:
    """Make sure one local archive (default: the latest) is in every destination with a matching checksum and that
    each pointer names the newest (backup/upload.ensure_uploaded). dry_run: say what would be uploaded."""
    return ensure_uploaded(cfg, name, dry_run=dry_run)


def prune_summary(location) -> str:
    """One line for one location of a PruneResult: what was kept and deleted there, or why it failed
    (retention.summary)."""
    return retention.summary(location)


def show_progress(stream) -> None:
    """One progress line on `stream` (progress.enable): the command line's choice, when stderr is a terminal and the
    output is not JSON."""
    progress.enable(stream)


def preflight(cfg) -> Preflight:
    """What `run` checks before anything else: the server answers (the URL parsed by config.py, the one owner) and
    the host's pg_dump is at least the server's major version. Changes nothing. Raises ConfigError / BackupError with
    one line that names what to fix and no part of the password."""
    return pg.preflight(cfg.database, child_env.libpq(cfg))


__all__ = [
    "CLI",
    "MODULE",
    "RETENTION_VARS",
    "Retention",
    "SOURCES",
    "TARGET_ENV",
    "BackupDir",
    "BackupError",
    "Busy",
    "ConfigError",
    "DrillResult",
    "IntegrityError",
    "Interrupted",
    "KeyPair",
    "LocalArchive",
    "Preflight",
    "ProofFailed",
    "PruneResult",
    "RemoteArchive",
    "RemotePointers",
    "RestoreRequest",
    "RestoreResult",
    "RunResult",
    "Spelling",
    "Status",
    "StoreError",
    "UploadResult",
    "VerifyRequest",
    "archives_at",
    "argv_password_warning",
    "human_size",
    "keygen",
    "publish_public",
    "load_config",
    "local_archives",
    "local_latest",
    "options",
    "parse_policy",
    "parse_at",
    "preflight",
    "prune",
    "prune_summary",
    "remote_archives",
    "remote_pointers",
    "restore",
    "run",
    "show_progress",
    "status",
    "upload",
    "utcnow",
    "verify",
]
