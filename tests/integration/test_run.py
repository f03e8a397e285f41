"""Acceptance of `checkniner-backup run` against the real PostgreSQL server and the real S3 endpoint (issue 2)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import psycopg2
import pytest
from support.django_project import manage

from checkniner_backup.pg import table_digests

LINE = re.compile(r"^\S+Z checkniner-backup run: ")


def archives(env):
    directory = Path(env["CHECKNINER_BACKUP_DIR"])
    return sorted(p.name for p in directory.glob("*.tar.gz") if p.name != "latest.tar.gz")


def objects(s3, bucket):
    resp = s3.client().list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in resp.get("Contents", []))


def one_line(text):
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert LINE.match(lines[0]), lines[0]
    return lines[0]


@pytest.fixture
def pg_dump_log(tmp_path, backup_env):
    """Put a pg_dump wrapper first on PATH that records each invocation (and its argv) before running the real one."""
    real = subprocess.run(["which", "pg_dump"], capture_output=True, text=True, env=backup_env).stdout.strip()
    wrapdir = tmp_path / "wrap"
    wrapdir.mkdir()
    log = tmp_path / "pg_dump.calls"
    script = wrapdir / "pg_dump"
    script.write_text(
        f'#!/bin/sh\n[ "$1" = "--version" ] || echo "$*" >> {log}\n'
        f'[ -n "$PG_DUMP_DELAY" ] && [ "$1" != "--version" ] && sleep "$PG_DUMP_DELAY"\nexec {real} "$@"\n'
    )
    script.chmod(0o755)
    backup_env["PATH"] = f"{wrapdir}{os.pathsep}{backup_env['PATH']}"
    return log


def calls(log):
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.app_django32
def test_first_run_saves_then_unchanged_without_pg_dump(run_cli, backup_env, pg_dump_log, s3, bucket, app_db):
    first = run_cli("run")
    assert first.returncode == 0, first.stderr
    assert "saved " in one_line(first.stdout)
    assert len(archives(backup_env)) == 1
    assert len(calls(pg_dump_log)) == 1
    assert "--snapshot=" in calls(pg_dump_log)[0]
    assert app_db.url.split(":")[2].split("@")[0] not in calls(pg_dump_log)[0]  # no password in argv

    second = run_cli("run")
    assert second.returncode == 0, second.stderr
    # precheck, or digests when autovacuum's ANALYZE (which takes a transaction id) ran after the tests before
    assert re.search(r"unchanged \((precheck|digests|fingerprint)", one_line(second.stdout))
    assert len(calls(pg_dump_log)) == 1, "an unchanged run must not invoke pg_dump"
    assert len(archives(backup_env)) == 1
    # and a third run on an idle database is decided by the precheck alone
    third = run_cli("run")
    assert "unchanged (precheck" in third.stdout
    assert objects(s3, bucket) == [f"db/{archives(backup_env)[0]}", "db/latest.json"]


@pytest.mark.app_django32
def test_business_change_saves_sessions_change_does_not(run_cli, backup_env, app_db, pg_dump_log):
    assert run_cli("run").returncode == 0
    manage(["touch_sessions"], app_db.url)
    result = run_cli("run")
    assert result.returncode == 0
    assert "unchanged (digests" in result.stdout
    assert len(archives(backup_env)) == 1
    assert len(calls(pg_dump_log)) == 1
    manage(["mutate_business"], app_db.url)
    result = run_cli("run")
    assert "saved " in result.stdout, result.stdout + result.stderr
    assert len(archives(backup_env)) == 2
    latest = Path(backup_env["CHECKNINER_BACKUP_DIR"], "latest.tar.gz")
    assert os.readlink(latest) == archives(backup_env)[-1]
    # the digests that run took to detect the change are the new archive's (not scanned twice): they are right
    with tarfile.open(latest) as tar:
        recorded = json.load(tar.extractfile("manifest.json"))["table_digests"]
    flat = {t: d for by_table in recorded.values() for t, d in by_table.items()}
    conn = psycopg2.connect(app_db.url)
    try:
        assert table_digests(conn, list(flat), {t: d["method"] for t, d in flat.items()}) == flat
    finally:
        conn.close()
    manage(["touch_sessions"], app_db.url)
    # the write counters read before that run's snapshot now answer for its data: no scan
    assert "unchanged (statistics" in run_cli("run").stdout


@pytest.mark.app_django32
def test_a_microsecond_is_a_business_change(run_cli, backup_env, pg):
    """The fixtures keep every microsecond (fixture format 3): a time moved by one is new data, saved."""
    assert run_cli("run").returncode == 0
    pg.psql("UPDATE auth_user SET date_joined = date_joined + interval '1 microsecond' WHERE id = 1",
            db=_db(backup_env))  # fmt: skip
    assert "saved " in run_cli("run").stdout
    assert len(archives(backup_env)) == 2


def test_fixture_invisible_change_goes_through_django_and_saves_nothing(run_cli, backup_env, pg, pg_dump_log):
    """A change the digests see but the fixtures do not (a permission's id: fixtures name permissions by natural key,
    so their ids are the database's own): Django decides."""
    assert run_cli("run").returncode == 0
    renumber = ("UPDATE auth_permission SET id = id + 100000 WHERE id = (SELECT max(id) FROM auth_permission p WHERE "
                "NOT EXISTS (SELECT 1 FROM auth_group_permissions WHERE permission_id = p.id) AND NOT EXISTS "
                "(SELECT 1 FROM auth_user_user_permissions WHERE permission_id = p.id))")  # fmt: skip
    pg.psql(renumber, db=_db(backup_env))
    assert "unchanged (fingerprint" in run_cli("run").stdout
    pg.psql(renumber, db=_db(backup_env))
    assert "unchanged (fingerprint" in run_cli("run").stdout
    # and the digests recorded by that run (with the write counters read before its snapshot) now answer for the
    # same data without Django
    pg.psql("UPDATE django_session SET expire_date = expire_date + interval '1 second'", db=_db(backup_env))
    assert "unchanged (statistics" in run_cli("run").stdout


def test_write_immediately_before_run_is_never_skipped(run_cli, backup_env, pg):
    assert run_cli("run").returncode == 0
    for i in range(5):
        assert run_cli("run").returncode == 0  # settle: precheck state recorded
        pg.psql(f"UPDATE checkouts_aircrafttype SET sorted_position = sorted_position + {i + 1}", db=_db(backup_env))
        result = run_cli("run")
        assert "saved " in result.stdout, f"iteration {i}: {result.stdout}{result.stderr}"
    assert len(archives(backup_env)) == 6


def _db(env):
    return env["DATABASE_URL"].rsplit("/", 1)[1]


@pytest.mark.app_django32
def test_archive_members_match_manifest_and_gnu_tar_extracts(run_cli, backup_env, tmp_path):
    assert run_cli("run").returncode == 0
    latest = Path(backup_env["CHECKNINER_BACKUP_DIR"], "latest.tar.gz")
    with tarfile.open(latest) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
        assert names[0] == "manifest.json"
        for name, info in manifest["members"].items():
            data = tar.extractfile(name).read()
            assert hashlib.sha256(data).hexdigest() == info["sha256"]
            assert len(data) == info["size"]
    db = _db(backup_env)
    assert f"{db}.sql" in names and "auth.json" in names and "checkouts.json" in names
    assert names[1] == "manifest.sig"  # the harness signs: the signature follows the manifest, which does not list it
    assert set(manifest["members"]) == set(names) - {"manifest.json", "manifest.sig"}
    for key in ("format_version", "created", "host", "database", "server_version", "pg_dump_version", "snapshot"):
        assert manifest[key], key
    assert manifest["migrations"]["checkouts"] == "0002_timestamped"  # the latest applied
    assert set(manifest["business_fixtures"]) == {"auth", "checkouts"}
    out = tmp_path / "gnu"
    out.mkdir()
    subprocess.run(["tar", "-xzf", str(latest), "auth.json", "checkouts.json"], cwd=out, check=True)
    assert json.loads((out / "checkouts.json").read_text())


def _sql_ids(sql_text, table):
    """Ids in a pg_dump COPY block (first column)."""
    match = re.search(rf'COPY "public"\."{table}" \([^)]*\) FROM stdin;\n(.*?)\n\\\.\n', sql_text, re.S)
    if not match or not match.group(1):
        return set()
    return {int(line.split("\t", 1)[0]) for line in match.group(1).splitlines()}


def test_sql_and_fixtures_describe_the_same_instant_under_concurrent_writes(run_cli, backup_env, app_db, tmp_path):
    stop = threading.Event()
    written = []

    def writer():
        conn = psycopg2.connect(app_db.url)
        conn.autocommit = False
        n = 0
        while not stop.is_set():
            n += 1
            with conn.cursor() as cur:
                cur.execute(
                    "INSERT INTO checkouts_airstrip (ident, name, position, is_base, created, modified)"
                    " VALUES (%s, %s, '', false, now(), now()) RETURNING id",
                    (f"ZW{n:06d}", f"writer {n}"),
                )
                cur.execute(
                    "INSERT INTO checkouts_aircrafttype (name, sorted_position, created, modified)"
                    " VALUES (%s, %s, now(), now())",
                    (f"ZT{n:06d}", n),
                )
            conn.commit()
            written.append(n)
            time.sleep(0.002)
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(4):
            result = run_cli("run")
            assert result.returncode == 0, result.stderr
    finally:
        stop.set()
        thread.join()
    assert written, "the writer committed nothing"
    names = archives(backup_env)
    assert len(names) >= 3
    db = _db(backup_env)
    for name in names:
        with tarfile.open(Path(backup_env["CHECKNINER_BACKUP_DIR"], name)) as tar:
            sql = tar.extractfile(f"{db}.sql").read().decode()
            fixture = json.load(tar.extractfile("checkouts.json"))
        for model, table in (
            ("checkouts.airstrip", "checkouts_airstrip"),
            ("checkouts.aircrafttype", "checkouts_aircrafttype"),
        ):
            fixture_ids = {o["pk"] for o in fixture if o["model"] == model}
            assert fixture_ids == _sql_ids(sql, table), f"{name}: {table} differs between SQL and fixture"
        strips = {
            o["fields"]["ident"][2:]
            for o in fixture
            if o["model"] == "checkouts.airstrip" and o["fields"]["ident"].startswith("ZW")
        }
        types = {
            o["fields"]["name"][2:]
            for o in fixture
            if o["model"] == "checkouts.aircrafttype" and o["fields"]["name"].startswith("ZT")
        }
        assert strips, f"{name}: no writer rows captured"
        assert strips == types, f"{name}: a transaction was cut in half"


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_s3_unreachable_keeps_archive_in_outbox_then_uploads(run_cli, backup_env, s3, bucket):
    down = {"S3_ENDPOINT_URL": f"http://127.0.0.1:{_closed_port()}"}
    result = run_cli("run", env=down)
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[0]
    assert "saved " in line and "upload failed: S3 unreachable" in line, line
    assert "1 archive(s) waiting in the outbox" in line
    (name,) = archives(backup_env)
    assert objects(s3, bucket) == []
    status = json.loads(run_cli("status", "--json").stdout)
    assert status["pending_uploads"] == 1

    again = run_cli("run")  # S3 is back: nothing changed, but the outbox is flushed
    assert again.returncode == 0, again.stderr
    assert f"uploaded {name}" in again.stdout
    head = s3.client().head_object(Bucket=bucket, Key=f"db/{name}", ChecksumMode="ENABLED")
    local = Path(backup_env["CHECKNINER_BACKUP_DIR"], name).read_bytes()
    assert head["Metadata"]["sha256"] == hashlib.sha256(local).hexdigest()
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(local).digest()).decode()
    pointer = json.loads(s3.client().get_object(Bucket=bucket, Key="db/latest.json")["Body"].read())
    assert pointer["name"] == name and pointer["sha256"] == hashlib.sha256(local).hexdigest()
    assert json.loads(run_cli("status", "--json").stdout)["pending_uploads"] == 0


