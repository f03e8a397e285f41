"""PostgreSQL access: connections, the exported snapshot, pg_dump and psql. Secrets travel in the environment."""

import hashlib
import os
import re
import shutil
import subprocess
from contextlib import contextmanager

from .errors import BackupError, ConfigError

CHUNK = 1 << 20


def _psycopg2():
    try:
        import psycopg2
    except ImportError as exc:  # pragma: no cover - dependency of the distribution
        raise ConfigError("psycopg2 is not installed: pip install psycopg2-binary") from exc
    return psycopg2


def connect(database, autocommit=True):
    """Open a connection; turn libpq's multi-line errors into one line that names the problem."""
    psycopg2 = _psycopg2()
    try:
        conn = psycopg2.connect(**database.connect_kwargs())
    except psycopg2.OperationalError as exc:
        text = " ".join(str(exc).split())
        if "does not exist" in text and "database" in text:
            raise ConfigError(f"{database.describe()} does not exist: check DATABASE_URL") from None
        if "password authentication failed" in text or "no password supplied" in text:
            raise ConfigError(f"cannot log in to {database.describe()}: wrong user or password") from None
        raise BackupError(f"cannot connect to {database.describe()}: {text}") from None
    conn.autocommit = autocommit
    return conn


def server_info(conn):
    """Identity of the server and database, for the precheck and the manifest (an autocommit connection)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int,"
            " (SELECT oid FROM pg_database WHERE datname = current_database()), current_database(),"
            " pg_is_in_recovery()"
        )
        version, version_num, db_oid, name, in_recovery = cur.fetchone()
        system_id = None
        try:  # needs no privilege on PostgreSQL >= 10, but a proxy or an old server may refuse it
            cur.execute("SELECT system_identifier::text FROM pg_control_system()")
            system_id = cur.fetchone()[0]
        except _psycopg2().Error:
            pass
    return {
        "server_version": version,
        "server_version_num": version_num,
        "database_oid": db_oid,
        "database": name,
        "system_identifier": system_id,
        "in_recovery": in_recovery,
    }


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
    conn = connect(database, autocommit=False)
    try:
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cur.execute("SELECT pg_export_snapshot(), pg_current_snapshot()::text")
            snapshot_id, snap = cur.fetchone()
        xmin, xmax, xip = snap.split(":")
        yield snapshot_id, (xmax if xmin == xmax and not xip else None)
    finally:
        try:
            conn.rollback()
        finally:
            conn.close()


def find_program(name, env=None):
    path = shutil.which(name, path=(env or os.environ).get("PATH"))
    if not path:
        raise ConfigError(f"{name} is not installed: install the PostgreSQL client (postgresql-client)")
    return path


def program_major(path):
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"(\d+)(?:\.(\d+))?", out)
    if not match:
        raise ConfigError(f"cannot tell the version of {path}: {out.strip()!r}")
    return int(match.group(1)), out.strip().split()[-1]


def check_client(path, server_version_num):
    major, version = program_major(path)
    server_major = server_version_num // 10000
    if major < server_major:
        raise ConfigError(
            f"{os.path.basename(path)} {version} is older than the server (PostgreSQL {server_major}): "
            f"install postgresql-client-{server_major} or newer"
        )
    return version


def pg_dump(database, snapshot_id, out_path, env=None):
    """Plain SQL that replays into an existing database with zero errors, written and hashed as it streams."""
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
    child_env = dict(env or os.environ)
    child_env.update(database.libpq_env())
    sha = hashlib.sha256()
    size = 0
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env)
        for chunk in iter(lambda: proc.stdout.read(CHUNK), b""):
            sha.update(chunk)
            size += len(chunk)
            out.write(chunk)
        err = proc.stderr.read().decode("utf-8", "replace")
        code = proc.wait()
        out.flush()
        os.fsync(out.fileno())
    if code != 0:
        first = next((line for line in err.splitlines() if line.strip()), f"exit status {code}")
        raise BackupError(f"pg_dump failed: {first.removeprefix('pg_dump: ').removeprefix('error: ')}")
    return {"sha256": sha.hexdigest(), "size": size}


# Session settings that make a row's text form the same on any server (pg_dump's own choices, plus UTC).
_CANONICAL = (
    "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres';"
    " SET extra_float_digits = 3; SET bytea_output = 'hex'"
)


# Per-table digest methods, newest first. "hash": hash_record_extended() over the row's binary values (PostgreSQL 14+,
# 4-5x cheaper than formatting and md5-ing every row; needs an extended hash function for every column's type, so json,
# xml, point... fall back). "md5": md5 of the row's text under _CANONICAL (any version, any type). A digest records its
# method: a restore proves with the method the snapshot used.
_DIGEST_SQL = {
    "hash": "SELECT count(*), coalesce(sum(hash_record_extended(t, 0)), 0)::text FROM {} AS t",
    "md5": "SELECT count(*), coalesce(sum(('x' || left(md5(t::text), 16))::bit(64)::bigint::numeric), 0)::text"
    " FROM {} AS t",
}
DIGEST_METHODS = tuple(_DIGEST_SQL)


def table_digests(conn, tables, methods=None):
    """{table: {"rows": n, "sum": s, "method": m}}: an order-independent digest of every row (a sum of 64-bit hashes).

    The same rows give the same digest in any database; one sequential scan per table, no sort. methods: {table:
    method} to recompute recorded digests (a digest without a method is "md5"); otherwise the cheapest method the
    server and the table's column types support. Tables that do not exist are reported with rows None. Used to detect
    business changes without Django, and to prove an SQL restore.
    """
    from psycopg2 import sql

    hash_ok = conn.server_version >= 140000
    digests = {}
    with conn.cursor() as cur:
        cur.execute(_CANONICAL)
        for table in sorted(set(tables)):
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", [sql.Identifier(table).as_string(conn)])
            if not cur.fetchone()[0]:
                digests[table] = {"rows": None, "sum": None}
                continue
            if methods is not None:
                wanted = [methods.get(table) or "md5"]
            else:
                wanted = list(DIGEST_METHODS) if hash_ok else ["md5"]
            for method in wanted:
                if method not in _DIGEST_SQL:
                    raise BackupError(f"unknown row digest method {method!r} for {table}: a newer checkniner-backup?")
                query = sql.SQL(_DIGEST_SQL[method]).format(sql.Identifier(table))
                if method == wanted[-1]:
                    cur.execute(query)
                    row = cur.fetchone()
                    break
                row = _try(conn, cur, query)
                if row is not None:
                    break
            digests[table] = {"rows": row[0], "sum": row[1], "method": method}
    return digests


def _try(conn, cur, query):
    """The query's one row; None (and the transaction still usable) when the server refuses it."""
    psycopg2 = _psycopg2()
    if not conn.autocommit:
        cur.execute("SAVEPOINT cnb_digest")
    try:
        cur.execute(query)
        row = cur.fetchone()
    except psycopg2.Error:
        if not conn.autocommit:
            cur.execute("ROLLBACK TO SAVEPOINT cnb_digest")
        return None
    if not conn.autocommit:
        cur.execute("RELEASE SAVEPOINT cnb_digest")
    return row


def snapshot_digests(database, snapshot_id, tables, methods=None):
    """table_digests() read from an exported snapshot (the same instant as the dump)."""
    conn = connect(database, autocommit=False)
    try:
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if snapshot_id:
                cur.execute("SET TRANSACTION SNAPSHOT %s", [snapshot_id])
        return table_digests(conn, tables, methods)
    finally:
        conn.rollback()
        conn.close()
