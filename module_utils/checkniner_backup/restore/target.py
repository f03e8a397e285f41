"""The restore's target database: which one, and whether it is the live one (which needs confirmation)."""

from ..config import Database
from ..errors import ConfigError
from .request import CLI

TARGET_ENV = "CHECKNINER_RESTORE_TARGET_DATABASE_URL"
_LOCAL_HOSTS = {None, "", "localhost", "127.0.0.1", "::1"}


def resolve_target(config, target_url=None, spelling=CLI):
    """(Database, is_live): the explicit target (argument, else CHECKNINER_RESTORE_TARGET_DATABASE_URL), else the
    configured DATABASE_URL. is_live when it names the configured database (same name, port and host)."""
    url = target_url or config.env.get(TARGET_ENV)
    if url:
        target = Database.from_url(url, what=spelling.target if target_url else TARGET_ENV)
    elif config.database is not None:
        target = config.database
    else:
        raise ConfigError(f"no target database: set DATABASE_URL or {TARGET_ENV} (or pass {spelling.target})")
    return target, config.database is not None and same_database(target, config.database)


def same_database(a, b):
    """Conservatively: every loopback or socket spelling counts as the same server (better one --yes too many)."""

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
