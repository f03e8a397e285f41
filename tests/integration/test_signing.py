"""Signed archives and names from the future (issue 11): real PostgreSQL, the moto S3 endpoint, the sample project.

A refusal must come before any database is created, dropped or written. Beside the target's row digests and the
absence of scratch, target and safety archives, the drills run as a role without CREATEDB: a drill that got as far as
creating its scratch database would fail with the CREATEDB line instead of the refusal (each test shows that control).
"""

import datetime as dt
import hashlib
import json
import os
import subprocess
import tarfile
import uuid

import pytest
from support.django_project import manage
from support.pg import quote_ident

from checkniner_backup import archive, signing

from .test_restore import (
    backup,
    database_exists,
    first_error_line,
    new_db_url,
    repack,
    reseal,
    restore_json,
    scratch_databases,
    table_digests,
)

REFUSED = "refused before any database was touched"
STAMP = archive.STAMP


@pytest.fixture
def keys(tmp_path):
    """Two hosts' key pairs: {name: (keygen's result, the trusted-keys file holding only that key)}."""
    made = {}
    for name in ("app1", "app2"):
        directory = tmp_path / f"keys-{name}"
        directory.mkdir(mode=0o700)
        key = signing.keygen(str(directory / "signing.key"), comment=name)
        trusted = directory / "trusted"
        trusted.write_text(f"# restores trust {name}\n{key.line}\n")
        made[name] = (key, str(trusted))
    return made


