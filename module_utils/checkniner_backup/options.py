"""The option table: every environment variable the engine reads, once, with its type, default, secrecy and the
role variable and module option that set it.

Read by config.load (the values), by child_env (what a child process may inherit), by the Ansible shared options
(module_utils/checkniner_backup_ansible.py: the module options and the variables masked in results), and by the
tests that keep README, the doc fragment and the role's variables file in step with it (tests/unit/test_options.py,
tests/unit/test_docs.py). Only this table and config.load spell which variables exist; messages name them freely.

Per-destination variables are a family: a row of DESTINATION_FAMILIES is one suffix, and destination NAME (listed in
CHECKNINER_BACKUP_DESTINATIONS) reads `<prefix>_<NAME>_<suffix>`; the primary S3 destination reads `S3_<suffix>`.
"""

import re
from dataclasses import dataclass
from typing import Optional, Tuple

# The types a value is checked as (config.load and its helpers check it; the type is the documentation):
# str, path, url (a heartbeat: its path is the secret), urls (whitespace-separated Apprise URLs, secret alike),
# database_url (dj-database-url syntax, its password is the secret), list (comma separated), int, count (a whole
# number, 0 allowed), bool, choice, duration (24h, 7d, ...).


@dataclass(frozen=True)
class Option:
    name: str
    type: str = "str"
    default: Optional[str] = None  # the value an unset variable stands for, as text; None: no value
    secret: bool = False  # masked in every result and log; never handed to a child process (but see `app`)
    credential: bool = False  # not secret alone (an S3 access key id), but no child process needs it either
    role_var: Optional[str] = None  # the role variable the variables file writes it from
    option: Optional[str] = None  # the shared option of every checkniner_* module that sets it
    app: bool = False  # the application's settings may read it: the Django helper inherits it, secret or not
    choices: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Suffix:
    """One variable of a destination family: S3_<suffix> for the primary destination, S3_<NAME>_<suffix> for NAME."""

    suffix: str
    type: str = "str"
    default: Optional[str] = None
    secret: bool = False
    credential: bool = False
    role_var: Optional[str] = None  # set for the primary destination only: extra destinations go in extra_env
    option: Optional[str] = None
    choices: Tuple[str, ...] = ()


