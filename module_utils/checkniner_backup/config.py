"""Configuration from the environment (the seed's variable names kept). No other module reads os.environ."""

import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional
from urllib.parse import unquote, urlsplit

from . import signing, stores
from .errors import ConfigError

DEFAULT_APPS = ("auth", "checkouts")
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Database:
    """Connection parameters of one PostgreSQL database. The password never goes into argv or logs."""

    name: str
    user: Optional[str] = None
    password: Optional[str] = None
    host: Optional[str] = None
    port: Optional[int] = None
    options: Dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_url(cls, url, what="DATABASE_URL"):
        if not url:
            raise ConfigError(f"{what} is not set: point it at the PostgreSQL database, e.g. postgres://user@host/db")
        # Never echo the URL, nor any part of it, nor the parser's words (which quote it): a URL that did not parse
        # may hold a password, and the message lands in logs, state.json, heartbeats and Ansible's output.
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise ConfigError(_unparsable(what, "its host or port cannot be read")) from None
        if parts.scheme not in ("postgres", "postgresql", "pgsql", "postgis"):
            raise ConfigError(f"{what} must be a PostgreSQL URL: {URL_FORM}")
        # the password spilled (postgres://app:12/Tail@host/db would name the database 'Tail@host/db'), or a fragment
        if credentials_spill(parts) or "#" in url:
            raise ConfigError(_unparsable(what, "part of it ends up outside user:password@host"))
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ConfigError(f"{what} names no database: expected {URL_FORM}")
        options = {}
        for pair in filter(None, parts.query.split("&")):
            key, _, value = pair.partition("=")
            options[unquote(key)] = unquote(value)
        host = unquote(parts.hostname) if parts.hostname else None
        # dj-database-url style: a percent-encoded socket directory as the host (postgres://%2Fvar%2Frun%2Fpostgresql/db)
        if parts.netloc and "%2f" in parts.netloc.lower():
            host = unquote(parts.netloc.rsplit("@", 1)[-1].split(":")[0])
        return cls(
            name=name,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            host=host or options.pop("host", None),
            port=port,
            options=options,
        )

    def with_name(self, name):
        return Database(name, self.user, self.password, self.host, self.port, dict(self.options))

    def libpq_env(self):
        """Environment for libpq programs (psql, pg_dump): everything, the password included, outside argv."""
        env = {"PGDATABASE": self.name}
        if self.user:
            env["PGUSER"] = self.user
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        if self.host:
            env["PGHOST"] = self.host
        if self.port:
            env["PGPORT"] = str(self.port)
        for key, var in (("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT"), ("application_name", "PGAPPNAME")):
            if key in self.options:
                env[var] = self.options[key]
        return env

    def connect_kwargs(self):
        kwargs = {"dbname": self.name}
        for key in ("user", "password", "host", "port"):
            value = getattr(self, key)
            if value is not None:
                kwargs[key] = value
        for key, value in self.options.items():
            if key in ("sslmode", "sslrootcert", "sslcert", "sslkey", "application_name", "connect_timeout"):
                kwargs[key] = value
        kwargs.setdefault("connect_timeout", 10)
        return kwargs

    def describe(self):
        """Safe to log: no password."""
        where = self.host or "local socket"
        return f"database {self.name!r} on {where}{':' + str(self.port) if self.port else ''}"


URL_FORM = "postgres://user:password@host:port/dbname"
ENCODE_CREDENTIALS = (  # ends every message on a database or heartbeat URL that did not parse (none quotes it)
    "percent-encode any '/', '?', '#', '@', ':' or '%' in the user or password (%2F %3F %23 %40 %3A %25)"
)


def credentials_spill(parts):
    """Whether a URL's user:password@ spilled out of its host (parts: urlsplit's). A password with an unencoded '/', '?'
    or '#' ends the host early: its rest and the '@' land in the path, query or fragment, where no URL has an '@'."""
    return "@" in parts.path or "@" in parts.query or "@" in parts.fragment


def _unparsable(what, problem):
    """The fixed message for a database URL that does not parse: what is wrong and how to fix it, no part of it."""
    return f"{what} cannot be parsed ({problem}): expected {URL_FORM}; {ENCODE_CREDENTIALS}"


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
    metrics_file: Optional[str] = None
    log_format: str = "text"
    schedule_minutes: int = 5
    env: Dict[str, str] = field(default_factory=dict, repr=False)

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


def _choice(env, name, choices):
    value = (env.get(name) or choices[0]).strip().lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _positive_int(env, name, default):
    raw = env.get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(f"{name} must be a positive whole number, not {raw!r}")
    return value


