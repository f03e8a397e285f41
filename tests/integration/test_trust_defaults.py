"""Authenticate before acting (issue 19): what someone who can write to the bucket, without the signing key, can
try. Real PostgreSQL, the moto S3 endpoint, the sample project, the command line.

Each case asserts what the attacker wanted did not happen (the database's settings, roles and rows unchanged), and
that the command said so in one line, without a traceback.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import pytest
from support.archives import backup, first_error_line

from checkniner_backup import signing

PREFIX = "db/"


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
