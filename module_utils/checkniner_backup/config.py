"""Configuration from the environment (the seed's variable names kept): the core Config, which load() fills from the
option table (options.py). Database URLs are database_url.py's, the retention policy retention_policy.py's, the key
files signing.py's; they read the typed fields load() sets, never the environment.

No other engine module reads os.environ: load() reads it once (or the mapping it is given), and child processes get
what child_env.py builds from Config.inherited. The django_helper package runs in the application's interpreter, not
in the engine: it reads the environment child_env.helper gave it.
"""

import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from . import child_env, options, stores
from .database_url import Database
from .errors import ConfigError
from .retention_policy import parse_duration

_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Django:
    python: str
    manage_py: Optional[str]
    settings_module: Optional[str]

    def require(self):
        if not self.manage_py:
            raise ConfigError("CHECKNINER_MANAGE_PY is not set: point it at the application's manage.py")
        if not os.path.isfile(self.manage_py):
            raise ConfigError(f"CHECKNINER_MANAGE_PY does not exist: {self.manage_py}")
        if not self.settings_module:
            raise ConfigError("DJANGO_SETTINGS_MODULE is not set: name the application's settings module")
        if not (os.path.isfile(self.python) and os.access(self.python, os.X_OK)):
            raise ConfigError(f"CHECKNINER_DJANGO_PYTHON is not an executable interpreter: {self.python}")
        return self


@dataclass(frozen=True)
class Config:
    database: Database
    backup_dir: Optional[str]
    apps: List[str]
    django: Django
    destinations: List[object]  # stores.S3Destination | stores.DirDestination, in configuration order
    gpg_recipient: Optional[str] = None
    healthcheck_url: Optional[str] = None
    verify_healthcheck_url: Optional[str] = None
    prune_healthcheck_url: Optional[str] = None
    notify_urls: Optional[str] = field(default=None, repr=False)  # whitespace-separated Apprise URLs (notify.py)
    metrics_file: Optional[str] = None
    log_format: str = "text"
    schedule_minutes: int = 5
    # a destination with nothing to send is asked at most this often (seconds) whether it still holds the newest
    # archive (backup/reconcile.py), and every run after one of its failures
    probe_interval: int = 3600
    # the row digests run at least every N runs the write counters decided (backup/table_stats.py); 0: every run
    full_digest_every: int = 12
    # Read by the commands that need them, not checked by load(): a broken trusted-keys file must not stop the backups,
    # a broken signing key stops `run` at its preflight (exit 2) rather than every `list` and `status`, and a typo in a
    # retention variable stops prune alone (signing.signing_key / trusted_keys, retention_policy.parse_policy).
    signing_key_path: Optional[str] = None
    trusted_keys_path: Optional[str] = None
    restore_target_url: Optional[str] = field(default=None, repr=False)
    # parsed by the drill (restore/drill.py drill_server): a typo in it stops the drill, not the backups
    verify_database_url: Optional[str] = field(default=None, repr=False)
    keep: Dict[str, str] = field(default_factory=dict)  # {CHECKNINER_KEEP_*: text}, as set
    prune_remote_text: str = ""
    # The environment without the engine's secrets: read by child_env.py only, which narrows it per kind of child.
    inherited: Dict[str, str] = field(default_factory=dict, repr=False)

    def require_backup_dir(self):
        if not self.backup_dir:
            raise ConfigError("CHECKNINER_BACKUP_DIR is not set: name the local archive directory")
        return self.backup_dir


def parse_apps(value, what="CHECKNINER_BACKUP_APPS"):
    apps = [a.strip() for a in (value or "").split(",") if a.strip()]
    bad = [a for a in apps if not _LABEL.match(a)]
    if bad:
        raise ConfigError(f"{what} has invalid app labels: {', '.join(bad)} (expected e.g. auth,checkouts)")
    return apps


def _choice(env, name):
    choices = options.BY_NAME[name].choices
    value = (env.get(name) or choices[0]).strip().lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _positive_int(env, name):
    raw = env.get(name) or options.BY_NAME[name].default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(f"{name} must be a positive whole number, not {raw!r}")
    return value


def _count(env, name):
    raw = (env.get(name) or options.BY_NAME[name].default).strip()
    if not raw.isdigit():
        raise ConfigError(f"{name} must be a whole number (0 allowed), not {raw!r}")
    return int(raw)


def load(env=None, require_database=True):
    """Build the configuration from an environment mapping (os.environ by default): every variable is a row of the
    option table (options.get raises KeyError for one that is not)."""
    env = dict(os.environ if env is None else env)

    def get(name):
        return options.get(env, name)

    url = get("DATABASE_URL") or ""
    database = Database.from_url(url) if (url or require_database) else None
    apps = parse_apps(get("CHECKNINER_BACKUP_APPS"))
    if not apps:
        raise ConfigError("CHECKNINER_BACKUP_APPS is empty: name at least one business app, e.g. auth,checkouts")
    python = get("CHECKNINER_DJANGO_PYTHON") or sys.executable
    if python and os.sep not in python:
        python = shutil.which(python, path=env.get("PATH")) or python
    return Config(
        database=database,
        backup_dir=get("CHECKNINER_BACKUP_DIR") or None,
        apps=apps,
        django=Django(
            python=python,
            manage_py=get("CHECKNINER_MANAGE_PY") or None,
            settings_module=get("DJANGO_SETTINGS_MODULE") or None,
        ),
        destinations=stores.destinations(env),
        gpg_recipient=get("BACKUPS_GPG_RECIPIENT") or None,
        healthcheck_url=get("CHECKNINER_BACKUP_HEALTHCHECK_URL") or None,
        verify_healthcheck_url=get("CHECKNINER_VERIFY_HEALTHCHECK_URL") or None,
        prune_healthcheck_url=get("CHECKNINER_PRUNE_HEALTHCHECK_URL") or None,
        notify_urls=(get("CHECKNINER_NOTIFY_URLS") or "").strip() or None,
        metrics_file=get("CHECKNINER_BACKUP_METRICS_FILE") or None,
        log_format=_choice(env, "CHECKNINER_BACKUP_LOG_FORMAT"),
        schedule_minutes=_positive_int(env, "CHECKNINER_BACKUP_SCHEDULE_MINUTES"),
        probe_interval=parse_duration(get("CHECKNINER_PROBE_INTERVAL"), "CHECKNINER_PROBE_INTERVAL"),
        full_digest_every=_count(env, "CHECKNINER_FULL_DIGEST_EVERY"),
        signing_key_path=(get("CHECKNINER_SIGNING_KEY") or "").strip() or None,
        trusted_keys_path=(get("CHECKNINER_TRUSTED_KEYS") or "").strip() or None,
        restore_target_url=get("CHECKNINER_RESTORE_TARGET_DATABASE_URL") or None,
        verify_database_url=get("CHECKNINER_VERIFY_DATABASE_URL") or None,
        keep={var: env[var] for var in options.RETENTION_VARS.values() if var in env},
        prune_remote_text=get("CHECKNINER_PRUNE_REMOTE") or "",
        inherited=child_env.inherited(env),
    )
