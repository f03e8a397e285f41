"""The restore's target database: which one, and whether it is the live one (which needs confirmation)."""

from .. import pg
from ..archive_writer import save_safety_archive
from ..database_url import Database
from ..errors import BackupError, ConfigError
from ..pg_admin import connect_if_exists, is_superuser
from .request import CLI

TARGET_ENV = "CHECKNINER_RESTORE_TARGET_DATABASE_URL"
_LOCAL_HOSTS = {None, "", "localhost", "127.0.0.1", "::1"}


def resolve_target(config, target_url=None, spelling=CLI):
    """(Database, is_live): the explicit target (argument, else CHECKNINER_RESTORE_TARGET_DATABASE_URL), else the
    configured DATABASE_URL. is_live when it is the configured database, however spelled (is_live)."""
    url = target_url or config.restore_target_url
    if url:
        target = Database.from_url(url, what=spelling.target if target_url else TARGET_ENV)
    elif config.database is not None:
        target = config.database
    else:
        raise ConfigError(f"no target database: set DATABASE_URL or {TARGET_ENV} (or pass {spelling.target})")
    return target, config.database is not None and is_live(target, config.database)


def is_live(target, live):
    """Whether `target` is the live database, by identity: the cluster's system_identifier and the database's OID.
    Any spelling of the same database is caught (a host name, an alias, 127.1). When that cannot be told (the live
    database unreachable, an identifier the server will not give), it is taken as live: one --yes too many is the
    safe side. A target that does not exist yet is not the live database."""
    if same_database(target, live):
        return True
    try:
        live_id = _identity(live)
    except BackupError:
        return True
    target_id = _identity(target)  # unreachable: that is the error to report, not a question of identity
    if live_id is None or target_id is None:
        return False  # one of them does not exist: they are not the same database
    return None in live_id or live_id == target_id


def _identity(database):
    """(system_identifier, database OID), or None when the database does not exist."""
    conn = connect_if_exists(database)
    if conn is None:
        return None
    try:
        info = pg.server_info(conn)
    finally:
        conn.close()
    return info["system_identifier"], info["database_oid"]


def same_database(a, b):
    """By spelling, before any connection: every loopback or socket spelling counts as the same server."""

    def host(h):
        return None if (h in _LOCAL_HOSTS or (h or "").startswith("/")) else h.lower()

    return a.name == b.name and (a.port or 5432) == (b.port or 5432) and host(a.host) == host(b.host)


def argv_password_warning(url):
    """One line when a URL given on the command line carries a password (ps shows argv to every user)."""
    try:
        has_password = bool(url) and Database.from_url(url, what="--target-database-url").password
    except ConfigError:
        return None
    if has_password:
        return (
            "warning: --target-database-url carries a password, visible to other users in the process list: "
            f"use {TARGET_ENV} or ~/.pgpass instead"
        )
    return None


def superuser_warning(target):
    """[one warning] when the restore connects to `target` as a superuser, else []."""
    if not is_superuser(target):
        return []
    return [
        f"connected to {target.describe()} as a superuser: an archive's SQL runs with every privilege (COPY ... "
        "PROGRAM, server files); restore as the application's own role (README: Restoring as a role that is not a "
        "superuser)"
    ]


def save_safety(config, result):
    """Before the live database is overwritten: its current state as `<stamp>-pre-restore.tar.gz` (the
    RestoreResult's safety_archive, and a warning when only its SQL could be saved)."""
    saved = save_safety_archive(config)
    result.safety_archive = saved.name
    if saved.sql_only:
        result.warnings.append(
            f"the application's Django could not read the live database ({saved.sql_only}): the safety archive "
            f"{saved.name} holds its SQL only (restore it with the SQL mode)"
        )
