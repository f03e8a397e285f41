"""Restore, proven (issue 3): real PostgreSQL, real S3 endpoint, the sample project's own Django.

Every bad-input test asserts the one line the user sees AND that the target database is unchanged (a row digest of
every table before and after).
"""

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import uuid

import pytest
from support import app_django
from support.archives import backup, first_error_line, repack, reseal
from support.django_project import BUSINESS_TABLES, MANAGE_PY, SETTINGS_MODULE, manage, manage_env, migrate
from support.pg import APP_USER, PostgresCluster, quote_ident, quote_literal
from support.pg import table_digests as support_table_digests

from checkniner_backup import archive, django_client
from checkniner_backup.django_helper import protocol
from checkniner_backup.fingerprint import business_fingerprint

# Business rows without surrogate keys a fixtures load may renumber (m2m through tables, permission ids).
PORTABLE_BUSINESS = {
    # the fixtures keep every microsecond (fixture format 3): users come back exactly, times included
    "auth_user": "SELECT t::text FROM auth_user t",
    "auth_group": "SELECT t::text FROM auth_group t",
    "auth_user_groups": "SELECT user_id || ':' || group_id FROM auth_user_groups",
    "auth_group_permissions": "SELECT gp.group_id || ':' || ct.app_label || '.' || p.codename"
    " FROM auth_group_permissions gp JOIN auth_permission p ON p.id = gp.permission_id"
    " JOIN django_content_type ct ON ct.id = p.content_type_id",
    "checkouts_airstrip": "SELECT t::text FROM checkouts_airstrip t",
    "checkouts_airstrip_bases": "SELECT from_airstrip_id || ':' || to_airstrip_id FROM checkouts_airstrip_bases",
    "checkouts_aircrafttype": "SELECT t::text FROM checkouts_aircrafttype t",
    "checkouts_checkout": "SELECT t::text FROM checkouts_checkout t",
    "checkouts_pilotweight": "SELECT t::text FROM checkouts_pilotweight t",
}


# -- helpers --------------------------------------------------------------------------------------------------


def all_tables(pg, db):
    out = pg.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1;", db=db)
    return [line for line in out.splitlines() if line]


def table_digests(pg, db, tables=None):
    """Row by row, every table (default: all of public)."""
    return support_table_digests(pg, db, tables or all_tables(pg, db))


def portable_digests(pg, db):
    sql = "\n".join(
        f"SELECT '{t}', count(*), coalesce(md5(string_agg(v, '|' ORDER BY v)), '') FROM ({q}) AS x(v);"
        for t, q in PORTABLE_BUSINESS.items()
    )
    rows = [line.split("|", 2) for line in pg.psql(sql, db=db).splitlines() if line]
    return {name: (int(count), digest) for name, count, digest in rows}


def scratch_databases(pg):
    out = pg.psql("SELECT datname FROM pg_database WHERE datname LIKE 'cnb\\_verify\\_%';")
    return [line for line in out.splitlines() if line]


def database_exists(pg, name):
    return pg.psql(f"SELECT count(*) FROM pg_database WHERE datname = {quote_literal(name)};").strip() == "1"


def restore_json(run_cli, *args, env=None, expect=0):
    proc = run_cli("restore", "--json", *args, env=env)
    assert proc.returncode == expect, proc.stderr + proc.stdout
    assert "ERROR" not in proc.stderr
    return json.loads(proc.stdout)


def new_db_url(pg, name=None):
    name = name or f"cnb_{uuid.uuid4().hex[:12]}"
    return name, pg.app_url(name)


# -- SQL mode -------------------------------------------------------------------------------------------------


