"""PostgreSQL access: connections, the exported snapshot, pg_dump and psql. Secrets travel in the environment."""

import hashlib
import os
import re
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass

from . import progress
from .errors import BackupError, ConfigError

CHUNK = 1 << 20


def psycopg2_module():
    try:
        import psycopg2
    except ImportError as exc:  # pragma: no cover - dependency of the distribution
        raise ConfigError("psycopg2 is not installed: pip install psycopg2-binary") from exc
    return psycopg2


def connect(database, autocommit=True):
    """Open a connection; turn libpq's multi-line errors into one line that names the problem."""
    psycopg2 = psycopg2_module()
    try:
        conn = psycopg2.connect(**database.connect_kwargs())
    except psycopg2.OperationalError as exc:
        # masked before the whitespace is folded: a password with two spaces or a tab would no longer match after
        text = " ".join(masked(str(exc), database.password).split())
        if "does not exist" in text and "database" in text:
            raise ConfigError(f"{database.describe()} does not exist: check DATABASE_URL") from None
        if "password authentication failed" in text or "no password supplied" in text:
            raise ConfigError(f"cannot log in to {database.describe()}: wrong user or password") from None
        raise BackupError(f"cannot connect to {database.describe()}: {text}") from None
    conn.autocommit = autocommit
    return conn


def masked(text, secret):
    """libpq's words with every occurrence of the password masked. They quote what the server or a proxy in front of
    it says, and the user, host and database names (a password can be one of those too), and they end up in the log,
    the heartbeat, state.json and Ansible's output."""
    return text.replace(secret, "********") if secret else text


def server_info(conn):
    """Identity of the server and database, for the precheck and the manifest (an autocommit connection)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int,"
            " (SELECT oid FROM pg_database WHERE datname = current_database()), current_database()"
        )
        version, version_num, db_oid, name = cur.fetchone()
        system_id = None
        try:  # needs no privilege on PostgreSQL >= 10, but a proxy or an old server may refuse it
            cur.execute("SELECT system_identifier::text FROM pg_control_system()")
            system_id = cur.fetchone()[0]
        except psycopg2_module().Error:
            pass
    return {
        "server_version": version,
        "server_version_num": version_num,
        "database_oid": db_oid,
        "database": name,
        "system_identifier": system_id,
    }


@dataclass(frozen=True)
class Preflight:
    """What a command checks before it dumps anything: the server answers, pg_dump can read it."""

    info: dict  # server_info()
    pg_dump_version: str
    next_xid: str  # the first unassigned transaction id (next_xid): the run's precheck

    def line(self):
        """One line for people: which pg_dump can dump which server."""
        return f"pg_dump {self.pg_dump_version} can dump PostgreSQL {self.info['server_version']}"

    @property
    def identity(self):
        """Which cluster and database this is: a precheck or a digest recorded elsewhere never applies here."""
        return {k: self.info[k] for k in ("system_identifier", "database_oid", "database")}


OLDEST_SERVER = 130000  # pg_current_snapshot() came with PostgreSQL 13 (12 reached its end of life in 2024)


def preflight(database, env):
    """Connect, read the server's identity and version, and check that pg_dump is at least as new as the server
    (env: the environment pg_dump runs with, child_env.libpq's).
    Raises ConfigError / BackupError with one line naming what to fix."""
    conn = connect(database)
    try:
        info = server_info(conn)
        if info["server_version_num"] < OLDEST_SERVER:
            raise ConfigError(
                f"{database.describe()} runs PostgreSQL {info['server_version']}: checkniner-backup needs 13 or newer"
                " (pg_current_snapshot(), which tells whether anything was committed since the last run); upgrade"
                " the server"
            )
        xid = next_xid(conn)
    finally:
        conn.close()
    version = check_client(find_program("pg_dump", env), info["server_version_num"], env)
    return Preflight(info, version, xid)


def next_xid(conn):
    """The first transaction id not yet assigned (xmax of a snapshot taken now): every write, logged or unlogged,
    runs under a transaction id, so while it has not moved nothing has been committed. Page pruning, hint bits,
    checkpoints and VACUUM move the WAL but not this."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_current_snapshot()::text")
        return cur.fetchone()[0].split(":")[1]


