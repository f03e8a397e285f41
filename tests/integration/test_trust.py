"""Authenticate before acting (issue 19): what someone who can write to the bucket, without the signing key, can
try. Real PostgreSQL, the moto S3 endpoint, the sample project, the command line.

Each case asserts what the attacker wanted did not happen (the database's settings, roles and rows unchanged), and
that the command said so in one line, without a traceback.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest
from support.archives import backup, first_error_line

from checkniner_backup import archive, signing

PREFIX = "db/"
# runs argv[1:] and prints its peak resident size (KiB) as the last line of stderr
PEAK_OF_CHILD = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


@pytest.fixture
def host_key(tmp_path):
    """This host's signing key pair: (keygen's result, a trusted-keys file holding its public key)."""
    directory = tmp_path / "keys"
    directory.mkdir(mode=0o700)
    key = signing.keygen(str(directory / "signing.key"), comment="app1")
    trusted = directory / "trusted"
    trusted.write_text(f"{key.line}\n")
    return key, str(trusted)


def raw_members(path):
    """[(name, bytes)] of an archive, in its order: the manifest's bytes kept exactly (its signature holds)."""
    with tarfile.open(path, "r:gz") as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar]


def write_members(path, members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(gzip.compress(buf.getvalue()))
    return path


def db_settings(pg, db):
    """Every per-database and per-role setting of the cluster, and the database's connection limit."""
    rows = pg.psql("SELECT setdatabase, setrole, array_to_string(setconfig, ',') FROM pg_db_role_setting ORDER BY 1, 2")
    limit = pg.psql(f"SELECT datconnlimit FROM pg_database WHERE datname = '{db}'")
    return rows, limit


def put_as_attacker(s3, bucket, name, body, pointer=True):
    """What anyone holding the bucket's keys can do: an object with matching checksum metadata, and a pointer."""
    sha = hashlib.sha256(body).hexdigest()
    client = s3.client()
    client.put_object(Bucket=bucket, Key=f"{PREFIX}{name}", Body=body, Metadata={"sha256": sha})
    if pointer:
        doc = {"name": name, "sha256": sha, "size": len(body), "fingerprint": "x"}
        client.put_object(Bucket=bucket, Key=f"{PREFIX}latest.json", Body=json.dumps(doc).encode())


def _same_size_sql(sql, statement):
    """The archive's SQL with pg_dump's header comments replaced by `statement`, padded to the same size: every
    table, row and count still as the manifest says, the member's size too."""
    start = sql.index(b"-- Dumped from database version")
    end = sql.index(b"\n", sql.index(b"-- Dumped by pg_dump version")) + 1
    room = end - start
    line = statement.encode() + b"\n"
    assert len(line) < room, "the header comments are too short for the statement"
    return sql[:start] + line.ljust(room - 1, b" ") + b"\n" + sql[end:]


# -- case 1: a kept signed manifest, a swapped SQL member, a pointer that agrees ---------------------------------


def test_swapped_sql_under_a_kept_signed_manifest_is_refused_from_s3(
    pg, app_db, run_cli, backup_env, s3, bucket, host_key, tmp_path
):
    key, trusted = host_key
    host = {"CHECKNINER_SIGNING_KEY": key.private_key, "CHECKNINER_TRUSTED_KEYS": trusted}
    name = backup(run_cli, **host)
    members = raw_members(os.path.join(backup_env["CHECKNINER_BACKUP_DIR"], name))
    sql_name = f"{app_db.name}.sql"
    statement = f"ALTER DATABASE {app_db.name} SET default_transaction_read_only = on;"
    swapped = [(n, _same_size_sql(d, statement) if n == sql_name else d) for n, d in members]
    assert [len(d) for _, d in swapped] == [len(d) for _, d in members]
    body = write_members(tmp_path / "swapped.tar.gz", swapped).read_bytes()
    put_as_attacker(s3, bucket, name, body)
    before = db_settings(pg, app_db.name)

    for args in (["verify", "--from", "s3"], ["restore", "--yes", "--archive", name]):
        lost = {**host, "CHECKNINER_BACKUP_DIR": str(tmp_path / f"lost-{args[0]}")}
        proc = run_cli(*args, env=lost)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        line = first_error_line(proc)
        assert "does not match its manifest" in line and name in line, (args, line)
        assert "Traceback" not in proc.stderr
        assert db_settings(pg, app_db.name) == before, args


# -- case 5: fail closed ------------------------------------------------------------------------------------------


def test_unsigned_archives_are_refused_by_default_and_restore_with_allow_unsigned(pg, app_db, run_cli, tmp_path):
    unsigned = {"CHECKNINER_SIGNING_KEY": None}  # the harness signs; without a key, as a host configured before
    name = backup(run_cli, **unsigned)  # no signing key, no trusted keys: the default configuration
    for args in (["verify"], ["restore", "--check"], ["restore", "--yes"]):
        proc = run_cli(*args)
        assert proc.returncode == 1, (args, proc.stderr)
        line = first_error_line(proc)
        assert f"{name} is not signed" in line and "--allow-unsigned" in line, (args, line)
    # every line `run` logs without a key says its archives will be refused
    proc = run_cli("run", env=unsigned)
    assert proc.returncode == 0, proc.stderr
    assert "; warning: archives are not signed (CHECKNINER_SIGNING_KEY is not set)" in proc.stdout.splitlines()[0]
    proc = run_cli("verify", "--allow-unsigned", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] and any("not signed" in w for w in doc["warnings"])


def test_an_archive_signed_by_an_unknown_key_is_refused_without_trusted_keys(pg, app_db, run_cli, tmp_path):
    other = signing.keygen(str(tmp_path / "attacker.key"), comment="attacker")
    backup(run_cli, CHECKNINER_SIGNING_KEY=other.private_key)
    mine = signing.keygen(str(tmp_path / "mine.key"), comment="host")
    proc = run_cli("verify", env={"CHECKNINER_SIGNING_KEY": mine.private_key})
    assert proc.returncode == 1, proc.stderr
    assert other.fingerprint in first_error_line(proc)


def test_the_hosts_own_key_is_trusted_without_a_trusted_keys_file(pg, app_db, run_cli, host_key):
    key, _ = host_key
    backup(run_cli, CHECKNINER_SIGNING_KEY=key.private_key)
    proc = run_cli("verify", "--json", env={"CHECKNINER_SIGNING_KEY": key.private_key})
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] and doc["signed_by"] == key.fingerprint and doc["warnings"] == []


