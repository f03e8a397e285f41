"""A throwaway PostgreSQL cluster for tests: initdb + pg_ctl in a temp dir, on a free 127.0.0.1 port.

PostgreSQL refuses to run as root, so when the tests run as root the server side (initdb, pg_ctl) runs as the
unprivileged system user ``cnbtest`` (created on demand) through ``runuser``. Clients (psql, the engine's
pg_dump) connect over TCP with scram-sha-256 passwords, like an application host does.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional
from urllib.parse import quote

SERVER_USER = "cnbtest"
SUPERUSER = "postgres"
APP_USER = "checkniner"
APP_PASSWORD = "s3cret-db-pass!"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def find_bindir() -> Path:
    """Directory of the PostgreSQL server binaries: pg_config --bindir, else the newest Debian layout, else PATH."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out and (Path(out) / "initdb").exists():
            return Path(out)
    debian = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if (Path(p) / "initdb").exists()),
        key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.name)] or [0],
    )
    if debian:
        return debian[-1]
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class PostgresCluster:
    """One PostgreSQL server in a temporary directory. ``start()`` returns self; ``stop()`` removes everything."""

    def __init__(self, listen_all: bool = False, base_dir: Optional[str] = None, bindir: Optional[Path] = None):
        self.listen_all = listen_all
        self.base_dir = base_dir
        self.bindir = Path(bindir) if bindir else find_bindir()
        self.host = "127.0.0.1"
        self.port: Optional[int] = None
        self.superuser_password = "su-" + secrets.token_urlsafe(12) + "/:@"  # characters that need URL quoting
        self.app_password = APP_PASSWORD
        self.dir: Optional[Path] = None
        self._as_root = os.geteuid() == 0

    # -- paths and URLs -------------------------------------------------------------------------------------

    def bin(self, name: str) -> str:
        """Path of a PostgreSQL program matching the server version (pg_dump, psql, ...)."""
        return str(self.bindir / name)

    @property
    def datadir(self) -> Path:
        return self.dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.dir / "sock"

    @property
    def logfile(self) -> Path:
        return self.dir / "postgresql.log"

    def url(self, user: str, password: str, db: str) -> str:
        return (
            f"postgres://{quote(user, safe='')}:{quote(password, safe='')}@{self.host}:{self.port}/{quote(db, safe='')}"
        )

    def superuser_url(self, db: str = "postgres") -> str:
        return self.url(SUPERUSER, self.superuser_password, db)

    def app_url(self, db: str) -> str:
        return self.url(APP_USER, self.app_password, db)

    # -- lifecycle ------------------------------------------------------------------------------------------

    def _server_cmd(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", SERVER_USER, "--", *args] if self._as_root else args

    def _run_server(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        proc = subprocess.run(self._server_cmd(args), capture_output=True, text=True, check=False, **kwargs)
        if proc.returncode != 0:
            log = self.logfile.read_text(errors="replace")[-3000:] if self.dir and self.logfile.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}{log}")
        return proc

    @staticmethod
    def _ensure_server_user() -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(SERVER_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                 "--shell", "/usr/sbin/nologin", SERVER_USER],
                check=True,
                capture_output=True,
            )  # fmt: skip
            return pwd.getpwnam(SERVER_USER)

    def start(self) -> PostgresCluster:
        # As root, the temp dir must sit where the server user can traverse: /tmp, not a private TMPDIR.
        base = self.base_dir or ("/tmp" if self._as_root else None)  # noqa: S108
        self.dir = Path(tempfile.mkdtemp(prefix="cnb-pg-", dir=base))
        self.socket_dir.mkdir()
        pwfile = self.dir / "pwfile"
        pwfile.write_text(self.superuser_password + "\n")
        if self._as_root:
            user = self._ensure_server_user()
            for path in (self.dir, self.socket_dir, pwfile):
                os.chown(path, user.pw_uid, user.pw_gid)
        try:
            self._run_server(
                [self.bin("initdb"), "-D", str(self.datadir), "-U", SUPERUSER, f"--pwfile={pwfile}",
                 "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            )  # fmt: skip
        finally:
            pwfile.unlink()
        self._configure()
        last_error = None
        for _ in range(3):  # the free port may be taken between probing and binding
            self.port = free_port()
            try:
                self._run_server(
                    [self.bin("pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60",
                     "-o", f"-p {self.port}", "start"],
                )  # fmt: skip
                break
            except RuntimeError as exc:
                last_error = exc
        else:
            self.stop()
            raise last_error
        self.psql(f"CREATE ROLE {quote_ident(APP_USER)} LOGIN CREATEDB PASSWORD {quote_literal(self.app_password)};")
        return self

    def _configure(self) -> None:
        listen = "*" if self.listen_all else "127.0.0.1,::1"
        settings = {
            "listen_addresses": f"'{listen}'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "password_encryption": "'scram-sha-256'",
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "100",
            "log_min_messages": "warning",
        }
        with open(self.datadir / "postgresql.conf", "a") as conf:
            conf.write("\n# checkniner-backup test harness\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        hba = [
            "local all all trust",
            "host all all 127.0.0.1/32 scram-sha-256",
            "host all all ::1/128 scram-sha-256",
        ]
        if self.listen_all:
            hba += ["host all all 0.0.0.0/0 scram-sha-256", "host all all ::/0 scram-sha-256"]
        (self.datadir / "pg_hba.conf").write_text("\n".join(hba) + "\n")

    def restart(self) -> None:
        """pg_ctl restart -m fast on the same port: every session is ended, as when the operator restarts the server."""
        self._run_server(
            [self.bin("pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60", "-m", "fast",
             "-o", f"-p {self.port}", "restart"],
        )  # fmt: skip

    def stop(self) -> None:
        if self.dir is None:
            return
        if (self.datadir / "postmaster.pid").exists():
            subprocess.run(
                self._server_cmd([self.bin("pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"]),
                capture_output=True,
                check=False,
            )
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- SQL ------------------------------------------------------------------------------------------------

    def env(self, as_superuser: bool = True) -> dict:
        """Environment for PostgreSQL client programs: password in PGPASSWORD, no inherited PG* settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGPASSWORD"] = self.superuser_password if as_superuser else self.app_password
        env["PGCONNECT_TIMEOUT"] = "10"
        return env

    def psql(self, sql: str, db: str = "postgres", as_superuser: bool = True) -> str:
        """Run SQL (several statements, each its own transaction); return the unaligned, tuples-only output."""
        user = SUPERUSER if as_superuser else APP_USER
        proc = subprocess.run(
            [self.bin("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", self.host, "-p", str(self.port), "-U", user, "-d", db, "-f", "-"],
            input=sql,
            capture_output=True,
            text=True,
            env=self.env(as_superuser),
            check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"psql on {db} as {user} failed ({proc.returncode}): {proc.stderr.strip()}\nSQL: {sql}")
        return proc.stdout

    def create_database(self, name: str, owner: str = APP_USER, template: Optional[str] = None) -> str:
        sql = f"CREATE DATABASE {quote_ident(name)} OWNER {quote_ident(owner)}"
        if template:
            sql += f" TEMPLATE {quote_ident(template)}"
        for attempt in range(20):
            try:
                self.psql(sql + ";")
                return name
            except RuntimeError as exc:
                # A just-finished client can still be leaving the template database.
                if "is being accessed by other users" not in str(exc) or attempt == 19:
                    raise
                time.sleep(0.1)
        return name

    def drop_database(self, name: str) -> None:
        self.psql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = {quote_literal(name)} AND pid <> pg_backend_pid();\n"
            f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE);"
        )


def table_digests(pg, db, tables):
    """{table: (rows, md5 of its rows in a stable order)}: a change anywhere in a table changes its digest."""
    sql = "\n".join(
        f"SELECT '{t}', count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {t} t;"
        for t in tables
    )
    rows = [line.split("|", 2) for line in pg.psql(sql, db=db).splitlines() if line]
    return {name: (int(count), digest) for name, count, digest in rows}