def test_lost_local_directory_does_not_upload_duplicate(run_cli, backup_env, s3, bucket, tmp_path):
    assert run_cli("run").returncode == 0
    before = objects(s3, bucket)
    result = run_cli("run", env={"CHECKNINER_BACKUP_DIR": str(tmp_path / "fresh-host")})
    assert result.returncode == 0, result.stderr
    assert "unchanged (fingerprint" in result.stdout
    assert objects(s3, bucket) == before
    assert not list((tmp_path / "fresh-host").glob("*.tar.gz"))


def test_concurrent_runs_one_works_other_exits_at_once(backup_env, pg_dump_log, tmp_path):
    env = dict(backup_env, PG_DUMP_DELAY="3")
    cmd = [sys.executable, "-m", "checkniner_backup.cli", "run"]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while not calls(pg_dump_log) and time.time() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)
    took = time.monotonic() - started
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert "saved " in out
    assert second.returncode == 0
    assert "busy: another run holds the lock" in second.stdout
    assert took < 3, "the second run must not wait for the lock"
    assert len(archives(backup_env)) == 1


def test_kill_9_mid_run_leaves_no_partial_archive(backup_env, pg_dump_log, run_cli):
    env = dict(backup_env, PG_DUMP_DELAY="5")
    proc = subprocess.Popen([sys.executable, "-m", "checkniner_backup.cli", "run"], env=env)
    deadline = time.time() + 30
    while not calls(pg_dump_log) and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    directory = Path(backup_env["CHECKNINER_BACKUP_DIR"])
    assert archives(backup_env) == []
    assert not (directory / "latest.tar.gz").exists()
    result = run_cli("run")
    assert result.returncode == 0, result.stderr
    assert "saved " in result.stdout
    assert not list(directory.glob(".tmp-*")) and not list(directory.glob(".work-*"))
    assert len(archives(backup_env)) == 1


