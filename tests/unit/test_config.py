import re

import pytest

from checkniner_backup import config, database_url
from checkniner_backup.errors import ConfigError


def test_database_url_parts_and_secret_stays_out_of_describe():
    db = database_url.Database.from_url("postgres://app:p%40ss%2Fw@db.example:6543/checkniner?sslmode=require")
    assert (db.name, db.user, db.password, db.host, db.port) == ("checkniner", "app", "p@ss/w", "db.example", 6543)
    assert db.libpq_env()["PGPASSWORD"] == "p@ss/w"
    assert db.libpq_env()["PGSSLMODE"] == "require"
    assert "p@ss" not in db.describe()


def test_socket_directory_as_host():
    db = database_url.Database.from_url("postgres://%2Fvar%2Frun%2Fpostgresql/checkniner")
    assert db.host == "/var/run/postgresql"
    assert db.name == "checkniner"


@pytest.mark.parametrize(
    "url, message",
    [
        ("", "DATABASE_URL is not set"),
        ("mysql://u@h/db", "must be a PostgreSQL URL"),
        ("postgres://u@h:notaport/db", "cannot be parsed"),
        ("postgres://u@h:5432/", "names no database"),
    ],
)
def test_bad_database_url(url, message):
    with pytest.raises(ConfigError, match=message):
        config.load({"DATABASE_URL": url})


SECRET_TAILS = [
    "Kx9/Tail-Of-Secret",
    "12345/Tail-Of-Secret",
    "Kx9#Tail-Of-Secret",
    "12#Tail-Of-Secret",
    "Kx9?Tail-Of-Secret",
    "12?Tail-Of-Secret",
    "Kx9/Tail#Of?Secret",
]


@pytest.mark.parametrize("password", SECRET_TAILS)
@pytest.mark.parametrize("what", ["DATABASE_URL", "--target-database-url"])
def test_unencoded_password_gives_a_fixed_message_with_no_part_of_the_url(password, what):
    url = f"postgres://app:{password}@db.example:5432/checkniner"
    with pytest.raises(ConfigError) as caught:
        database_url.Database.from_url(url, what=what)
    message = str(caught.value)
    assert message.startswith(f"{what} cannot be parsed"), message
    assert "percent-encode" in message and "%2F" in message, message
    for piece in ("Kx9", "Tail", "Secret", "12345", "db.example", "app", "checkniner"):
        assert piece not in message, (piece, message)
    assert caught.value.__cause__ is None and (caught.value.__context__ is None or caught.value.__suppress_context__)


@pytest.mark.parametrize("url", ["Secret://app:x@h/db", "app:Secret@h/db", "app:Secret%40h/db"])
def test_wrong_scheme_message_echoes_nothing(url):
    with pytest.raises(ConfigError, match="must be a PostgreSQL URL") as caught:
        database_url.Database.from_url(url)
    assert "Secret" not in str(caught.value) and "app" not in str(caught.value)


def test_password_with_at_sign_still_parses():
    db = database_url.Database.from_url("postgres://app:p@ss:w@rd@db.example/checkniner")
    assert (db.user, db.password, db.host, db.name) == ("app", "p@ss:w@rd", "db.example", "checkniner")


def test_defaults():
    cfg = config.load({"DATABASE_URL": "postgres://h/db"})
    assert cfg.apps == ["auth", "checkouts"]
    assert cfg.destinations == []
    assert cfg.backup_dir is None


def test_s3_destination_from_seed_variables():
    cfg = config.load(
        {
            "DATABASE_URL": "postgres://h/db",
            "S3_BUCKET_NAME": "snapshots.example.com",
            "S3_ACCESS_KEY": "AK",
            "S3_SECRET_KEY": "SK",
            "S3_PREFIX": "prod",
        }
    )
    (dest,) = cfg.destinations
    assert (dest.bucket, dest.prefix, dest.region, dest.access_key) == (
        "snapshots.example.com",
        "prod/",
        "us-east-1",
        "AK",
    )
    assert "SK" not in dest.describe()


@pytest.mark.parametrize("apps", ["auth,1bad", "auth;drop"])
def test_bad_app_labels(apps):
    with pytest.raises(ConfigError, match="invalid app labels"):
        config.load({"DATABASE_URL": "postgres://h/db", "CHECKNINER_BACKUP_APPS": apps})