@pytest.mark.app_django32
def test_sql_round_trip_over_live_database(pg, app_db, run_cli, backup_env, tmp_path):
    name = backup(run_cli)
    archived = table_digests(pg, app_db.name)

    manage(["mutate_business"], app_db.url)  # insert, update, delete across business tables
    pg.psql("DELETE FROM checkouts_pilotweight WHERE id = (SELECT min(id) FROM checkouts_pilotweight);", db=app_db.name)
    pg.psql("UPDATE auth_user SET email = 'changed@example.org' WHERE id = (SELECT min(id) FROM auth_user);",
            db=app_db.name)  # fmt: skip
    manage(["touch_sessions"], app_db.url)
    mutated = table_digests(pg, app_db.name)
    assert mutated != archived

    # Over the live database: refused without --yes, and nothing changed.
    proc = run_cli("restore")
    assert proc.returncode == 2
    assert "--yes" in first_error_line(proc) and "confirm=yes" in first_error_line(proc)
    assert table_digests(pg, app_db.name) == mutated

    result = restore_json(run_cli, "--yes")
    assert result["ok"] and result["changed"] and result["archive"] == name and result["live"]
    assert {a: v["match"] for a, v in result["apps"].items()} == {"auth": True, "checkouts": True}
    assert all(v["match"] for v in result["tables"].values()) and "checkouts_checkout" in result["tables"]
    assert result["fingerprint"]["actual"] == result["fingerprint"]["expected"]
    assert result["fingerprint"]["before_commit"] is True  # digested in the replay's transaction, not scanned again
    assert table_digests(pg, app_db.name) == archived  # row by row, every table

    # The state it replaced is kept, named so it is easy to find, and never taken for `latest`.
    safety = result["safety_archive"]
    assert safety and safety.endswith("-pre-restore.tar.gz") and archive.is_safety_archive(safety)
    bdir = backup_env["CHECKNINER_BACKUP_DIR"]
    assert os.path.isfile(os.path.join(bdir, safety))
    assert os.path.basename(os.path.realpath(os.path.join(bdir, archive.LATEST))) == name
    # ... and it restores the mutated state exactly.
    again = restore_json(run_cli, "--yes", "--archive", safety)
    assert again["ok"] and again["changed"]
    assert table_digests(pg, app_db.name, BUSINESS_TABLES) == {t: mutated[t] for t in BUSINESS_TABLES}

    # Idempotent: restoring latest twice, the second run changes nothing and says so.
    restore_json(run_cli, "--yes")
    before = table_digests(pg, app_db.name)
    check = restore_json(run_cli, "--check")
    assert check["changed"] is False and check["check_mode"]
    same = restore_json(run_cli, "--yes")
    assert same["changed"] is False and same["ok"] and same["safety_archive"] is None
    assert "already matches" in same["message"] and same["fingerprint"]["before_commit"] is False
    assert table_digests(pg, app_db.name) == before


@pytest.mark.app_django32
def test_check_mode_reports_change_and_touches_nothing(pg, app_db, run_cli):
    backup(run_cli)
    manage(["mutate_business"], app_db.url)
    before = table_digests(pg, app_db.name)
    result = restore_json(run_cli, "--check")  # no --yes needed: nothing is written
    assert result["changed"] is True and result["check_mode"] and result["safety_archive"] is None
    assert table_digests(pg, app_db.name) == before


@pytest.mark.app_django32
def test_sql_restore_from_s3_into_a_new_database(pg, app_db, run_cli, backup_env, scratch_dbs, tmp_path):
    backup(run_cli)
    archived = table_digests(pg, app_db.name)
    target, url = new_db_url(pg)
    scratch_dbs.append(target)
    # The local directory is gone (lost host): latest comes from S3 through latest.json.
    env = {"CHECKNINER_BACKUP_DIR": str(tmp_path / "empty"), "CHECKNINER_RESTORE_TARGET_DATABASE_URL": url}
    result = restore_json(run_cli, env=env)
    assert result["source"] == "s3" and result["created_database"] and not result["live"]
    assert result["ok"] and result["changed"]
    assert table_digests(pg, target) == archived