def load(env=None, require_database=True):
    """Build the configuration from an environment mapping (os.environ by default)."""
    env = dict(os.environ if env is None else env)
    url = env.get("DATABASE_URL", "")
    database = Database.from_url(url) if (url or require_database) else None
    apps = parse_apps(env.get("CHECKNINER_BACKUP_APPS", ",".join(DEFAULT_APPS)))
    if not apps:
        raise ConfigError("CHECKNINER_BACKUP_APPS is empty: name at least one business app, e.g. auth,checkouts")
    python = env.get("CHECKNINER_DJANGO_PYTHON") or sys.executable
    if python and os.sep not in python:
        python = shutil.which(python, path=env.get("PATH")) or python
    return Config(
        database=database,
        backup_dir=env.get("CHECKNINER_BACKUP_DIR") or None,
        apps=apps,
        django=Django(
            python=python,
            manage_py=env.get("CHECKNINER_MANAGE_PY") or None,
            settings_module=env.get("DJANGO_SETTINGS_MODULE") or None,
        ),
        destinations=stores.destinations(env),
        gpg_recipient=env.get("BACKUPS_GPG_RECIPIENT") or None,
        healthcheck_url=env.get("CHECKNINER_BACKUP_HEALTHCHECK_URL") or None,
        verify_healthcheck_url=env.get("CHECKNINER_VERIFY_HEALTHCHECK_URL") or None,
        prune_healthcheck_url=env.get("CHECKNINER_PRUNE_HEALTHCHECK_URL") or None,
        metrics_file=env.get("CHECKNINER_BACKUP_METRICS_FILE") or None,
        log_format=_choice(env, "CHECKNINER_BACKUP_LOG_FORMAT", ("text", "json")),
        schedule_minutes=_positive_int(env, "CHECKNINER_BACKUP_SCHEDULE_MINUTES", 5),
        env=env,
    )


# -- signatures (signing.py owns the key formats) -------------------------------------------------------------
# Read by the commands that need them, not by load(): a broken trusted-keys file must not stop the backups, and a
# broken signing key stops `run` at its preflight (exit 2) rather than every `list` and `status`.


def signing_key(config):
    """The private key that signs every archive this host writes (CHECKNINER_SIGNING_KEY), or None: archives are
    written unsigned. Raises ConfigError for a key that cannot be used (never echoing it)."""
    path = (config.env.get(signing.SIGNING_KEY_VAR) or "").strip()
    return signing.load_private(path) if path else None


def trusted_keys(config):
    """The public keys restore and verify accept signatures from (CHECKNINER_TRUSTED_KEYS, a file), or None: not
    set, unsigned archives are accepted with a warning. Raises ConfigError for a file that is malformed or empty."""
    path = (config.env.get(signing.TRUSTED_KEYS_VAR) or "").strip()
    return signing.load_trusted(path) if path else None


# -- retention (`checkniner-backup prune`) ----------------------------------------------------------------------
# Read by retention.prune only, not by load(): a typo in a retention variable must not stop the backups themselves;
# prune refuses it (exit 2) and deletes nothing.

RETENTION_VARS = {
    "within": "CHECKNINER_KEEP_WITHIN",
    "hourly": "CHECKNINER_KEEP_HOURLY",
    "daily": "CHECKNINER_KEEP_DAILY",
    "weekly": "CHECKNINER_KEEP_WEEKLY",
    "monthly": "CHECKNINER_KEEP_MONTHLY",
}
_DURATION_PART = re.compile(r"(\d+)([mhdw])")
_DURATION_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class Retention:
    """The tiered policy: every archive within `within_seconds` of the newest, then the newest per hour, day, ISO
    week and month for that many of the most recent buckets that have archives (0 turns a tier off)."""

    within_seconds: int = 24 * 3600
    hourly: int = 48
    daily: int = 30
    weekly: int = 12
    monthly: int = 24

    def as_dict(self):
        return {
            "within": format_duration(self.within_seconds),
            "hourly": self.hourly,
            "daily": self.daily,
            "weekly": self.weekly,
            "monthly": self.monthly,
        }


def parse_duration(value, what="CHECKNINER_KEEP_WITHIN"):
    """'24h', '7d', '90m', '2w', '1d12h' or '0' -> seconds."""
    text = str(value).strip().lower()
    if text == "0":
        return 0
    parts = _DURATION_PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ConfigError(f"{what} must be a duration like 24h, 7d, 90m or 1d12h (m, h, d, w), not {value!r}")
    return sum(int(n) * _DURATION_UNIT[u] for n, u in parts)


def format_duration(seconds):
    if not seconds:
        return "0"
    if seconds > 86400 and seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"


PRUNE_REMOTE_VAR = "CHECKNINER_PRUNE_REMOTE"


def prune_remote(env):
    """Whether prune applies the policy to the S3 destinations too (CHECKNINER_PRUNE_REMOTE: empty or 1, the
    default) or to the local directory only (0: S3 is pruned elsewhere, with credentials that may delete)."""
    raw = (env.get(PRUNE_REMOTE_VAR) or "").strip().lower()
    if raw not in ("", "0", "1", "true", "false", "yes", "no"):
        raise ConfigError(f"{PRUNE_REMOTE_VAR} must be 1 (prune S3 too) or 0 (the local directory only), not {raw!r}")
    return raw not in ("0", "false", "no")


def retention(env):
    """The retention policy from CHECKNINER_KEEP_* (defaults: 24h, 48 hourly, 30 daily, 12 weekly, 24 monthly)."""
    default = Retention()
    counts = {}
    for key in ("hourly", "daily", "weekly", "monthly"):
        var = RETENTION_VARS[key]
        raw = (env.get(var) or "").strip()
        if not raw:
            counts[key] = getattr(default, key)
            continue
        if not raw.isdigit():
            raise ConfigError(f"{var} must be a whole number of {key} archives to keep (0 turns it off), not {raw!r}")
        counts[key] = int(raw)
    raw = (env.get(RETENTION_VARS["within"]) or "").strip()
    within = parse_duration(raw, RETENTION_VARS["within"]) if raw else default.within_seconds
    return Retention(within_seconds=within, **counts)