def test_require_backup_dir_message():
    with pytest.raises(ConfigError, match="CHECKNINER_BACKUP_DIR is not set"):
        config.load({"DATABASE_URL": "postgres://h/db"}).require_backup_dir()


def test_django_require_names_the_missing_manage_py(tmp_path):
    cfg = config.load(
        {
            "DATABASE_URL": "postgres://h/db",
            "CHECKNINER_MANAGE_PY": str(tmp_path / "nope.py"),
            "DJANGO_SETTINGS_MODULE": "x",
        }
    )
    with pytest.raises(ConfigError, match="CHECKNINER_MANAGE_PY does not exist"):
        cfg.django.require()


def test_object_lock_per_destination():
    cfg = config.load(
        {
            "DATABASE_URL": "postgres://h/db",
            "S3_BUCKET_NAME": "primary",
            "S3_OBJECT_LOCK_DAYS": "30",
            "S3_OBJECT_LOCK_MODE": "compliance",
            "CHECKNINER_BACKUP_DESTINATIONS": "offsite,plain",
            "S3_OFFSITE_BUCKET_NAME": "offsite",
            "S3_OFFSITE_OBJECT_LOCK_DAYS": "7",
            "S3_PLAIN_BUCKET_NAME": "plain",
            "S3_PLAIN_OBJECT_LOCK_DAYS": "0",
        }
    )
    locks = [(d.name, d.object_lock_days, d.object_lock_mode) for d in cfg.destinations]
    assert locks == [("s3", 30, "COMPLIANCE"), ("offsite", 7, "GOVERNANCE"), ("plain", 0, "GOVERNANCE")]


@pytest.mark.parametrize(
    "env, message",
    [
        ({"S3_OBJECT_LOCK_DAYS": "30d"}, "S3_OBJECT_LOCK_DAYS must be a whole number of days"),
        ({"S3_OBJECT_LOCK_MODE": "legal-hold"}, "S3_OBJECT_LOCK_MODE must be GOVERNANCE or COMPLIANCE"),
    ],
)
def test_bad_object_lock_settings(env, message):
    with pytest.raises(ConfigError, match=message):
        config.load({"DATABASE_URL": "postgres://h/db", "S3_BUCKET_NAME": "b", **env})


def test_put_options_per_destination():
    cfg = config.load({
        "DATABASE_URL": "postgres://u@h/db",
        "S3_BUCKET_NAME": "b", "S3_SSE": "aws:KMS", "S3_SSE_KMS_KEY_ID": "alias/backups",
        "S3_STORAGE_CLASS": "standard_ia", "S3_MAX_BANDWIDTH": "1048576",
        "CHECKNINER_BACKUP_DESTINATIONS": "offsite", "S3_OFFSITE_BUCKET_NAME": "o", "S3_OFFSITE_SSE": "AES256",
    })  # fmt: skip
    primary, offsite = cfg.destinations
    assert primary.put_args() == {
        "ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/backups", "StorageClass": "STANDARD_IA"
    }  # fmt: skip
    assert primary.max_bandwidth == 1048576
    assert offsite.put_args() == {"ServerSideEncryption": "AES256"} and offsite.max_bandwidth == 0
    plain = config.load({"DATABASE_URL": "postgres://u@h/db", "S3_BUCKET_NAME": "b"}).destinations[0]
    assert plain.put_args() == {} and plain.max_bandwidth == 0


@pytest.mark.parametrize(
    "env, message",
    [
        ({"S3_SSE": "yes"}, "S3_SSE must be AES256 (SSE-S3) or aws:kms"),
        ({"S3_SSE_KMS_KEY_ID": "k"}, "S3_SSE_KMS_KEY_ID is a KMS key: set S3_SSE=aws:kms"),
        ({"S3_SSE": "AES256", "S3_SSE_KMS_KEY_ID": "k"}, "set S3_SSE=aws:kms"),
        ({"S3_STORAGE_CLASS": "GLACIER"}, "S3_STORAGE_CLASS must be one of STANDARD"),
        ({"S3_MAX_BANDWIDTH": "10MB"}, "S3_MAX_BANDWIDTH must be a whole number of bytes per second"),
        ({"CHECKNINER_BACKUP_DESTINATIONS": "o", "S3_O_BUCKET_NAME": "o", "S3_O_SSE": "kms"}, "S3_O_SSE must be"),
    ],
)
def test_bad_put_options(env, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.load({"DATABASE_URL": "postgres://u@h/db", "S3_BUCKET_NAME": "b", **env})