@contextmanager
def exported_snapshot(database):
    """A REPEATABLE READ transaction held open while pg_dump and Django read from its exported snapshot.

    Yields (snapshot_id, xmax): xmax is the snapshot's first unassigned transaction id when no transaction was in
    flight at the snapshot (every transaction before it finished and is visible), else None. A later next_xid()
    equal to it proves nothing was committed since this snapshot.
    """
    psycopg2 = psycopg2_module()
    conn = connect(database, autocommit=False)
    try:
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cur.execute("SELECT pg_export_snapshot(), pg_current_snapshot()::text")
            snapshot_id, snap = cur.fetchone()
        xmin, xmax, xip = snap.split(":")
        try:
            yield snapshot_id, (xmax if xmin == xmax and not xip else None)
        except Exception as exc:
            # whatever failed first (pg_dump, the Django helper, a digest query) names the symptom; the snapshot's own
            # session, dead too, says the cause: the server went away (restarted, crashed, ended our sessions)
            if _alive(conn, psycopg2):
                raise
            first = next((line for line in str(exc).splitlines() if line.strip()), exc.__class__.__name__)
            raise BackupError(
                "the database server closed the connection during the dump: "
                f"{' '.join(masked(first, database.password).split())}; nothing was saved"
            ) from None
    finally:
        try:
            conn.rollback()
        except psycopg2.Error:
            pass  # a dead session has nothing to roll back; what the dump read is complete or has failed already
        finally:
            conn.close()


def _alive(conn, psycopg2):
    """Whether a session still answers (a session the server closed raises, or is marked closed)."""
    if conn.closed:
        return False
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        return True
    except psycopg2.Error:
        return False


def find_program(name, env):
    """The program on the PATH of `env` (child_env.libpq's: the PATH it will run with)."""
    path = shutil.which(name, path=env.get("PATH"))
    if not path:
        raise ConfigError(f"{name} is not installed: install the PostgreSQL client (postgresql-client)")
    return path


def program_major(path, env):
    out = subprocess.run([path, "--version"], capture_output=True, text=True, env=env, check=False).stdout
    match = re.search(r"(\d+)(?:\.(\d+))?", out)
    if not match:
        raise ConfigError(f"cannot tell the version of {path}: {out.strip()!r}")
    return int(match.group(1)), out.strip().split()[-1]


def check_client(path, server_version_num, env):
    major, version = program_major(path, env)
    server_major = server_version_num // 10000
    if major < server_major:
        raise ConfigError(
            f"{os.path.basename(path)} {version} is older than the server (PostgreSQL {server_major}): "
            f"install postgresql-client-{server_major} or newer"
        )
    return version


def pg_dump(database, snapshot_id, out_path, env):
    """Plain SQL that replays into an existing database with zero errors, written and hashed as it streams. env: the
    child's environment (child_env.libpq), the database's libpq variables set over it."""
    program = find_program("pg_dump", env)
    argv = [
        program,
        "--format=plain",
        "--clean",
        "--if-exists",
        "--no-owner",
        "--no-privileges",
        "--no-password",
        "--quote-all-identifiers",
    ]
    if snapshot_id:
        argv.append(f"--snapshot={snapshot_id}")
    child_env = dict(env)
    child_env.update(database.libpq_env())
    sha = hashlib.sha256()
    size = 0
    with open(out_path, "wb") as out, progress.phase("pg_dump") as shown:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env)
        for chunk in iter(lambda: proc.stdout.read(CHUNK), b""):
            sha.update(chunk)
            size += len(chunk)
            out.write(chunk)
            shown.add(len(chunk))
        err = proc.stderr.read().decode("utf-8", "replace")
        code = proc.wait()
        out.flush()
        os.fsync(out.fileno())
    if code != 0:
        first = next(
            (line for line in masked(err, database.password).splitlines() if line.strip()), f"exit status {code}"
        )
        raise BackupError(f"pg_dump failed: {first.removeprefix('pg_dump: ').removeprefix('error: ')}")
    return {"sha256": sha.hexdigest(), "size": size}


# Session settings that make a row's text form the same on any server (pg_dump's own choices, plus UTC).
CANONICAL = (
    "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres';"
    " SET extra_float_digits = 3; SET bytea_output = 'hex'"
)


