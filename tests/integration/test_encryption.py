"""Public-key encryption (issue 5): the backup host holds only the public key; restores decrypt elsewhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.django_project import manage
from support.gnupg import gpg, make_key

from .test_restore import SLOW_REPLAY


@pytest.fixture
def keys(tmp_path):
    return make_key(tmp_path, "backup")


def test_encrypted_backup_unchanged_runs_and_restore_with_private_key(run_cli, backup_env, keys, app_db, s3, bucket):
    public, private, fpr = keys
    host = {"BACKUPS_GPG_RECIPIENT": fpr, "GNUPGHOME": str(public)}
    first = run_cli("run", env=host)
    assert first.returncode == 0, first.stderr
    directory = Path(backup_env["CHECKNINER_BACKUP_DIR"])
    (name,) = [p.name for p in directory.glob("*.tar.gz.gpg")]
    assert not list(directory.glob("20*.tar.gz")), "no clear archive may stay on the host"
    assert b"CREATE TABLE" not in (directory / name).read_bytes()
    head = s3.client().head_object(Bucket=bucket, Key=f"db/{name}")
    assert head["Metadata"]["fingerprint"] == json.loads((directory / "state.json").read_text())["last"]["fingerprint"]

    # unchanged runs skip without decrypting (the host cannot decrypt: it has no private key)
    assert "unchanged (" in run_cli("run", env=host).stdout
    manage(["touch_sessions"], app_db.url)
    quiet = run_cli("run", env=host).stdout
    # the write counters (when the run before recorded them) or the row digests: no Django, nothing decrypted
    assert "unchanged (statistics" in quiet or "unchanged (digests" in quiet, quiet
    # a host that lost its directory finds the fingerprint in S3, without decrypting either
    fresh = run_cli("run", env={**host, "CHECKNINER_BACKUP_DIR": str(directory.parent / "fresh")})
    assert "unchanged (fingerprint" in fresh.stdout, fresh.stdout + fresh.stderr

    # the restore host has the private key: restore from S3 into another database reproduces the data
    target = app_db.url.rsplit("/", 1)[0] + f"/{app_db.name}_restored"
    restored = run_cli(
        "restore", "--archive", "latest", "--json",
        env={"GNUPGHOME": str(private), "CHECKNINER_BACKUP_DIR": str(directory.parent / "restore-host"),
             "CHECKNINER_RESTORE_TARGET_DATABASE_URL": target},
    )  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    doc = json.loads(restored.stdout)
    assert doc["ok"] is True and doc["fingerprint"]["expected"] == doc["fingerprint"]["actual"]


def test_wrong_key_fails_cleanly_and_touches_nothing(run_cli, backup_env, keys, tmp_path, pg, app_db):
    public, _private, fpr = keys
    _other_public, other_private, _ = make_key(tmp_path, "other")
    assert run_cli("run", env={"BACKUPS_GPG_RECIPIENT": fpr, "GNUPGHOME": str(public)}).returncode == 0
    before = pg.psql("SELECT count(*), max(id) FROM checkouts_checkout", db=app_db.name)
    manage(["mutate_business"], app_db.url)
    mutated = pg.psql("SELECT count(*), max(id) FROM checkouts_checkout", db=app_db.name)
    result = run_cli("restore", "--archive", "latest", "--yes", env={"GNUPGHOME": str(other_private)})
    assert result.returncode == 1
    first = result.stderr.strip().splitlines()[0]
    assert "cannot decrypt" in first and "private key" in first, first
    assert pg.psql("SELECT count(*), max(id) FROM checkouts_checkout", db=app_db.name) == mutated != before


def test_missing_public_key_is_a_config_error(run_cli, backup_env, tmp_path):
    empty = tmp_path / "empty-keyring"
    empty.mkdir(mode=0o700)
    result = run_cli("run", env={"BACKUPS_GPG_RECIPIENT": "nobody@example.com", "GNUPGHOME": str(empty)})
    assert result.returncode == 2
    assert "has no public key in the keyring" in result.stderr.splitlines()[0]
    assert not list(Path(backup_env["CHECKNINER_BACKUP_DIR"]).glob("*.tar.gz*"))


def test_safety_archive_is_encrypted_and_restores_where_the_private_key_is(run_cli, backup_env, keys, pg, app_db):
    """Issue 12: with encryption on, no clear archive at rest, the pre-restore safety archive included."""
    _public, private, fpr = keys
    host = {"BACKUPS_GPG_RECIPIENT": fpr, "GNUPGHOME": str(private)}  # a host that also holds the private key
    assert run_cli("run", env=host).returncode == 0
    manage(["mutate_business"], app_db.url)
    mutated = pg.psql("SELECT count(*), max(id) FROM checkouts_checkout", db=app_db.name)
    restored = run_cli("restore", "--archive", "latest", "--yes", "--json", env=host)
    assert restored.returncode == 0, restored.stderr
    safety = json.loads(restored.stdout)["safety_archive"]
    assert safety.endswith("-pre-restore.tar.gz.gpg"), safety
    directory = Path(backup_env["CHECKNINER_BACKUP_DIR"])
    assert not [p.name for p in directory.rglob("*.tar.gz") if p.name != "latest.tar.gz"], "a clear archive stayed"
    assert b"CREATE TABLE" not in (directory / safety).read_bytes()
    assert pg.psql("SELECT count(*), max(id) FROM checkouts_checkout", db=app_db.name) != mutated
    back = run_cli("restore", "--archive", safety, "--yes", "--json", env=host)
    assert back.returncode == 0, back.stderr
    assert pg.psql("SELECT count(*), max(id) FROM checkouts_checkout", db=app_db.name) == mutated


def test_a_killed_verify_leaves_no_decrypted_archive_after_the_next_command(pg, run_cli, backup_env, keys, tmp_path):
    _public, private, fpr = keys
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    host = {"BACKUPS_GPG_RECIPIENT": fpr, "GNUPGHOME": str(private), "TMPDIR": str(tmp)}
    assert run_cli("run", env=host).returncode == 0
    env = dict(backup_env, **host)
    proc = subprocess.Popen([sys.executable, "-c", SLOW_REPLAY, "verify"], env=env, cwd=tmp_path)  # still going
    try:
        deadline = time.time() + 60
        while not list(tmp.glob("cnb-restore-*/*.tar.gz")) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert list(tmp.glob("cnb-restore-*/*.tar.gz")), "verify never decrypted the archive"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert list(tmp.glob("cnb-restore-*/*.tar.gz")), "kill -9 left the decrypted copy (what the next command is for)"
    nxt = run_cli("run", env=host)  # cron's next run
    assert nxt.returncode == 0, nxt.stderr
    assert [p for p in tmp.rglob("*")] == [], "a decrypted file outlived the next command"
    directory = Path(backup_env["CHECKNINER_BACKUP_DIR"])
    assert not [p.name for p in directory.rglob("*.tar.gz") if p.name != "latest.tar.gz"]
    # and the next verify drops the scratch database the killed one left
    again = run_cli("verify", "--json", env=host)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["ok"] is True
    # kill -9 may land after the killed drill created its scratch database: the drills sweep it once it is older than
    # SCRATCH_MAX_AGE; here, for the tests that follow and count scratch databases, now
    left = pg.psql(
        "SELECT string_agg(quote_ident(datname), ',') FROM pg_database WHERE datname LIKE 'cnb\\_verify\\_%';"
    )
    for name in filter(None, left.strip().split(",")):
        pg.psql(f"DROP DATABASE {name} WITH (FORCE)")


def revoke(public, private, fpr):
    """Import into the public keyring the revocation certificate gpg wrote when it made the key."""
    cert = (private / "openpgp-revocs.d" / f"{fpr}.rev").read_text().replace(":-----BEGIN", "-----BEGIN")
    gpg(public, "--import", input=cert.encode())


@pytest.mark.parametrize("state, words", [("expired", "has expired (on "), ("revoked", "is revoked")])
def test_an_unusable_recipient_is_refused_before_dumping_with_gpgs_reason(run_cli, backup_env, tmp_path, state, words):
    public, private, fpr = make_key(tmp_path, state, expires="seconds=1" if state == "expired" else "never")
    if state == "revoked":
        revoke(public, private, fpr)
    else:
        time.sleep(2)
    calls = tmp_path / "pg_dump.calls"
    wrap = tmp_path / "wrap"
    wrap.mkdir()
    real = subprocess.run(["which", "pg_dump"], capture_output=True, text=True, env=backup_env).stdout.strip()
    (wrap / "pg_dump").write_text(f'#!/bin/sh\n[ "$1" = "--version" ] || echo "$*" >> {calls}\nexec {real} "$@"\n')
    (wrap / "pg_dump").chmod(0o755)
    env = {"BACKUPS_GPG_RECIPIENT": f"{state}@backup.test", "GNUPGHOME": str(public)}
    result = run_cli("run", env={**env, "PATH": f"{wrap}:{backup_env['PATH']}"})
    assert result.returncode == 2, result.stdout + result.stderr
    line = result.stderr.splitlines()[0].split(" checkniner-backup run: ", 1)[1]
    assert line.startswith(f"failed: BACKUPS_GPG_RECIPIENT '{state}@backup.test' cannot be encrypted to: key "), line
    assert words in line and "(gpg: encryption failed: Unusable public key)" in line, line
    assert line.endswith("import a valid public key and point BACKUPS_GPG_RECIPIENT at it")
    assert not calls.exists(), "nothing may be dumped for a recipient that cannot be encrypted to"
    directory = Path(backup_env["CHECKNINER_BACKUP_DIR"])
    assert not list(directory.glob("*.tar.gz*")) and not list(directory.glob(".work-*"))


def test_a_killed_encryption_leaves_no_temp_file_behind(run_cli, backup_env, keys):
    public, _private, fpr = keys
    directory = Path(backup_env["CHECKNINER_BACKUP_DIR"])
    directory.mkdir()
    leftover = directory / ".tmp-gpg-4242-2026-01-01T000000Z.tar.gz.gpg"  # where encrypt() writes before the rename
    leftover.write_bytes(b"half an archive")
    result = run_cli("run", env={"BACKUPS_GPG_RECIPIENT": fpr, "GNUPGHOME": str(public)})
    assert result.returncode == 0, result.stderr
    assert not leftover.exists()
    assert [p.name for p in directory.iterdir() if p.name.startswith(".tmp")] == []
