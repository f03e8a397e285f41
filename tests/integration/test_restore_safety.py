"""Archives are data, never code, and the live database is known by identity (issue 11), against the real server.

A crafted archive (someone with write access to the bucket) must never run a command on the restoring host, whatever
its manifest claims; a dump's own transaction control (large objects) must never end the restore's transaction; the
live database reached by another spelling of its address still needs --yes.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tarfile

import pytest
from support.archives import backup, first_error_line, repack, reseal
from support.pg import quote_literal, table_digests

LO_SETUP = (
    "CREATE TABLE lo_holder (id integer PRIMARY KEY, o oid);"
    " INSERT INTO lo_holder VALUES (1, lo_from_bytea(0, '\\x00ff5c2e0a'::bytea)),"
    " (2, lo_from_bytea(0, convert_to(repeat('large object ', 5000), 'UTF8')));"
)


def database_exists(pg, name):
    return pg.psql(f"SELECT count(*) FROM pg_database WHERE datname = {quote_literal(name)};").strip() == "1"


def every_table(pg, db):
    """Row by row, every table of public; and how many indexes and constraints there are."""
    names = [t for t in pg.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public';", db=db).split() if t]
    schema = pg.psql(
        "SELECT (SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'),"
        " (SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
        " WHERE n.nspname = 'public');",
        db=db,
    )
    return table_digests(pg, db, names), schema


def latest_archive(backup_env):
    return os.path.realpath(os.path.join(backup_env["CHECKNINER_BACKUP_DIR"], "latest.tar.gz"))


def crafted(src, dest, rewrite):
    """The archive with its SQL rewritten by rewrite(sql bytes) and its manifest fixed up to match."""

    def edit(members, manifest):
        name = next(n for n in members if n.endswith(".sql"))
        members[name] = rewrite(members[name])
        reseal(members, manifest, name)

    return repack(src, dest, edit)


def without_dump_restrict(sql):
    return re.sub(rb"(?m)^\\(un)?restrict \S+\n", b"", sql)


def insert_after_first_set(sql, text):
    return sql.replace(b"SET statement_timeout = 0;\n", b"SET statement_timeout = 0;\n" + text, 1)


@pytest.mark.parametrize(
    "case",
    ["line of its own, dump's \\restrict removed", "after the dump's own \\unrestrict", "in the middle of a line"],
)
def test_a_crafted_archive_never_runs_its_command(pg, app_db, run_cli, backup_env, tmp_path, case):
    backup(run_cli)
    marker = tmp_path / "pwned"
    command = f"\\! touch {marker}\n".encode()

    def rewrite(sql):
        if case.startswith("line"):
            return insert_after_first_set(without_dump_restrict(sql), command)
        if case.startswith("after"):  # the attacker knows the key of the \restrict in their own archive
            key = re.search(rb"(?m)^\\restrict (\S+)$", sql).group(1)
            return insert_after_first_set(sql, b"\\unrestrict " + key + b"\n" + command)
        return insert_after_first_set(sql, b"SELECT 1; " + command)

    bad = crafted(latest_archive(backup_env), tmp_path / "2030-01-01T000000Z.tar.gz", rewrite)
    target = f"{app_db.name}_crafted"
    for argv in (
        ["restore", "--archive", bad, "--target-database-url", pg.app_url(target)],
        ["verify", "--archive", bad],
    ):
        proc = run_cli(*argv)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "holds a psql meta-command" in first_error_line(proc) and "never code" in first_error_line(proc)
        assert not marker.exists(), f"{argv[0]} ran the archive's command"
    assert not database_exists(pg, target)  # created for the restore, dropped again: nothing left behind


def test_large_objects_restore_inside_the_one_transaction(pg, app_db, run_cli, backup_env, tmp_path):
    pg.psql(LO_SETUP, db=app_db.name, as_superuser=False)
    backup(run_cli)
    target = f"{app_db.name}_lo"
    proc = run_cli("restore", "--json", "--target-database-url", pg.app_url(target))
    assert proc.returncode == 0, proc.stderr
    assert "transaction" not in proc.stderr  # no "already a transaction in progress" / "no transaction in progress"
    query = "SELECT id, md5(lo_get(o)) FROM lo_holder ORDER BY id"
    assert pg.psql(query, db=target) == pg.psql(query, db=app_db.name) != ""
    pg.drop_database(target)


def test_a_failure_after_the_large_objects_leaves_the_live_database_as_it_was(
    pg, app_db, run_cli, backup_env, tmp_path
):
    """pg_dump's own COMMIT after the blob data used to end the restore's transaction: what failed later was left
    half-restored (3 of 45 constraints, 0 of 49 indexes). Now the whole replay rolls back."""
    pg.psql(LO_SETUP, db=app_db.name, as_superuser=False)
    backup(run_cli)
    bad = crafted(
        latest_archive(backup_env), tmp_path / "2030-01-01T000000Z.tar.gz", lambda sql: sql + b"SELECT 1/0;\n"
    )
    pg.psql("UPDATE checkouts_airstrip SET name = 'renamed after the backup';", db=app_db.name)
    before = every_table(pg, app_db.name)
    proc = run_cli("restore", "--yes", "--archive", bad)
    assert proc.returncode == 1
    assert "rolled back" in first_error_line(proc) and "division by zero" in first_error_line(proc)
    assert every_table(pg, app_db.name) == before


@pytest.mark.parametrize("host", ["localhost", "127.1", socket.gethostname()])
def test_the_live_database_by_another_spelling_still_needs_yes(pg, app_db, run_cli, backup_env, host):
    backup(run_cli)
    spelled = re.sub(r"@127\.0\.0\.1:", f"@{host}:", app_db.url)
    assert spelled != app_db.url
    proc = run_cli("restore", "--target-database-url", spelled)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert first_error_line(proc).endswith(
        f"failed: refusing to overwrite the live database '{app_db.name}' on {host}:{pg.port} without confirmation: "
        "pass --yes (playbook: -e confirm=yes), or restore elsewhere with --target-database-url"
    )


def test_restoring_as_a_superuser_is_warned_about(pg, app_db, run_cli):
    backup(run_cli)
    target = f"{app_db.name}_su"
    proc = run_cli("restore", "--json", env={"CHECKNINER_RESTORE_TARGET_DATABASE_URL": pg.superuser_url(target)})
    assert proc.returncode == 0, proc.stderr
    assert "as a superuser: an archive's SQL runs with every privilege" in proc.stderr
    pg.drop_database(target)


@pytest.mark.parametrize(
    "damage, query",
    [
        ("DROP INDEX checkout_date_idx;", "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public';"),
        (
            "ALTER TABLE checkouts_airstrip DROP CONSTRAINT checkouts_airstrip_pkey CASCADE;",
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'checkouts_airstrip'::regclass;",
        ),
        ("SELECT lo_unlink(o) FROM lo_holder WHERE id = 2;", "SELECT count(*) FROM pg_largeobject_metadata;"),
    ],
    ids=["index", "primary key", "large object"],
)
def test_the_same_rows_without_an_index_are_not_the_same_database(pg, app_db, run_cli, damage, query):
    """ "Already matches" compares the schema too: the restore replays and brings back what was missing."""
    pg.psql(LO_SETUP, db=app_db.name, as_superuser=False)
    backup(run_cli)
    target = f"{app_db.name}_same"
    url = pg.app_url(target)
    first = json.loads(run_cli("restore", "--json", "--target-database-url", url).stdout)
    assert first["ok"] and first["changed"] and first["schema"] == {"match": True, "differences": []}
    expected = pg.psql(query, db=target)
    again = json.loads(run_cli("restore", "--json", "--target-database-url", url).stdout)
    assert again["ok"] and again["changed"] is False  # a true match stays a match
    pg.psql(damage, db=target)
    assert pg.psql(query, db=target) != expected
    repaired = json.loads(run_cli("restore", "--json", "--target-database-url", url).stdout)
    assert repaired["ok"] and repaired["changed"] is True, repaired["message"]
    assert pg.psql(query, db=target) == expected
    pg.drop_database(target)


def test_a_live_database_with_a_dropped_table_is_restored_over(pg, app_db, run_cli, backup_env):
    """The worst day: a table dropped by hand. Django cannot dump such a database, so the safety archive holds its
    SQL alone (and says so); the restore goes on and brings the table back."""
    backup(run_cli)
    expected = pg.psql("SELECT count(*) FROM checkouts_checkout;", db=app_db.name)
    pg.psql("DROP TABLE checkouts_checkout CASCADE;", db=app_db.name)
    proc = run_cli("restore", "--json", "--yes")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] and doc["changed"] and doc["safety_archive"].endswith("-pre-restore.tar.gz")
    assert any("holds its SQL only" in w for w in doc["warnings"]), doc["warnings"]
    assert pg.psql("SELECT count(*) FROM checkouts_checkout;", db=app_db.name) == expected
    safety = os.path.join(backup_env["CHECKNINER_BACKUP_DIR"], doc["safety_archive"])
    with tarfile.open(safety) as tar:
        assert tar.getnames() == ["manifest.json", "manifest.sig", f"{app_db.name}.sql"]  # signed, as the host signs
    # the safety archive itself restores (by SQL, proven by row counts and schema)
    back = json.loads(run_cli("restore", "--json", "--archive", safety, "--target-database-url",
                              pg.app_url(f"{app_db.name}_back")).stdout)  # fmt: skip
    assert back["ok"], back["message"]
    assert pg.psql("SELECT to_regclass('checkouts_checkout') IS NULL;", db=f"{app_db.name}_back").strip() == "t"
    pg.drop_database(f"{app_db.name}_back")


def test_a_session_holding_the_live_database_is_named_not_waited_for(pg, app_db, run_cli):
    """Beside a running application: a transaction left open must not make the restore hang unseen."""
    import time

    import psycopg2

    backup(run_cli)
    pg.psql("UPDATE checkouts_airstrip SET name = 'renamed after the backup';", db=app_db.name)
    before = every_table(pg, app_db.name)
    holder = psycopg2.connect(app_db.url, application_name="checkniner-web")
    with holder.cursor() as cur:
        cur.execute("SELECT count(*) FROM checkouts_airstrip")  # an open transaction holding a table
        pid = holder.get_backend_pid()
    try:
        started = time.monotonic()
        proc = run_cli("restore", "--yes", "--lock-timeout", "2")
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert time.monotonic() - started < 60
        line = first_error_line(proc)
        assert "is in use: its tables stayed locked for 2s by" in line, line
        assert f"pid {pid} (checkniner-web, 127.0.0.1, idle in transaction)" in line
        assert line.endswith("nothing was changed. Stop the application, or end those sessions with "
                             "--terminate-sessions")  # fmt: skip
        assert every_table(pg, app_db.name) == before
        done = run_cli("restore", "--yes", "--json", "--terminate-sessions")
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        assert doc["ok"] and doc["changed"]
        assert any(f"ended the other sessions of database '{app_db.name}'" in w for w in doc["warnings"])
        assert every_table(pg, app_db.name) != before  # restored: the rename is gone
    finally:
        holder.close()
