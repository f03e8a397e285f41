"""Crafted archives against the real server (issue 19, cases 2, 3 and 4): whoever can write an archive gets no
command run on the restoring host, no statement past the restore's one transaction, and no byte to the server before
the archive matched its manifest. Each restore exits 1 with one line and no traceback; the database is as it was
(tables, rows, the role's and the database's settings, a sequence nothing transactional can rewind); no marker file of
a `\\!` exists.
"""

from __future__ import annotations

import pytest
from support.archives import backup, first_error_line, repack
from support.pg import APP_USER, quote_literal, table_digests

from checkniner_backup import pg as pg_mod

from .test_restore_safety import crafted, latest_archive

NEVER_CODE = "archives are data, never code; refused, nothing was committed"


def state(pg, db):
    """What an attack would change: every table of public row by row, the app role's and the database's settings,
    the connection limit, and the sequence attack_seq (nextval is never rolled back)."""
    names = [t for t in pg.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public';", db=db).split() if t]
    settings = pg.psql(
        "SELECT r.rolconfig, d.datconnlimit, (SELECT array_agg(s.setconfig::text ORDER BY s.setrole)"
        " FROM pg_db_role_setting s WHERE s.setdatabase IN (0, d.oid)), r.rolpassword IS NOT NULL"
        f" FROM pg_roles r, pg_database d WHERE r.rolname = {quote_literal(APP_USER)}"
        f" AND d.datname = {quote_literal(db)};",
        db=db,
    )
    return table_digests(pg, db, names), settings, pg.psql("SELECT last_value FROM attack_seq;", db=db)


def insert_after_first_set(sql, text):
    return sql.replace(b"SET statement_timeout = 0;\n", b"SET statement_timeout = 0;\n" + text, 1)


def _attacks(marker, db):
    shell = f"\\! touch {marker}\n".encode()
    harm = (
        f"ALTER ROLE {APP_USER} SET statement_timeout = '1ms';\nALTER DATABASE \"{db}\" CONNECTION LIMIT 0;\n"
        "CREATE TABLE public.planted (id int);\nSELECT nextval('attack_seq');\n"
    ).encode()
    return {
        # case 3: what psql and the old lexer read differently, each used to run `\!`
        "comment ended by CR": (b"-- x\r\\! touch " + str(marker).encode() + b"\n", "a psql meta-command"),
        "standard_conforming_strings off": (
            b"SET standard_conforming_strings = off;\nSELECT '\\' ; " + shell + b"SELECT '';\n",
            "a change of client_encoding or standard_conforming_strings",
        ),
        "$E string": (b"SELECT $E'\\' ; " + shell + b"';\n", "an E'' string"),
        "dollar quote after a digit": (b"SELECT 1$q$ ; " + shell + b"$q$;\n", "a `$` right after a name or a number"),
        "SJIS trail byte": (
            b"SET client_encoding = 'SJIS';\nSELECT '\x95\\' ; " + shell + b"';\n",
            "a change of client_encoding or standard_conforming_strings",
        ),
        "lower-case copy": (
            b"copy public.checkouts_airstrip from stdin;\n" + shell + b"\\.\n",
            "a COPY that is not pg_dump's",
        ),
        "COPY ended by \\.\\r\\n": (
            b'COPY "public"."checkouts_airstrip" ("id") FROM stdin;\n\\.\r\n' + shell,
            "a psql meta-command",
        ),
        "NUL byte": (b"SELECT 1;\0" + shell, "a NUL byte"),
        "NUL byte in COPY data": (  # refused while the server is inside the COPY: its data ends there
            b'COPY "public"."checkouts_airstrip" ("id") FROM stdin;\n1\0\n\\.\n' + shell,
            "a NUL byte",
        ),
        # case 4: transaction control smuggled past the old lexer, with or without \restrict
        "COMMIT after a comment ended by CR": (b"-- x\rCOMMIT;\n" + harm + b"BEGIN;\n", "transaction control (COMMIT)"),
        "BEGIN inside parentheses": (
            b"CREATE FUNCTION public.f(begin int) RETURNS int LANGUAGE sql RETURN 1;\ncommit;\n" + harm + b"begin;\n",
            "transaction control (COMMIT)",
        ),
        "END inside a routine body": (
            b"CREATE FUNCTION public.g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 AS case; END; END;\n" + harm,
            "CASE used as a name in a routine body",
        ),
        "set_config of client_encoding": (
            b"SELECT pg_catalog.set_config('client_encoding', 'BIG5', false);\n" + harm,
            "a change of client_encoding or standard_conforming_strings",
        ),
    }


CASES = list(_attacks("m", "d"))


@pytest.mark.parametrize("case", CASES)
def test_a_crafted_sql_member_is_refused_and_changes_nothing(pg, app_db, run_cli, backup_env, tmp_path, case):
    pg.psql("CREATE SEQUENCE attack_seq;", db=app_db.name, as_superuser=False)
    backup(run_cli)
    marker = tmp_path / "pwned"
    payload, expected = _attacks(marker, app_db.name)[case]
    bad = crafted(latest_archive(backup_env), tmp_path / "2030-01-01T000000Z.tar.gz",
                  lambda sql: insert_after_first_set(sql, payload))  # fmt: skip
    before = state(pg, app_db.name)
    for argv in (["restore", "--yes", "--archive", bad], ["verify", "--archive", bad]):
        proc = run_cli(*argv)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        line = first_error_line(proc)
        assert expected in line and NEVER_CODE in line, line
        assert "Traceback" not in proc.stderr
        assert not marker.exists(), f"{argv[0]} ran the archive's command"
        assert state(pg, app_db.name) == before


def test_a_tampered_sql_member_never_reaches_the_server(pg, app_db, run_cli, backup_env, tmp_path):
    """Case 2: the SQL member no longer matches the manifest: refused before its first byte is sent, so not even a
    nextval() (which no rollback undoes) of it has run."""
    pg.psql("CREATE SEQUENCE attack_seq;", db=app_db.name, as_superuser=False)
    backup(run_cli)

    def tamper(members, manifest):
        name = next(n for n in members if n.endswith(".sql"))
        head = b"SELECT nextval('attack_seq');\nCREATE TABLE public.planted (id int);\n"
        members[name] = head + members[name][len(head) :]  # the same size: only the sha256 tells

    bad = repack(latest_archive(backup_env), tmp_path / "2030-01-01T000000Z.tar.gz", tamper)
    before = state(pg, app_db.name)
    for argv in (["restore", "--yes", "--archive", bad], ["verify", "--archive", bad]):
        proc = run_cli(*argv)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "does not match its manifest checksum" in first_error_line(proc)
        assert "Traceback" not in proc.stderr
        assert state(pg, app_db.name) == before


def test_a_meta_command_is_only_a_syntax_error_for_the_server(pg, app_db, tmp_path):
    """Nothing on the client interprets what the replay sends: `\\!` that got past the lexer would reach the server
    as text, and the server has no such command."""
    psycopg2 = pg_mod.psycopg2_module()
    marker = tmp_path / "pwned"
    conn = psycopg2.connect(app_db.url)
    try:
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.SyntaxError):
            cur.execute(f"\\! touch {marker}".encode())
    finally:
        conn.close()
    assert not marker.exists()