def test_the_daily_drill_of_an_unsigned_host_fails_loudly(pg, app_db, run_cli, receiver):
    """A host deployed before signing: its drill must not report "passed" over archives anyone could have planted."""
    unsigned = {"CHECKNINER_SIGNING_KEY": None, "CHECKNINER_VERIFY_HEALTHCHECK_URL": receiver.url}
    name = backup(run_cli, **unsigned)
    proc = run_cli("verify", env=unsigned)
    assert proc.returncode == 1, proc.stderr
    assert f"{name} is not signed: refused before any database was touched" in first_error_line(proc)
    path, body, outcome = receiver.calls[-1]
    assert path.endswith("/fail") and outcome == "failed" and f"{name} is not signed" in body
    doc = json.loads(run_cli("status", "--json").stdout)
    assert doc["last_drill"]["outcome"] == "failed" and doc["last_drill_success"] is None
    assert pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'cnb\\_verify\\_%';").strip() == "0"


# -- case 6: an old genuine archive under a new name ---------------------------------------------------------------


def test_a_genuine_archive_copied_under_a_later_name_is_not_restored(
    pg, app_db, run_cli, backup_env, s3, bucket, host_key, tmp_path
):
    from support.django_project import manage

    key, trusted = host_key
    host = {"CHECKNINER_SIGNING_KEY": key.private_key, "CHECKNINER_TRUSTED_KEYS": trusted}
    old = backup(run_cli, **host)
    manage(["mutate_business"], app_db.url)
    new = backup(run_cli, **host)
    later = (archive.time_of(new) + dt.timedelta(minutes=5)).strftime(archive.STAMP) + archive.SUFFIX
    body = open(os.path.join(backup_env["CHECKNINER_BACKUP_DIR"], old), "rb").read()
    put_as_attacker(s3, bucket, later, body)

    lost = {**host, "CHECKNINER_BACKUP_DIR": str(tmp_path / "lost")}
    proc = run_cli("restore", "--yes", "--archive", later, env=lost)
    assert proc.returncode == 1, proc.stderr
    line = first_error_line(proc)
    assert later in line and old in line, line  # the signed manifest names the archive it really is
    proc = run_cli("verify", "--from", "s3", "--json", env=lost)
    doc = json.loads(proc.stdout) if proc.stdout.strip() else {}
    assert doc.get("archive") != later, (proc.stdout, proc.stderr)