@pytest.mark.parametrize(
    "override, code, message",
    [
        ({"DATABASE_URL": None}, 2, "DATABASE_URL is not set"),
        ({"DATABASE_URL": "postgres://x@127.0.0.1:notaport/db"}, 2, "DATABASE_URL cannot be parsed"),
        ("unknown-db", 2, "does not exist: check DATABASE_URL"),
        ("wrong-password", 2, "wrong user or password"),
        ({"S3_BUCKET_NAME": "no-such-bucket-here"}, 1, "S3 bucket 'no-such-bucket-here' does not exist"),
        ({"CHECKNINER_MANAGE_PY": "/nonexistent/manage.py"}, 2, "CHECKNINER_MANAGE_PY does not exist"),
        ({"DJANGO_SETTINGS_MODULE": "nosuch.settings"}, 2, "cannot load Django settings 'nosuch.settings'"),
        (
            {"CHECKNINER_BACKUP_APPS": "auth,nosuchapp"},
            2,
            "business app(s) not installed in this Django project: nosuchapp",
        ),
    ],
)
def test_bad_configuration_one_clear_line_nothing_deleted(run_cli, backup_env, app_db, override, code, message):
    assert run_cli("run").returncode == 0
    before = archives(backup_env)
    if override == "unknown-db":
        override = {"DATABASE_URL": app_db.url.rsplit("/", 1)[0] + "/no_such_db"}
    elif override == "wrong-password":
        user_pass, rest = app_db.url.split("@", 1)
        override = {"DATABASE_URL": user_pass.rsplit(":", 1)[0] + ":wrong@" + rest}
    manage(["mutate_business"], app_db.url)  # so the run has something to save
    result = run_cli("run", env=override)
    assert result.returncode == code, result.stdout + result.stderr
    first = result.stderr.strip().splitlines()[0]
    assert "failed" in first, result.stderr
    assert message in first, first
    assert "s3cret" not in result.stdout + result.stderr
    assert "testing" not in first.replace("cnb-test", "")
    assert set(before) <= set(archives(backup_env))


