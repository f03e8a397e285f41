"""The same pipeline against a second, independent S3 implementation (s3rver), not only moto."""

from __future__ import annotations

import json

import pytest
from support.django_project import manage
from support.s3rver import KEY, S3rver


@pytest.fixture
def s3rver():
    server = S3rver("checkniner-compat").start()
    yield server
    server.stop()


def test_run_outbox_pointer_and_restore_on_s3rver(run_cli, app_db, s3rver, tmp_path, pg):
    env = {
        "S3_ENDPOINT_URL": s3rver.endpoint_url,
        "S3_BUCKET_NAME": s3rver.bucket,
        "S3_ACCESS_KEY": KEY,
        "S3_SECRET_KEY": KEY,
    }
    first = run_cli("run", env=env)
    assert first.returncode == 0, first.stderr
    assert "uploaded " in first.stdout
    manage(["mutate_business"], app_db.url)
    second = run_cli("run", env=env)
    assert second.returncode == 0, second.stderr
    remote = json.loads(run_cli("list", "--remote", "--json", env=env).stdout)["archives"]
    assert len(remote) == 2 and remote[-1]["latest"] is True
    # a host with an empty directory finds the fingerprint through latest.json on this store too
    fresh = run_cli("run", env={**env, "CHECKNINER_BACKUP_DIR": str(tmp_path / "fresh")})
    assert "unchanged (fingerprint" in fresh.stdout, fresh.stdout + fresh.stderr
    # restore latest from this store into a new database (download, checksum, proof)
    target = app_db.url.rsplit("/", 1)[0] + f"/{app_db.name}_from_s3rver"
    elsewhere = {
        "CHECKNINER_BACKUP_DIR": str(tmp_path / "restore-host"),
        "CHECKNINER_RESTORE_TARGET_DATABASE_URL": target,
    }
    restored = run_cli("restore", "--json", env={**env, **elsewhere})
    assert restored.returncode == 0, restored.stderr
    doc = json.loads(restored.stdout)
    assert doc["ok"] is True and doc["archive"] == remote[-1]["name"]
    pg.drop_database(f"{app_db.name}_from_s3rver")