OBJECT_LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")
SSE_MODES = ("AES256", "aws:kms")
# classes whose objects read back at once: a restore, a drill and prune's reads of an archive's head need that, so the
# archive classes (GLACIER, DEEP_ARCHIVE) are not offered (a lifecycle rule may move old archives there instead)
STORAGE_CLASSES = ("STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "REDUCED_REDUNDANCY")

S3_SUFFIXES = (
    Suffix("BUCKET_NAME", role_var="checkniner_backup_s3_bucket", option="s3_bucket"),
    Suffix("PREFIX", default="db/", role_var="checkniner_backup_s3_prefix", option="s3_prefix"),
    Suffix("ENDPOINT_URL", role_var="checkniner_backup_s3_endpoint_url", option="s3_endpoint_url"),
    Suffix("REGION", default="us-east-1", role_var="checkniner_backup_s3_region", option="s3_region"),
    Suffix("ACCESS_KEY", credential=True, role_var="checkniner_backup_s3_access_key", option="s3_access_key"),
    Suffix("SECRET_KEY", secret=True, role_var="checkniner_backup_s3_secret_key", option="s3_secret_key"),
    Suffix("OBJECT_LOCK_DAYS", "count", default="0", role_var="checkniner_backup_s3_object_lock_days"),
    Suffix("OBJECT_LOCK_MODE", "choice", "GOVERNANCE", role_var="checkniner_backup_s3_object_lock_mode",
           choices=OBJECT_LOCK_MODES),
    # what each PUT asks of the bucket (stores/destinations.py checks them, stores/s3.py sends them)
    Suffix("SSE", "choice", "", role_var="checkniner_backup_s3_sse", choices=("", *SSE_MODES)),
    Suffix("SSE_KMS_KEY_ID", role_var="checkniner_backup_s3_sse_kms_key_id"),
    Suffix("STORAGE_CLASS", "choice", "", role_var="checkniner_backup_s3_storage_class",
           choices=("", *STORAGE_CLASSES)),
    Suffix("MAX_BANDWIDTH", "count", "0", role_var="checkniner_backup_s3_max_bandwidth"),
)  # fmt: skip

# prefix -> suffixes: the kinds of destination a name in CHECKNINER_BACKUP_DESTINATIONS can be
# a directory destination (stores/directory.py): DIR_<NAME>_PATH; a name with it set is a directory, not S3
DIR_SUFFIXES = (Suffix("PATH", role_var="checkniner_backup_dir_destinations"),)
DESTINATION_FAMILIES = {"S3": S3_SUFFIXES, "DIR": DIR_SUFFIXES}
PRIMARY_FAMILY = "S3"  # the seed's S3_* variables: the primary destination, named "s3"

RETENTION_TIERS = ("within", "hourly", "daily", "weekly", "monthly")
RETENTION_ROLE_VAR = "checkniner_backup_retention"  # a dict: key K becomes CHECKNINER_KEEP_<K>
_RETENTION_DEFAULTS = {"within": "24h", "hourly": "48", "daily": "30", "weekly": "12", "monthly": "24"}
_HEARTBEATS = ("BACKUP", "VERIFY", "PRUNE")

OPTIONS = (
    Option("DATABASE_URL", "database_url", secret=True, app=True, role_var="checkniner_backup_database_url",
           option="database_url"),
    Option("CHECKNINER_BACKUP_DIR", "path", role_var="checkniner_backup_dir", option="backup_dir"),
    Option("CHECKNINER_BACKUP_APPS", "list", "auth,checkouts", role_var="checkniner_backup_apps",
           option="business_apps"),
    Option("DJANGO_SETTINGS_MODULE", app=True, role_var="checkniner_backup_django_settings_module",
           option="settings_module"),
    Option("CHECKNINER_MANAGE_PY", "path", role_var="checkniner_backup_manage_py", option="manage_py"),
    Option("CHECKNINER_DJANGO_PYTHON", "path", role_var="checkniner_backup_django_python", option="django_python"),
    Option("BACKUPS_GPG_RECIPIENT", role_var="checkniner_backup_gpg_recipient", option="gpg_recipient"),
    *(Option(f"CHECKNINER_{job}_HEALTHCHECK_URL", "url", secret=True,
             role_var=f"checkniner_backup{'' if job == 'BACKUP' else '_' + job.lower()}_healthcheck_url")
      for job in _HEARTBEATS),
    # notify.py: Apprise URLs told when a scheduled job fails and when it recovers
    Option("CHECKNINER_NOTIFY_URLS", "urls", secret=True, role_var="checkniner_backup_notify_urls"),
    Option("CHECKNINER_BACKUP_METRICS_FILE", "path", role_var="checkniner_backup_metrics_file"),
    Option("CHECKNINER_BACKUP_LOG_FORMAT", "choice", "text", role_var="checkniner_backup_log_format",
           choices=("text", "json")),
    Option("CHECKNINER_BACKUP_SCHEDULE_MINUTES", "int", "5"),
    Option("CHECKNINER_PROBE_INTERVAL", "duration", "1h", role_var="checkniner_backup_probe_interval"),
    Option("CHECKNINER_FULL_DIGEST_EVERY", "count", "12", role_var="checkniner_backup_full_digest_every"),
    Option("CHECKNINER_SIGNING_KEY", "path", role_var="checkniner_backup_signing_key"),
    Option("CHECKNINER_TRUSTED_KEYS", "path", role_var="checkniner_backup_trusted_keys_file", option="trusted_keys"),
    Option("CHECKNINER_RESTORE_TARGET_DATABASE_URL", "database_url", secret=True),
    # the drill's own role (CREATEDB, owning nothing of production): restore/drill.py drill_server
    Option("CHECKNINER_VERIFY_DATABASE_URL", "database_url", secret=True,
           role_var="checkniner_backup_verify_database_url"),
    Option("CHECKNINER_PRUNE_REMOTE", "bool", "1", role_var="checkniner_backup_prune_remote"),
    *(Option(f"CHECKNINER_KEEP_{tier.upper()}", "duration" if tier == "within" else "count", _RETENTION_DEFAULTS[tier],
             role_var=RETENTION_ROLE_VAR)
      for tier in RETENTION_TIERS),
    Option("CHECKNINER_BACKUP_DESTINATIONS", "list"),
    *(Option(f"{PRIMARY_FAMILY}_{s.suffix}", s.type, s.default, s.secret, s.credential, s.role_var, s.option,
             choices=s.choices)
      for s in DESTINATION_FAMILIES[PRIMARY_FAMILY]),
)  # fmt: skip

BY_NAME = {option.name: option for option in OPTIONS}
RETENTION_VARS = {tier: f"CHECKNINER_KEEP_{tier.upper()}" for tier in RETENTION_TIERS}

# Not the engine's, but handed on: what each kind of child process needs to run, beyond what the engine sets for it
# (child_env.py). A name ending in "*" is a prefix (LC_ALL, LC_CTYPE, ...; PGSSLMODE, PGSERVICE, PGPASSFILE, ...).
RUNTIME_VARS = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "LC_*", "TZ", "TMPDIR", "LD_LIBRARY_PATH")
LIBPQ_VARS = ("PG*", "KRB5CCNAME", "KRB5_CONFIG")  # libpq reads PG* itself (PGSSLROOTCERT, PGSERVICE, ...)
GPG_VARS = ("GNUPGHOME", "GPG_AGENT_INFO")
# how the notifier (Apprise, through requests) reaches the network from behind a proxy or a private CA
NETWORK_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy",
                "all_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")  # fmt: skip


