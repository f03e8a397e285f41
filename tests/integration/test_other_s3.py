"""The same pipeline against other, independent S3 implementations, not only moto: s3rver (Node.js) and
`rclone serve s3` (Go: canonical header case, like MinIO and SeaweedFS)."""

from __future__ import annotations

import json

import pytest
from support.django_project import manage


@pytest.fixture(params=["s3rver", "rclone_s3"])
def store(request):
    """The session's server of that implementation (tests keep apart by their prefix)."""
    return request.getfixturevalue(request.param)


def test_run_outbox_pointer_and_restore_on_another_store(run_cli, app_db, store, tmp_path, pg):
    env = {
        "S3_PREFIX": f"{app_db.name}/",
        "S3_ENDPOINT_URL": store.endpoint_url,
        "S3_BUCKET_NAME": store.bucket,
        "S3_ACCESS_KEY": store.access_key,
        "S3_SECRET_KEY": store.secret_key,
    }
    first = run_cli("run", env=env)
    assert first.returncode == 0, first.stderr
    assert "uploaded " in first.stdout, first.stdout + first.stderr
    assert json.loads(run_cli("status", "--json", env=env).stdout)["pending_uploads"] == 0  # verified by its HEAD
    manage(["mutate_business"], app_db.url)
    second = run_cli("run", env=env)
    assert second.returncode == 0, second.stderr
    remote = json.loads(run_cli("list", "--remote", "--json", env=env).stdout)["archives"]
    assert len(remote) == 2 and remote[-1]["latest"] is True
    # an upload that is already there is recognised by its metadata: nothing sent again
    again = run_cli("run", env=env)
    assert again.returncode == 0 and "uploaded" not in again.stdout, again.stdout + again.stderr
    # a host with an empty directory finds the fingerprint through latest.json on this store too
    fresh = run_cli("run", env={**env, "CHECKNINER_BACKUP_DIR": str(tmp_path / "fresh")})
    assert "unchanged (fingerprint" in fresh.stdout, fresh.stdout + fresh.stderr
    # restore latest from this store into a new database (download, checksum, proof)
    target = app_db.url.rsplit("/", 1)[0] + f"/{app_db.name}_from_store"
    elsewhere = {
        "CHECKNINER_BACKUP_DIR": str(tmp_path / "restore-host"),
        "CHECKNINER_RESTORE_TARGET_DATABASE_URL": target,
    }
    restored = run_cli("restore", "--json", env={**env, **elsewhere})
    assert restored.returncode == 0, restored.stderr
    doc = json.loads(restored.stdout)
    assert doc["ok"] is True and doc["archive"] == remote[-1]["name"]
    pg.drop_database(f"{app_db.name}_from_store")
    # the drill, on a host whose archives are only in this store
    drill = run_cli("verify", "--json", env={**env, "CHECKNINER_BACKUP_DIR": str(tmp_path / "drill-host")})
    assert drill.returncode == 0, drill.stderr
    assert json.loads(drill.stdout)["ok"] is True
    # prune this store down to the newest archive (the one latest.json names stays)
    keep_one = {f"CHECKNINER_KEEP_{tier}": "0" for tier in ("HOURLY", "DAILY", "WEEKLY", "MONTHLY")}
    pruned = run_cli("prune", env={**env, **keep_one, "CHECKNINER_KEEP_WITHIN": "0", "CHECKNINER_BACKUP_DIR": None})
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    left = json.loads(run_cli("list", "--remote", "--json", env=env).stdout)["archives"]
    assert [a["name"] for a in left] == [remote[-1]["name"]]