def test_unwritable_backup_dir(run_cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_cli("run", env={"CHECKNINER_BACKUP_DIR": str(blocker / "sub")})
    assert result.returncode == 2
    assert "cannot create CHECKNINER_BACKUP_DIR" in result.stderr.splitlines()[0]
    assert blocker.read_text() == "not a directory"


def test_list_and_status_json(run_cli, backup_env, app_db):
    assert run_cli("run").returncode == 0
    manage(["mutate_business"], app_db.url)
    assert run_cli("run").returncode == 0
    local = json.loads(run_cli("list", "--json").stdout)["archives"]
    remote = json.loads(run_cli("list", "--remote", "--json").stdout)["archives"]
    assert [a["name"] for a in local] == archives(backup_env) == [a["name"] for a in remote]
    assert [a["latest"] for a in remote] == [False, True]
    status = json.loads(run_cli("status", "--json").stdout)
    assert status["archives"] == 2 and status["pending_uploads"] == 0
    assert status["last_run"]["outcome"] == "saved"


@pytest.fixture
def strict_s3(tmp_path):
    """A second moto server that checks credentials (IAM auth on): unknown keys are refused like on AWS."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="0")
    log = open(tmp_path / "strict-moto.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env=env, stdout=log, stderr=log
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait()
    log.close()


def test_wrong_s3_credentials_one_clear_line_archive_kept(run_cli, backup_env, strict_s3):
    result = run_cli("run", env={"S3_ENDPOINT_URL": strict_s3, "S3_SECRET_KEY": "wrong-secret-value"})
    assert result.returncode == 1
    first = result.stderr.strip().splitlines()[0]
    assert "S3 refused the credentials" in first and "check S3_ACCESS_KEY and S3_SECRET_KEY" in first, first
    assert "wrong-secret-value" not in result.stdout + result.stderr
    assert len(archives(backup_env)) == 1  # saved locally, waiting in the outbox
    assert json.loads(run_cli("status", "--json").stdout)["pending_uploads"] == 1