ODD_OBJECTS = (
    'CREATE TABLE "a$b" ("x$y" integer, "begin" integer, "end" text);'
    "INSERT INTO \"a$b\" VALUES (1, 2, 'it''s \\ a $$ -- not a comment; /* nor this */');"
    "COMMENT ON TABLE \"a$b\" IS 'it''s \"quoted\" -- ; /* */ \\';"
    "CREATE FUNCTION atomic_case(n integer) RETURNS text LANGUAGE sql BEGIN ATOMIC"
    " SELECT CASE WHEN n > 0 THEN 'pos' ELSE CASE WHEN n < 0 THEN 'neg' ELSE 'zero' END END; END;"
    "CREATE PROCEDURE atomic_proc(INOUT n integer) LANGUAGE sql BEGIN ATOMIC SELECT n + 1; END;"
    "CREATE FUNCTION crlf() RETURNS text LANGUAGE plpgsql AS $body$\r\nBEGIN\r\n  RETURN 'a;b' || E'\\\\';\r\nEND;\r\n"
    "$body$;"
)
ODD_QUERY = (
    'SELECT atomic_case(5), atomic_case(-1), atomic_case(0), crlf(), (SELECT "end" FROM "a$b"),'
    " obj_description('\"a$b\"'::regclass),"
    " (SELECT prosrc FROM pg_proc WHERE proname = 'crlf') LIKE '%' || chr(13) || '%'"
)


def test_genuine_dumps_of_routine_bodies_quotes_and_crlf_restore_unchanged(pg, app_db, run_cli, scratch_dbs):
    """What SqlStream refuses is what pg_dump never writes: BEGIN ATOMIC bodies with CASE, CRLF inside a dollar-quoted
    body, names with `$`, comments and strings holding quotes, `--`, `/*` and backslashes all replay as they were."""
    conn = pg_mod.psycopg2_module().connect(app_db.url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(ODD_OBJECTS)
    conn.close()
    backup(run_cli)
    target = f"{app_db.name}_odd"
    scratch_dbs.append(target)
    proc = run_cli("restore", "--json", "--target-database-url", pg.app_url(target))
    assert proc.returncode == 0, proc.stderr
    assert pg.psql(ODD_QUERY, db=target) == pg.psql(ODD_QUERY, db=app_db.name)
    assert "pos" in pg.psql(ODD_QUERY, db=target) and pg.psql("CALL atomic_proc(1);", db=target).strip() == "2"


@pytest.mark.parametrize(
    "statement, what",
    [
        ("COMMIT", "a statement that ended the restore's transaction"),
        ("SET standard_conforming_strings = off", "a statement that turned standard_conforming_strings off"),
        (
            "SELECT set_config('client_encoding', 'SJIS', false)",
            "a statement that set a client_encoding that is not ASCII-safe",
        ),
        ("SELECT set_config('client_encoding', 'LATIN1', false)", None),  # ASCII-safe: goes on
    ],
)
def test_the_servers_word_is_checked_after_every_statement(app_db, statement, what):
    """Behind the lexer: what the server reports after a statement (a function could change any setting) stops the
    replay before its next statement is sent."""
    from checkniner_backup.errors import IntegrityError
    from checkniner_backup.restore.send import still_ours

    conn = pg_mod.psycopg2_module().connect(app_db.url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute(statement)
        if what is None:
            still_ours(conn, "db.sql", 9)
        else:
            with pytest.raises(IntegrityError, match=f"^db.sql line 9 holds {what}"):
                still_ours(conn, "db.sql", 9)
    finally:
        conn.close()
