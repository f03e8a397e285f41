"""Process start-up: the commands a five-minute schedule runs most never import the S3 client (boto3 and botocore
cost more than the rest of an idle run); stores/s3.py imports it when a store is really used."""

from support.imports import imported

HEAVY = ("boto3", "botocore", "s3transfer")


def _imported(args, env):
    return imported(args, env, timeout=120)


def test_status_of_a_host_with_s3_destinations_never_imports_boto3(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CHECKNINER_BACKUP_DIR": str(tmp_path / "backups"),
        "DATABASE_URL": "postgres://app@127.0.0.1:1/app",
        "S3_BUCKET_NAME": "backups",
        "CHECKNINER_BACKUP_DESTINATIONS": "offsite",
        "S3_OFFSITE_BUCKET_NAME": "offsite",
    }
    (tmp_path / "backups").mkdir()
    proc, modules = _imported(["status"], env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "checkniner_backup" in modules  # the measurement works: the engine itself is listed
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
    # psycopg2 neither: status reads the state file alone
    assert "psycopg2" not in modules