# -- case 8: a bomb is refused before anything is allocated ---------------------------------------------------------


def test_a_sparse_member_is_refused_before_it_is_read(pg, app_db, run_cli, backup_env, host_key, tmp_path):
    """A few kilobytes that GNU tar reads back as a gigabyte of zeros, under the SQL member's name, beside the genuine
    signed manifest."""
    import subprocess
    import sys

    key, trusted = host_key
    host = {"CHECKNINER_SIGNING_KEY": key.private_key, "CHECKNINER_TRUSTED_KEYS": trusted}
    name = backup(run_cli, **host)
    members = raw_members(os.path.join(backup_env["CHECKNINER_BACKUP_DIR"], name))
    assert [n for n, _ in members][:2] == ["manifest.json", "manifest.sig"]
    sql_name = f"{app_db.name}.sql"
    work = tmp_path / "bomb"
    work.mkdir()
    for member_name, data in members:
        (work / member_name).write_bytes(data)
    os.truncate(work / sql_name, 1 << 30)  # sparse: no block of it is written
    bomb = tmp_path / name
    subprocess.run(["tar", "--sparse", "--format=gnu", "-czf", str(bomb), "-C", str(work),
                    *[n for n, _ in members]], check=True)  # fmt: skip
    assert bomb.stat().st_size < 1 << 20
    # the peak of the command alone: measured by a parent of its own (the test's own children came before it)
    measured = [sys.executable, "-c", PEAK_OF_CHILD, sys.executable, "-m", "checkniner_backup.cli"]
    proc = subprocess.run([*measured, "restore", "--yes", "--archive", str(bomb)], env={**backup_env, **host},
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    *lines, peak = proc.stderr.splitlines()
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert sql_name in next(line for line in lines if line.strip()), proc.stderr
    assert int(peak) < 300 * 1024, f"the refusal took {int(peak) // 1024} MiB"


# -- case 9: a clock correction does not bring older data back as latest --------------------------------------------


def test_latest_follows_the_save_sequence_not_the_name(pg, app_db, run_cli, backup_env, s3, bucket, tmp_path):
    """Saved once with the clock right, then with the clock set three hours back (a host whose clock was fast, seen
    once it was corrected): the second archive has the earlier name and the newer data, and is latest, locally, in
    S3 and for a host that lost its directory."""
    from support.django_project import manage

    clock = str(os.path.join(os.path.dirname(__file__), "..", "support", "clock"))
    first = backup(run_cli)
    manage(["mutate_business"], app_db.url)
    slow = {"PYTHONPATH": clock, "CHECKNINER_TEST_CLOCK_OFFSET": str(-3 * 3600)}
    second = backup(run_cli, **slow)
    assert second < first  # the newer data under the earlier name
    pointer = json.loads(s3.client().get_object(Bucket=bucket, Key=f"{PREFIX}latest.json")["Body"].read())
    assert pointer["name"] == second and pointer["sequence"] == 2

    for env in ({}, {"CHECKNINER_BACKUP_DIR": str(tmp_path / "lost")}):
        proc = run_cli("restore", "--check", "--json", env=env)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["archive"] == second, env
