"""Administration of PostgreSQL databases for restores and the drill: create, drop, exist, count, quote.

Identifiers are quoted here and only here; nothing in this module runs SQL that came from an archive.
"""

from . import pg
from .errors import BackupError, ConfigError


def connect_maintenance(target):
    last = None
    for name in ("postgres", "template1"):
        try:
            return pg.connect(target.with_name(name))
        except ConfigError as exc:
            if "does not exist" not in str(exc):
                raise
            last = exc
    raise last


def quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


def literal(text):
    return "'" + text.replace("'", "''") + "'"


def connect_if_exists(target):
    """A connection to the target database, or None when it does not exist (other failures raise)."""
    try:
        return pg.connect(target)
    except ConfigError as exc:
        if "does not exist" in str(exc):
            return None
        raise


def database_exists(target):
    conn = connect_if_exists(target)
    if conn is None:
        return False
    conn.close()
    return True


def create_database(target, purpose="the restore"):
    psycopg2 = pg.psycopg2_module()
    conn = connect_maintenance(target)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {quote_ident(target.name)}")
    except psycopg2.errors.InsufficientPrivilege:
        who = target.user or "this role"
        raise ConfigError(
            f"cannot create database {target.name!r} for {purpose}: role {who} lacks the CREATEDB privilege "
            f"(ALTER ROLE {who} CREATEDB)"
        ) from None
    except psycopg2.Error as exc:
        raise BackupError(f"cannot create database {target.name!r}: {' '.join(str(exc).split())}") from None
    finally:
        conn.close()


def drop_database(target):
    conn = connect_maintenance(target)
    try:
        with conn.cursor() as cur:
            if pg.server_info(conn)["server_version_num"] >= 130000:
                cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(target.name)} WITH (FORCE)")
            else:
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [target.name])
                cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(target.name)}")
    finally:
        conn.close()


def user_tables(conn):
    with conn.cursor() as cur:
        cur.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND n.nspname NOT LIKE 'pg\\_%'"
        )
        return {table_key(s, t) for s, t in cur.fetchall()}


def table_key(schema, table):
    return table if schema == "public" else f"{schema}.{table}"


def split_key(key):
    schema, _, table = key.rpartition(".")
    return schema or "public", table


def row_counts(target, tables, known=None):
    """{table: rows, or None when the table is missing} for the given table keys, and the target's other tables.

    known: {table key: rows} already counted (by the digests' scan): not counted a second time."""
    known = known or {}
    conn = pg.connect(target)
    try:
        present = user_tables(conn)
        counts = {}
        with conn.cursor() as cur:
            for key in sorted(tables):
                if key not in present:
                    counts[key] = None
                    continue
                if key in known:
                    counts[key] = known[key]
                    continue
                schema, table = split_key(key)
                cur.execute(f"SELECT count(*) FROM {quote_ident(schema)}.{quote_ident(table)}")  # noqa: S608
                counts[key] = cur.fetchone()[0]
        return counts, sorted(present - set(tables))
    finally:
        conn.close()


def is_migrated(target):
    conn = pg.connect(target)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('public.django_migrations') IS NOT NULL")
            migrated = cur.fetchone()[0]
        return migrated, bool(user_tables(conn))
    finally:
        conn.close()


def _on_maintenance(target, sql, params=()):
    """The rows of one query run on the target's server, with the target's role, from its maintenance database."""
    conn = connect_maintenance(target)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, list(params))
            return cur.fetchall()
    finally:
        conn.close()


def is_superuser(target):
    """Whether the role the restore connects as is a superuser (the archive's SQL would run with every privilege)."""
    rows = _on_maintenance(target, "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user")
    return bool(rows and rows[0][0])


def other_sessions(target):
    """The other sessions of the target database: [{pid, application, client, state}] (what may block a restore)."""
    rows = _on_maintenance(
        target,
        "SELECT pid, application_name, coalesce(host(client_addr), 'local socket'), coalesce(state, '?')"
        " FROM pg_catalog.pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
        " AND backend_type = 'client backend' ORDER BY pid",
        [target.name],
    )
    return [{"pid": p, "application": a or "?", "client": c, "state": st} for p, a, c, st in rows]


def describe_sessions(sessions):
    return ", ".join(f"pid {s['pid']} ({s['application']}, {s['client']}, {s['state']})" for s in sessions)


def terminate_sessions(target):
    """End the other sessions of the target database. Returns those that were ended."""
    sessions = other_sessions(target)
    if sessions:
        _on_maintenance(
            target,
            "SELECT pg_catalog.pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid",
            [[s["pid"] for s in sessions]],
        )
    return sessions


def lock_statement(target):
    """`LOCK TABLE ... IN ACCESS EXCLUSIVE MODE;` of the target's tables (one line), or "" when it has none: taken
    first, under the restore's lock_timeout, so a session that holds a table fails the restore at once with its name
    instead of leaving it waiting, unseen, while the application's queries queue behind it. Only tables this role may
    lock that way, and not an extension's (PostGIS's spatial_ref_sys): the dump neither drops nor fills those."""
    conn = pg.connect(target)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
                " AND n.nspname NOT LIKE 'pg\\_%' AND has_table_privilege(c.oid, 'UPDATE, DELETE, TRUNCATE')"
                " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass"
                " AND d.objid = c.oid AND d.deptype = 'e') ORDER BY 1, 2"
            )
            rows = cur.fetchall()
    finally:
        conn.close()
    if not rows:
        return ""
    names = ", ".join(f"{quote_ident(schema)}.{quote_ident(table)}" for schema, table in rows)
    return f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE;"