# Per-table digest methods. "hash": hash_record_extended() over the row's values (PostgreSQL 14+, 4-5x cheaper than
# formatting and md5-ing every row). A type's hash function follows its equality, so "hash" is used only when every
# column is of a type whose equal values are identical values (below, domains over them and arrays of them) under a
# deterministic collation: a case-only edit in a citext column or a column with a case-insensitive ICU collation, or
# '1 day' -> '24 hours' in an interval, must still change the digest. Other tables, and older servers: "md5", the
# md5 of the row's text under CANONICAL. A digest records its method: it is always compared with one computed the
# same way.
_DIGEST_SQL = {
    "hash": "SELECT count(*), coalesce(sum(hash_record_extended(t, 0)), 0)::text FROM {table} AS t",
    "md5": "SELECT count(*), coalesce(sum(('x' || left(md5(t::text), 16))::bit(64)::bigint::numeric), 0)::text"
    " FROM {table} AS t",
}
_HASH_SAFE_TYPES = [
    "bool", "int2", "int4", "int8", "text", "varchar", "bpchar", "bytea", "uuid", "date", "time", "timestamp",
    "timestamptz",
]  # fmt: skip
# numeric only with a declared scale (1.0 = 1.00 otherwise); floats never (-0.0 = 0.0); jsonb never ({"a": 1.0} =
# {"a": 1.00})
_HASH_SAFE = """
SELECT coalesce(bool_and((coalesce(elem.typname, base.typname) = ANY(%s)
                          OR (coalesce(elem.typname, base.typname) = 'numeric' AND a.atttypmod <> -1))
                         AND coalesce(coll.collisdeterministic, true)), true)
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_type typ ON typ.oid = a.atttypid
  JOIN pg_catalog.pg_type base ON base.oid = CASE WHEN typ.typtype = 'd' THEN typ.typbasetype ELSE typ.oid END
  LEFT JOIN pg_catalog.pg_type elem ON elem.oid = base.typelem AND base.typcategory = 'A'
  LEFT JOIN pg_catalog.pg_collation coll ON coll.oid = a.attcollation
 WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
"""


def digest_query(method, table):
    """The digest SELECT of `method` (count, sum as text), with a {table} placeholder."""
    if method not in _DIGEST_SQL:
        raise BackupError(f"unknown row digest method {method!r} for {table}: a newer checkniner-backup?")
    return _DIGEST_SQL[method]


def table_digests(conn, tables, methods=None):
    """{table: {"rows": n, "sum": s, "method": m}}: an order-independent digest of every row (a sum of 64-bit hashes).

    The same rows give the same digest in any database; one sequential scan per table, no sort. methods: {table:
    method} to recompute recorded digests (a digest without a method is "md5"); otherwise "hash" where the server and
    the table's column types allow it. Tables that do not exist are reported with rows None. Used to detect business
    changes without Django, and to prove an SQL restore.
    """
    from psycopg2 import sql

    hash_ok = conn.server_version >= 140000
    digests = {}
    with conn.cursor() as cur:
        cur.execute(CANONICAL)
        for table in sorted(set(tables)):
            ident = sql.Identifier(table).as_string(conn)
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", [ident])
            if not cur.fetchone()[0]:
                digests[table] = {"rows": None, "sum": None}
                continue
            if methods is not None:
                method = methods.get(table) or "md5"
            elif hash_ok:
                cur.execute(_HASH_SAFE, [_HASH_SAFE_TYPES, ident])
                method = "hash" if cur.fetchone()[0] else "md5"
            else:
                method = "md5"
            cur.execute(sql.SQL(digest_query(method, table)).format(table=sql.Identifier(table)))
            rows, total = cur.fetchone()
            digests[table] = {"rows": rows, "sum": total, "method": method}
    return digests


@contextmanager
def in_snapshot(database, snapshot_id):
    """A read-only REPEATABLE READ connection that sees the exported snapshot (the instant of the dump), rolled back
    and closed afterwards: what the digests of a run read besides pg_dump and Django."""
    conn = connect(database, autocommit=False)
    try:
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if snapshot_id:
                cur.execute("SET TRANSACTION SNAPSHOT %s", [snapshot_id])
        yield conn
    finally:
        conn.rollback()
        conn.close()


def snapshot_digests(database, snapshot_id, tables, methods=None):
    """table_digests() read from an exported snapshot (the same instant as the dump)."""
    with in_snapshot(database, snapshot_id) as conn:
        return table_digests(conn, tables, methods)
