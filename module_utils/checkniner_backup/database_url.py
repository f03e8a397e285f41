"""Database URL rules: a dj-database-url string into the connection parameters of one PostgreSQL database (Database),
refusing with a fixed message, never quoting the URL, what does not parse. pg.py and pg_admin.py connect with them."""

from dataclasses import dataclass, field
from typing import Dict, Optional
from urllib.parse import unquote, urlsplit

from .errors import ConfigError


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