@pytest.fixture
def nocreatedb(pg, app_db):
    """The live database's URL for a role that may read it but not create databases."""
    role = f"nocreatedb_{uuid.uuid4().hex[:6]}"
    pg.psql(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'; GRANT ALL ON DATABASE {quote_ident(app_db.name)} TO {role};")
    try:
        yield pg.url(role, "pw", app_db.name), role
    finally:
        pg.psql(f"REVOKE ALL ON DATABASE {quote_ident(app_db.name)} FROM {role}; DROP ROLE {role};")


def members_of(path):
    with tarfile.open(path, "r:gz") as tar:
        return [m.name for m in tar]


def latest_file(backup_env):
    return os.path.realpath(os.path.join(backup_env["CHECKNINER_BACKUP_DIR"], "latest.tar.gz"))


def plant(s3, bucket, path, name):
    """What anyone holding the bucket's keys can do: an object under a later name and a latest.json naming it."""
    body = open(path, "rb").read()
    sha = hashlib.sha256(body).hexdigest()
    client = s3.client()
    client.put_object(Bucket=bucket, Key=f"db/{name}", Body=body, Metadata={"sha256": sha})
    pointer = {"name": name, "sha256": sha, "size": len(body), "fingerprint": "planted"}
    client.put_object(Bucket=bucket, Key="db/latest.json", Body=json.dumps(pointer).encode())


def later_name(name, **delta):
    return (archive.time_of(name) + dt.timedelta(**delta)).strftime(STAMP) + archive.SUFFIX


# -- a host's own signed archives -------------------------------------------------------------------------------


def test_signed_archives_restore_and_verify_with_trusted_keys(pg, app_db, run_cli, backup_env, keys, scratch_dbs):
    key, trusted = keys["app1"]
    host = {"CHECKNINER_SIGNING_KEY": key.private_key, "CHECKNINER_TRUSTED_KEYS": trusted}
    name = backup(run_cli, **host)
    path = latest_file(backup_env)
    assert members_of(path)[:3] == ["manifest.json", "manifest.sig", f"{app_db.name}.sql"]
    head = archive.read_head(path)
    assert "manifest.sig" not in head.manifest["members"]
    out = os.path.dirname(path) + "/manual"
    os.mkdir(out)
    subprocess.run(["tar", "-xzf", path, "-C", out, "auth.json"], check=True)  # the seed's manual commands
    assert json.load(open(os.path.join(out, "auth.json")))

    proc = run_cli("verify", "--json", env=host)
    assert proc.returncode == 0, proc.stderr
    drill = json.loads(proc.stdout)
    assert drill["ok"] and drill["archive"] == name and drill["signed_by"] == key.fingerprint
    assert drill["warnings"] == []

    # from S3 by name on a host that lost its directory, into a new database
    target, url = new_db_url(pg)
    scratch_dbs.append(target)
    env = {
        **host,
        "CHECKNINER_BACKUP_DIR": str(os.path.dirname(path) + "-lost"),
        "CHECKNINER_RESTORE_TARGET_DATABASE_URL": url,
    }
    result = restore_json(run_cli, "--archive", name, env=env)
    assert result["ok"] and result["source"] == "s3" and result["signed_by"] == key.fingerprint

    # over the live database: the safety archive is signed too, and restores under the same trust
    manage(["mutate_business"], app_db.url)
    mutated = table_digests(pg, app_db.name)
    result = restore_json(run_cli, "--yes", env=host)
    assert result["ok"] and result["changed"] and result["warnings"] == []
    safety = os.path.join(backup_env["CHECKNINER_BACKUP_DIR"], result["safety_archive"])
    assert members_of(safety)[:2] == ["manifest.json", "manifest.sig"]
    again = restore_json(run_cli, "--yes", "--archive", safety, env=host)
    assert again["ok"] and again["signed_by"] == key.fingerprint
    assert table_digests(pg, app_db.name) == mutated


def test_encryption_wraps_the_signed_archive(pg, app_db, run_cli, backup_env, keys, scratch_dbs, tmp_path):
    from support.gnupg import make_key

    key, trusted = keys["app1"]
    public, private, fpr = make_key(tmp_path, "backup")
    name = backup(run_cli, CHECKNINER_SIGNING_KEY=key.private_key, BACKUPS_GPG_RECIPIENT=fpr, GNUPGHOME=str(public))
    assert name.endswith(".tar.gz.gpg")
    target, url = new_db_url(pg)
    scratch_dbs.append(target)
    env = {"GNUPGHOME": str(private), "CHECKNINER_TRUSTED_KEYS": trusted, "CHECKNINER_RESTORE_TARGET_DATABASE_URL": url}
    result = restore_json(run_cli, env=env)
    assert result["ok"] and result["archive"] == name and result["signed_by"] == key.fingerprint


def test_an_unsigned_archive_restores_with_allow_unsigned_and_a_warning(pg, app_db, run_cli, scratch_dbs):
    """Archives written before signing was configured still restore, once, and say so."""
    name = backup(run_cli, CHECKNINER_SIGNING_KEY=None)
    target, url = new_db_url(pg)
    scratch_dbs.append(target)
    proc = run_cli("restore", env={"CHECKNINER_RESTORE_TARGET_DATABASE_URL": url})
    assert proc.returncode == 1 and first_error_line(proc).endswith("--allow-unsigned"), proc.stderr
    assert not database_exists(pg, target)
    result = restore_json(run_cli, "--allow-unsigned", env={"CHECKNINER_RESTORE_TARGET_DATABASE_URL": url})
    assert result["ok"] and result["signed_by"] is None
    assert f"{name} is not signed: accepted because of --allow-unsigned; sign archives" in result["warnings"][0]


# -- refused before anything is touched -------------------------------------------------------------------------


def test_unsigned_archive_planted_in_the_bucket_as_latest_is_refused(
    pg, app_db, run_cli, backup_env, s3, bucket, keys, nocreatedb, scratch_dbs, tmp_path
):
    key, trusted = keys["app1"]
    real = backup(run_cli, CHECKNINER_SIGNING_KEY=key.private_key)
    planted = later_name(real, minutes=5)

    def unsign(members, doc):  # unsigned, its manifest free to name the archive it is planted as
        members.pop("manifest.sig")
        doc["name"] = planted

    unsigned = repack(latest_file(backup_env), tmp_path / "unsigned.tar.gz", unsign)
    assert "manifest.sig" not in members_of(unsigned)
    plant(s3, bucket, unsigned, planted)

    lost = tmp_path / "lost"  # the restoring host's directory: empty, so latest comes from the bucket
    target, target_url = new_db_url(pg)
    scratch_dbs.append(target)
    restoring = {"CHECKNINER_BACKUP_DIR": str(lost), "CHECKNINER_TRUSTED_KEYS": trusted}
    manage(["mutate_business"], app_db.url)
    before = table_digests(pg, app_db.name)
    line = (
        f"{planted} is not signed: {REFUSED}; sign archives (CHECKNINER_SIGNING_KEY) and trust the key "
        "(CHECKNINER_TRUSTED_KEYS), or accept it once with --allow-unsigned"
    )

    # named, it is refused before anything is touched
    for args, env in [
        (["verify", "--archive", planted], {}),
        (["verify", "--archive", planted], {"DATABASE_URL": nocreatedb[0]}),
        (["restore", "--yes", "--archive", planted], {}),
        (["restore", "--check", "--archive", planted], {}),
        (["restore", "--archive", planted], {"CHECKNINER_RESTORE_TARGET_DATABASE_URL": target_url}),
    ]:
        proc = run_cli(*args, env={**restoring, **env})
        assert proc.returncode == 1, (args, proc.stderr)
        assert first_error_line(proc).endswith(f"failed: {line}"), args
    assert table_digests(pg, app_db.name) == before
    assert not database_exists(pg, target) and scratch_databases(pg) == []
    assert not lost.exists()  # no pre-restore safety archive was taken either
    # as latest it is passed over, with a warning naming the pointer: latest is the genuine archive
    result = restore_json(run_cli, "--check", env=restoring)
    assert result["archive"] == real and result["signed_by"] == key.fingerprint
    assert any(
        f"latest.json names {planted}, which does not authenticate (not signed)" in w for w in result["warnings"]
    )

    # the control: with --allow-unsigned the drill goes on, and this role's drill fails at CREATE DATABASE
    proc = run_cli(
        "verify", "--allow-unsigned", env={"CHECKNINER_BACKUP_DIR": str(lost), "DATABASE_URL": nocreatedb[0]}
    )
    assert proc.returncode == 2 and "lacks the CREATEDB privilege" in first_error_line(proc), proc.stderr
    # the host's own signed archive still passes, named
    result = restore_json(
        run_cli, "--archive", real, env={**restoring, "CHECKNINER_RESTORE_TARGET_DATABASE_URL": target_url}
    )
    assert result["ok"] and result["signed_by"] == key.fingerprint


def test_archive_signed_by_another_key_is_refused(pg, app_db, run_cli, backup_env, keys, nocreatedb):
    other, _ = keys["app2"]
    _key, trusted = keys["app1"]
    backup(run_cli, CHECKNINER_SIGNING_KEY=other.private_key)
    manage(["mutate_business"], app_db.url)
    before = table_digests(pg, app_db.name)
    safety_before = sorted(os.listdir(backup_env["CHECKNINER_BACKUP_DIR"]))
    line = (
        f"is signed by key {other.fingerprint}, which is not trusted here (not in CHECKNINER_TRUSTED_KEYS, not this "
        f"host's CHECKNINER_SIGNING_KEY): {REFUSED}; add its public key to CHECKNINER_TRUSTED_KEYS, or accept it once "
        "with --allow-unsigned"
    )
    for args, env in [(["restore", "--yes"], {}), (["verify"], {"DATABASE_URL": nocreatedb[0]})]:
        proc = run_cli(*args, env={"CHECKNINER_TRUSTED_KEYS": trusted, **env})
        assert proc.returncode == 1, proc.stderr
        assert first_error_line(proc).endswith(line), args
    assert table_digests(pg, app_db.name) == before
    after = sorted(n for n in os.listdir(backup_env["CHECKNINER_BACKUP_DIR"]) if n != "heads")  # the heads cache
    assert after == safety_before and scratch_databases(pg) == []


def _one_checkout_fewer(members, manifest):
    """The SQL edited and the manifest made to agree with it: consistent, but not what was signed."""
    sql_name = next(n for n in members if n.endswith(".sql"))
    text = members[sql_name].decode()
    start = text.index('COPY "public"."checkouts_checkout"')
    first_row = text.index("\n", start) + 1
    members[sql_name] = (text[:first_row] + text[text.index("\n", first_row) + 1 :]).encode()
    reseal(members, manifest, sql_name)


@pytest.mark.parametrize("trusting", [True, False], ids=["trusted-keys", "allow-unsigned"])
def test_tampered_manifest_with_its_original_signature_is_refused(
    pg, app_db, run_cli, backup_env, keys, tmp_path, trusting
):
    key, trusted = keys["app1"]
    backup(run_cli, CHECKNINER_SIGNING_KEY=key.private_key)
    bad = repack(latest_file(backup_env), tmp_path / "2030-01-01T000000Z.tar.gz", _one_checkout_fewer, resign=False)
    assert members_of(bad)[:2] == ["manifest.json", "manifest.sig"]
    manage(["mutate_business"], app_db.url)
    before = table_digests(pg, app_db.name)
    env = {"CHECKNINER_TRUSTED_KEYS": trusted} if trusting else {}
    opt_out = (
        [] if trusting else ["--allow-unsigned"]
    )  # the opt-out accepts an unknown signer, never a changed manifest
    proc = run_cli("restore", "--yes", "--archive", bad, *opt_out, env=env)
    assert proc.returncode == 1, proc.stderr
    assert first_error_line(proc).endswith(
        f"failed: 2030-01-01T000000Z.tar.gz: its manifest does not match its signature by key {key.fingerprint} "
        f"(tampered?): {REFUSED}"
    )
    assert table_digests(pg, app_db.name) == before


def test_a_bad_trusted_keys_file_is_a_configuration_error(pg, app_db, run_cli, tmp_path):
    backup(run_cli)
    trusted = tmp_path / "trusted"
    trusted.write_text("ed25519 c2VjcmV0\n")
    before = table_digests(pg, app_db.name)
    proc = run_cli("restore", "--yes", env={"CHECKNINER_TRUSTED_KEYS": str(trusted)})
    assert proc.returncode == 2
    assert first_error_line(proc).endswith(f"failed: CHECKNINER_TRUSTED_KEYS {trusted} line 1 is not an Ed25519 "
                                           "public key: expected `ed25519 <base64> [comment]` a line, as "
                                           "`checkniner-backup keygen` writes PATH.pub")  # fmt: skip
    assert "c2VjcmV0" not in proc.stderr
    assert table_digests(pg, app_db.name) == before
    # a run is not stopped by it: backups go on whatever the restore side's configuration says
    manage(["mutate_business"], app_db.url)
    assert backup(run_cli, CHECKNINER_TRUSTED_KEYS=str(trusted))


# -- names from the future ------------------------------------------------------------------------------------


def test_an_archive_named_in_the_future_is_not_latest_and_does_not_hold_back_the_next_name(
    pg, app_db, run_cli, backup_env, s3, bucket, scratch_dbs, tmp_path
):
    real = backup(run_cli)
    bdir = backup_env["CHECKNINER_BACKUP_DIR"]
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=400)).strftime(STAMP) + archive.SUFFIX
    with open(latest_file(backup_env), "rb") as src, open(os.path.join(bdir, future), "wb") as dst:
        dst.write(src.read())
    plant(s3, bucket, os.path.join(bdir, future), future)

    rows = {r["name"]: r for r in json.loads(run_cli("list", "--json").stdout)["archives"]}
    assert rows[future]["future"] and not rows[future]["latest"] and rows[real]["latest"]

    # latest, from the bucket alone: the pointer naming the future is ignored with a warning
    target, url = new_db_url(pg)
    scratch_dbs.append(target)
    env = {"CHECKNINER_BACKUP_DIR": str(tmp_path / "lost"), "CHECKNINER_RESTORE_TARGET_DATABASE_URL": url}
    result = restore_json(run_cli, "--check", env=env)
    assert result["archive"] == real
    assert any(f"latest.json names {future}, later than now: ignored" in w for w in result["warnings"])
    assert restore_json(run_cli, "--check", env={"CHECKNINER_RESTORE_TARGET_DATABASE_URL": url})["archive"] == real

    # the next run is named by the clock, not after the planted name, and takes the pointer back
    manage(["mutate_business"], app_db.url)
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    name = backup(run_cli)
    assert before <= archive.time_of(name) <= dt.datetime.now(dt.timezone.utc)
    pointer = json.loads(s3.client().get_object(Bucket=bucket, Key="db/latest.json")["Body"].read())
    assert pointer["name"] == name

    # retention keeps it, says why, and counts from the real newest archive
    proc = run_cli("prune", "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr
    local = json.loads(proc.stdout)["locations"][0]
    # a copy of a genuine archive under another name: its signed manifest says so, it gets no slot and stays
    assert f"holds the signed manifest of {real}" in local["unauthenticated"][future] and future not in local["keep"]
    assert "newest" in local["keep"][name] and future not in local["delete"]