def _family_pattern(prefix, suffixes):
    return re.compile(rf"^{prefix}_[A-Z0-9_]+_({'|'.join(s.suffix for s in suffixes)})$")


_FAMILY_PATTERNS = {prefix: _family_pattern(prefix, suffixes) for prefix, suffixes in DESTINATION_FAMILIES.items()}


def family_var(prefix, name, suffix):
    """The variable of destination `name`'s `suffix` in family `prefix`: ("S3", "offsite", "REGION") ->
    S3_OFFSITE_REGION; the primary destination ("s3" in the primary family) reads S3_REGION."""
    if prefix == PRIMARY_FAMILY and name == PRIMARY_FAMILY.lower():
        return f"{prefix}_{suffix}"
    return f"{prefix}_{name.upper()}_{suffix}"


def lookup(name):
    """The table's row (an Option or a family's Suffix) for a variable name, or None when it is not the engine's."""
    if name in BY_NAME:
        return BY_NAME[name]
    for prefix, pattern in _FAMILY_PATTERNS.items():
        match = pattern.match(name)
        if match:
            return next(s for s in DESTINATION_FAMILIES[prefix] if s.suffix == match.group(1))
    return None


def withheld(name):
    """Whether a child process must not inherit this variable: a secret or credential of the engine's that the
    application does not read itself (S3 keys of every destination, heartbeat URLs, the restore target's URL)."""
    row = lookup(name)
    return row is not None and (row.secret or row.credential) and not getattr(row, "app", False)


def secret(name):
    """Whether the table marks this variable's value as a secret (masked in results: the value, a URL's password)."""
    row = lookup(name)
    return row is not None and row.secret


def get(env, name):
    """The variable's value in `env`, else the table's default (None when it has none). Raises KeyError for a name
    the table does not hold: the engine reads no variable the table does not describe."""
    return env.get(name, BY_NAME[name].default)