def test_sql_restore_into_another_cluster_with_different_roles(pg, app_db, run_cli, tmp_path):
    backup(run_cli)
    archived = table_digests(pg, app_db.name)
    with PostgresCluster() as other:
        other.psql("DROP ROLE checkniner; CREATE ROLE restorer LOGIN CREATEDB PASSWORD 'r3store';")
        url = other.url("restorer", "r3store", "checkniner_restored")
        env = {"PATH": f"{other.bindir}{os.pathsep}{os.environ['PATH']}"}
        result = restore_json(run_cli, "--target-database-url", url, "--yes", env=env, expect=0)
        assert result["ok"] and result["created_database"]
        assert table_digests(other, "checkniner_restored") == archived
        owner = other.psql("SELECT tableowner FROM pg_tables WHERE tablename = 'checkouts_checkout';",
                           db="checkniner_restored")  # fmt: skip
        assert owner.strip() == "restorer"


def test_argv_password_is_warned_about(pg, app_db, run_cli, scratch_dbs):
    backup(run_cli)
    target, url = new_db_url(pg)
    scratch_dbs.append(target)
    proc = run_cli("restore", "--target-database-url", url)
    assert proc.returncode == 0, proc.stderr
    assert "CHECKNINER_RESTORE_TARGET_DATABASE_URL" in first_error_line(proc)


def test_tables_of_a_newer_migration_are_kept_and_reported(pg, app_db, run_cli):
    backup(run_cli)
    archived = table_digests(pg, app_db.name)
    pg.psql("CREATE TABLE checkouts_newthing (id int PRIMARY KEY); INSERT INTO checkouts_newthing VALUES (1);",
            db=app_db.name, as_superuser=False)  # fmt: skip
    manage(["mutate_business"], app_db.url)
    result = restore_json(run_cli, "--yes")
    assert result["ok"] and result["extra_tables"] == ["checkouts_newthing"]
    assert any("checkouts_newthing" in w for w in result["warnings"])
    after = table_digests(pg, app_db.name)
    assert after.pop("checkouts_newthing")[0] == 1
    assert after == archived


# -- the seed's manual procedure still works -----------------------------------------------------------------


@pytest.mark.app_django32
def test_manual_procedure_sql_and_loaddata(pg, app_db, run_cli, backup_env, scratch_dbs, tmp_path):
    backup(run_cli)
    archived = table_digests(pg, app_db.name)
    manage(["mutate_business"], app_db.url)
    latest = os.path.join(backup_env["CHECKNINER_BACKUP_DIR"], "latest.tar.gz")
    work = tmp_path / "manual"
    work.mkdir()
    sql = f"{app_db.name}.sql"
    subprocess.run(["tar", "-xzf", latest, sql], cwd=work, check=True)
    env = pg.env(as_superuser=False)
    with open(work / sql, "rb") as handle:  # psql db < db.sql, exactly as the seed's instructions say
        proc = subprocess.run(
            [pg.bin("psql"), "-h", pg.host, "-p", str(pg.port), "-U", APP_USER, app_db.name],
            stdin=handle, capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
    assert proc.returncode == 0 and "ERROR" not in proc.stderr, proc.stderr
    assert table_digests(pg, app_db.name) == archived

    target, url = new_db_url(pg)
    scratch_dbs.append(target)
    pg.create_database(target)
    migrate(url)
    subprocess.run(["tar", "-xzf", latest, "auth.json", "checkouts.json"], cwd=work, check=True)
    manage(["loaddata", str(work / "auth.json"), str(work / "checkouts.json")], url)
    assert portable_digests(pg, target) == portable_digests(pg, app_db.name)


# -- fixtures mode --------------------------------------------------------------------------------------------


@pytest.mark.app_django32
def test_fixtures_into_a_new_database(pg, app_db, run_cli, scratch_dbs):
    backup(run_cli)
    target, url = new_db_url(pg)
    scratch_dbs.append(target)
    result = restore_json(run_cli, "--mode", "fixtures", "--target-database-url", url)
    assert result["ok"] and result["changed"] and result["created_database"]
    assert [f["app"] for f in result["fixtures"]][:2] == ["contenttypes", "auth"]
    assert {a: v["match"] for a, v in result["apps"].items()} == {"auth": True, "checkouts": True}
    assert portable_digests(pg, target) == portable_digests(pg, app_db.name)
    again = restore_json(run_cli, "--mode", "fixtures", "--target-database-url", url)
    assert again["changed"] is False and again["ok"]


@pytest.mark.app_django32
def test_fixtures_with_sub_millisecond_times_prove_themselves(pg, app_db, run_cli, scratch_dbs):
    """Django's encoder writes 12:00:00.000500 as "12:00:00.000", which loads as 12:00:00 and is written "12:00:00":
    the proof failed for any timestamp within the first millisecond of a second (about 1 in 1000; it broke CI)."""
    sql = ("UPDATE auth_user SET date_joined = date_trunc('second', date_joined) + interval '500 microseconds',"
           " last_login = date_trunc('second', date_joined) + interval '999 microseconds';")  # fmt: skip
    pg.psql(sql, db=app_db.name)
    backup(run_cli)
    target, url = new_db_url(pg)
    scratch_dbs.append(target)
    result = restore_json(run_cli, "--mode", "fixtures", "--target-database-url", url)
    assert result["ok"] and {a: v["match"] for a, v in result["apps"].items()} == {"auth": True, "checkouts": True}
    assert portable_digests(pg, target) == portable_digests(pg, app_db.name)


def _older_format_archive(pg, app_db, latest, dest, fixture_format, recorded_format):
    """The archive at latest with its business fixtures dumped again in fixture_format by the helper (as an older
    checkniner-backup wrote them), its manifest recording recorded_format."""
    outdir = dest.parent / f"dump-{fixture_format}-{recorded_format}"
    outdir.mkdir()
    env = manage_env(app_db.url, {
        protocol.ENV_DB: json.dumps({"name": app_db.name, "user": APP_USER, "password": pg.app_password,
                                          "host": pg.host, "port": pg.port, "options": {}}),
        protocol.ENV_APPS: "auth,checkouts", protocol.ENV_ONLY_BUSINESS: "1",
        protocol.ENV_FORMAT: str(fixture_format), "CHECKNINER_MANAGE_PY": str(MANAGE_PY),
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
    })  # fmt: skip
    helper = django_client.helper_script(str(dest.parent))  # the zipapp the engine runs
    subprocess.run([app_django.python(), helper, protocol.DUMP, str(outdir)], env=env, check=True,
                   capture_output=True)  # fmt: skip

    def edit(members, manifest):
        for app in ("auth", "checkouts"):
            members[f"{app}.json"] = (outdir / f"{app}.json").read_bytes()
            reseal(members, manifest, f"{app}.json")
            manifest["business_fixtures"][app] = manifest["members"][f"{app}.json"]["sha256"]
        manifest["fingerprint"] = business_fingerprint(["auth", "checkouts"], manifest["business_fixtures"])
        manifest["fixture_format"] = recorded_format

    return repack(latest, dest, edit)


def test_fixtures_of_an_archive_in_an_older_format_prove_themselves(pg, app_db, run_cli, backup_env, tmp_path):
    """Archives written before fixture format 3 cut times to the millisecond: their proof dumps the restored data in
    their own format (the manifest's fixture_format), else every time with microseconds would fail it."""
    pg.psql("UPDATE auth_user SET date_joined = date_trunc('second', date_joined) + interval '123456 microseconds';",
            db=app_db.name)  # fmt: skip
    backup(run_cli)
    latest = os.path.join(backup_env["CHECKNINER_BACKUP_DIR"], "latest.tar.gz")
    old = _older_format_archive(pg, app_db, latest, tmp_path / "old.tar.gz", 2, 2)
    assert b'.123Z"' in tarfile.open(old).extractfile("auth.json").read()  # milliseconds, as format 2 wrote them
    for archive_path, ok in ((old, True), (_older_format_archive(pg, app_db, latest, tmp_path / "bad.tar.gz", 2, 3),
                                           False)):  # fmt: skip
        target, url = new_db_url(pg)
        try:
            proc = run_cli("restore", "--json", "--mode", "fixtures", "--archive", archive_path,
                           "--target-database-url", url)  # fmt: skip
            assert proc.returncode == (0 if ok else 1), proc.stderr
            if ok:
                result = json.loads(proc.stdout)
                assert result["ok"] and all(v["match"] for v in result["apps"].values())
            else:  # read in today's format, the same data dumps otherwise: the proof fails and rolls back
                assert "did not reproduce auth" in first_error_line(proc)
        finally:
            pg.drop_database(target)


@pytest.mark.app_django32
def test_fixtures_subset_into_a_database_that_has_the_users(pg, app_db, template_db, run_cli, scratch_dbs):
    backup(run_cli)
    target, url = new_db_url(pg)
    scratch_dbs.append(target)
    pg.create_database(target, template=template_db.name)
    pg.psql("TRUNCATE checkouts_checkout, checkouts_pilotweight, checkouts_airstrip_bases, checkouts_airstrip,"
            " checkouts_aircrafttype CASCADE;", db=target)  # fmt: skip
    users = table_digests(pg, target, ["auth_user", "auth_group", "auth_user_groups"])
    result = restore_json(run_cli, "--mode", "fixtures", "--apps", "checkouts", "--target-database-url", url)
    assert result["ok"] and result["fixtures"] == [{"app": "checkouts", "objects": result["fixtures"][0]["objects"]}]
    assert list(result["apps"]) == ["checkouts"] and result["apps"]["checkouts"]["match"]
    assert portable_digests(pg, target) == portable_digests(pg, app_db.name)
    assert table_digests(pg, target, ["auth_user", "auth_group", "auth_user_groups"]) == users


@pytest.mark.app_django32
def test_fixtures_into_conflicting_rows_roll_back(pg, app_db, template_db, run_cli, scratch_dbs):
    backup(run_cli)
    target, url = new_db_url(pg)
    scratch_dbs.append(target)
    pg.create_database(target, template=template_db.name)
    manage(["mutate_business"], url)  # rows the archive does not have
    before = table_digests(pg, target)
    proc = run_cli("restore", "--mode", "fixtures", "--apps", "auth,checkouts", "--target-database-url", url)
    assert proc.returncode == 1
    line = first_error_line(proc)
    assert "rolled back" in line and "unchanged" in line and "checkouts" in line
    assert table_digests(pg, target) == before


def test_fixtures_into_an_unmigrated_database_is_refused(pg, app_db, run_cli, scratch_dbs):
    backup(run_cli)
    target, url = new_db_url(pg)
    scratch_dbs.append(target)
    pg.create_database(target)
    pg.psql("CREATE TABLE unrelated (id int);", db=target, as_superuser=False)
    proc = run_cli("restore", "--mode", "fixtures", "--target-database-url", url)
    assert proc.returncode == 2
    assert "migrate" in first_error_line(proc)
    assert all_tables(pg, target) == ["unrelated"]


# -- bad input: one clear line, target unchanged ------------------------------------------------------------


def _flip_member(members, manifest):
    data = bytearray(members["checkouts.json"])
    data[len(data) // 2] ^= 0x01
    members["checkouts.json"] = bytes(data)


def _drop_member(members, manifest):
    del members["checkouts.json"]


def _sql_error_half_way(members, manifest):
    sql_name = next(n for n in members if n.endswith(".sql"))
    text = members[sql_name].decode()
    cut = text.index("COPY ", len(text) // 2)
    members[sql_name] = (text[:cut] + "SELECT * FROM no_such_table_injected;\n" + text[cut:]).encode()
    reseal(members, manifest, sql_name)


def _truncate(path, dest):
    data = open(path, "rb").read()
    dest.write_bytes(data[: len(data) * 2 // 3])
    return str(dest)


@pytest.mark.parametrize(
    "case, expect_code, expect_text",
    [
        ("truncated", 1, "damaged or truncated"),
        ("flipped byte", 1, "does not match its manifest checksum"),
        ("member missing", 1, "missing member(s) checkouts.json"),
        ("sql error half-way", 1, "rolled back"),
        ("unknown name", 2, "no archive named 2000-01-01T000000Z.tar.gz"),
        ("empty", 1, "no archive to restore"),
        ("s3 unreachable", 1, "S3 unreachable"),
    ],
)
def test_bad_input_leaves_the_live_database_unchanged(
    pg, app_db, run_cli, backup_env, s3, tmp_path, case, expect_code, expect_text
):
    env = {}
    args = ["--yes"]
    if case in ("empty", "s3 unreachable"):
        env["CHECKNINER_BACKUP_DIR"] = str(tmp_path / "nothing-here")
    else:
        backup(run_cli)
        latest = os.path.realpath(os.path.join(backup_env["CHECKNINER_BACKUP_DIR"], "latest.tar.gz"))
        bad = tmp_path / "2030-01-01T000000Z.tar.gz"
        if case == "truncated":
            args += ["--archive", _truncate(latest, bad)]
        elif case == "flipped byte":
            args += ["--archive", repack(latest, bad, _flip_member)]
        elif case == "member missing":
            args += ["--archive", repack(latest, bad, _drop_member)]
        elif case == "sql error half-way":
            args += ["--archive", repack(latest, bad, _sql_error_half_way)]
        elif case == "unknown name":
            args += ["--archive", "2000-01-01T000000Z.tar.gz"]
    manage(["mutate_business"], app_db.url)
    before = table_digests(pg, app_db.name)
    if case == "s3 unreachable":
        with s3.outage():
            proc = run_cli("restore", *args, env=env, timeout=120)
    else:
        proc = run_cli("restore", *args, env=env)
    assert proc.returncode == expect_code, proc.stderr
    line = first_error_line(proc)
    assert expect_text in line, line
    assert "Traceback" not in proc.stderr
    assert table_digests(pg, app_db.name) == before


def test_archive_of_another_database_is_refused(pg, app_db, template_db, run_cli, backup_env, scratch_dbs, tmp_path):
    other, other_url = new_db_url(pg)
    scratch_dbs.append(other)
    pg.create_database(other, template=template_db.name)
    name = backup(run_cli, DATABASE_URL=other_url, CHECKNINER_BACKUP_DIR=str(tmp_path / "other"))
    manage(["mutate_business"], app_db.url)
    before = table_digests(pg, app_db.name)
    proc = run_cli("restore", "--yes", "--archive", str(tmp_path / "other" / name))
    assert proc.returncode == 1
    assert f"is a backup of database {other!r}, not of the live {app_db.name!r}" in first_error_line(proc)
    assert table_digests(pg, app_db.name) == before


def test_s3_object_that_does_not_match_its_pointer_is_refused(pg, app_db, run_cli, backup_env, s3, bucket, tmp_path):
    name = backup(run_cli)
    client = s3.client()
    key = f"db/{name}"
    head = client.head_object(Bucket=bucket, Key=key)
    body = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    body[-10] ^= 0xFF
    client.put_object(Bucket=bucket, Key=key, Body=bytes(body), Metadata=head["Metadata"])
    manage(["mutate_business"], app_db.url)
    before = table_digests(pg, app_db.name)
    proc = run_cli("restore", "--yes", env={"CHECKNINER_BACKUP_DIR": str(tmp_path / "lost")})
    assert proc.returncode == 1
    assert "does not match its recorded sha256" in first_error_line(proc)
    assert table_digests(pg, app_db.name) == before


def test_latest_without_pointer_uses_a_paginated_listing(pg, app_db, run_cli, backup_env, s3, bucket, tmp_path):
    name = backup(run_cli)
    client = s3.client()
    client.delete_object(Bucket=bucket, Key="db/latest.json")
    # More than one page of keys (1,000), all older than the real archive, plus a newer safety archive.
    for i in range(1005):
        client.put_object(Bucket=bucket, Key=f"db/2000-01-01T{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}Z.tar.gz",
                          Body=b"")  # fmt: skip
    client.put_object(Bucket=bucket, Key="db/2999-01-01T000000Z-pre-restore.tar.gz", Body=b"")
    target, url = new_db_url(pg)
    try:
        env = {"CHECKNINER_BACKUP_DIR": str(tmp_path / "lost"), "CHECKNINER_RESTORE_TARGET_DATABASE_URL": url}
        result = restore_json(run_cli, "--check", env=env)
        assert result["archive"] == name and result["changed"]
    finally:
        pg.drop_database(target)


# -- the restore drill ----------------------------------------------------------------------------------------


@pytest.mark.app_django32
def test_verify_passes_on_a_good_archive_and_leaves_nothing(pg, app_db, run_cli):
    name = backup(run_cli)
    pg.create_database("cnb_verify_20000101000000_1")  # left behind by a killed drill long ago
    proc = run_cli("verify", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] and doc["archive"] == name and doc["dropped"]
    assert doc["missing_migrations"] == []
    assert doc["tables"]["checkouts_checkout"]["actual"] == doc["tables"]["checkouts_checkout"]["expected"] > 0
    assert all(v["match"] for v in doc["apps"].values())
    assert doc["stale_dropped"] == ["cnb_verify_20000101000000_1"]
    assert scratch_databases(pg) == []


def _lying_manifest(members, manifest):
    """A consistent archive whose SQL holds other business data than its fixtures say (tampered before packing)."""
    sql_name = next(n for n in members if n.endswith(".sql"))
    text = members[sql_name].decode()
    start = text.index('COPY "public"."checkouts_checkout"')
    first_row = text.index("\n", start) + 1
    end = text.index("\n", first_row) + 1
    members[sql_name] = (text[:first_row] + text[end:]).encode()  # one checkout row fewer
    reseal(members, manifest, sql_name)


@pytest.mark.parametrize("edit, expect_code, expect_text", [
    (_flip_member, 1, "does not match its manifest checksum"),
    (_lying_manifest, 1, "FAILED the drill: checkouts"),
])  # fmt: skip
def test_verify_fails_on_a_tampered_archive(pg, app_db, run_cli, backup_env, tmp_path, edit, expect_code, expect_text):
    backup(run_cli)
    latest = os.path.realpath(os.path.join(backup_env["CHECKNINER_BACKUP_DIR"], "latest.tar.gz"))
    bad = repack(latest, tmp_path / "2030-01-01T000000Z.tar.gz", edit)
    proc = run_cli("verify", "--archive", bad)
    assert proc.returncode == expect_code, proc.stderr
    assert expect_text in first_error_line(proc)
    assert scratch_databases(pg) == []


def test_verify_needs_createdb(pg, app_db, run_cli):
    backup(run_cli)
    role = f"nocreatedb_{uuid.uuid4().hex[:6]}"
    pg.psql(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'; GRANT ALL ON DATABASE {quote_ident(app_db.name)} TO {role};")
    try:
        proc = run_cli("verify", env={"DATABASE_URL": pg.url(role, "pw", app_db.name)})
        assert proc.returncode == 2
        line = first_error_line(proc)
        assert "CREATEDB" in line and role in line
        assert scratch_databases(pg) == []
    finally:
        pg.psql(f"REVOKE ALL ON DATABASE {quote_ident(app_db.name)} FROM {role}; DROP ROLE {role};")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_verify_leaves_no_scratch_database(pg, app_db, run_cli, backup_env, sig):
    manage(["seed_bulk", "--megabytes", "8"], app_db.url)
    backup(run_cli)
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_REPLAY, "verify"],
        env=backup_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not scratch_databases(pg) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert scratch_databases(pg), "the drill never created its scratch database"
        time.sleep(0.3)  # in the middle of the replay
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    assert "interrupted" in first_error_line(subprocess.CompletedProcess([], 1, "", err))
    assert scratch_databases(pg) == []


SLOW_REPLAY = """
import sys, time
from checkniner_backup import cli
from checkniner_backup.restore import sqlstream

feed = sqlstream.SqlStream.feed


def slowly(self, block):  # the replay through libpq is fast: slowed, it is still going when the signal comes
    time.sleep(0.2)
    return feed(self, block)


sqlstream.SqlStream.feed = slowly
sys.argv = ["checkniner-backup", *sys.argv[1:]]
sys.exit(cli.main())
"""


DIE_BEFORE_COMMIT = """
import os, signal, sys
from checkniner_backup import cli
from checkniner_backup.restore import replay


def then_die(*args, **kwargs):  # the whole SQL is sent; the row-count checks and COMMIT would come next
    os.kill(os.getpid(), signal.SIGKILL)


replay.checks_sql = then_die
sys.argv = ["checkniner-backup", "restore", "--yes", "--archive", sys.argv[1]]
sys.exit(cli.main())
"""


def test_restore_killed_before_commit_commits_nothing(pg, app_db, run_cli, backup_env):
    """kill -9 of the restore with the whole SQL sent: the server sees its connection end without COMMIT, nothing
    lands."""
    backup(run_cli)
    latest = os.path.realpath(os.path.join(backup_env["CHECKNINER_BACKUP_DIR"], "latest.tar.gz"))
    manage(["mutate_business"], app_db.url)
    before = table_digests(pg, app_db.name)
    proc = subprocess.run(
        [sys.executable, "-c", DIE_BEFORE_COMMIT, latest], env=backup_env, capture_output=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    deadline = time.monotonic() + 30
    query = f"SELECT pid FROM pg_stat_activity WHERE datname = '{app_db.name}';"  # the replay's session
    while pg.psql(query).split() and time.monotonic() < deadline:
        time.sleep(0.1)
    detail = query.replace("SELECT pid", "SELECT pid, state, backend_type, left(query, 80)")
    assert not pg.psql(query).split(), f"the replay's session did not end with its process: {pg.psql(detail)}"
    assert table_digests(pg, app_db.name) == before


def _edited_row(members, manifest):
    """Same row counts, one value changed in the SQL: only a content proof can tell."""
    sql_name = next(n for n in members if n.endswith(".sql"))
    text = members[sql_name].decode()
    start = text.index('COPY "public"."checkouts_airstrip"')
    first_row = text.index("\n", start) + 1
    end = text.index("\n", first_row)
    row = text[first_row:end].split("\t")
    row[2] = row[2] + " (edited)"  # the name column
    members[sql_name] = (text[:first_row] + "\t".join(row) + text[end:]).encode()
    reseal(members, manifest, sql_name)


def test_sql_restore_proof_catches_changed_content_with_equal_row_counts(pg, app_db, run_cli, backup_env, tmp_path):
    backup(run_cli)
    latest = os.path.realpath(os.path.join(backup_env["CHECKNINER_BACKUP_DIR"], "latest.tar.gz"))
    bad = repack(latest, tmp_path / "2030-01-01T000000Z.tar.gz", _edited_row)
    name = f"{app_db.name}_edited"
    try:
        doc = restore_json(run_cli, "--archive", bad, env={"CHECKNINER_RESTORE_TARGET_DATABASE_URL": pg.app_url(name)},
                           expect=1)  # fmt: skip
        assert doc["fingerprint"]["method"] == "table digests" and doc["fingerprint"]["before_commit"] is True
        assert doc["apps"]["checkouts"]["match"] is False and doc["apps"]["auth"]["match"] is True
        assert all(t["match"] for t in doc["tables"].values())  # the row counts alone would have passed
    finally:
        pg.drop_database(name)
