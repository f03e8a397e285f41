"""The test harness itself works: real PostgreSQL, real S3 endpoint over HTTP, the seeded sample project."""

import json
import urllib.error
import urllib.request

import pytest
from support.django_project import BUSINESS_TABLES, manage
from support.pg import APP_PASSWORD, table_digests


def count(pg, db, table):
    return int(pg.psql(f"SELECT count(*) FROM {table};", db=db).strip())


def test_cluster_answers_and_runs_as_unprivileged_server(pg):
    assert pg.psql("SELECT 1;").strip() == "1"
    assert pg.psql("SHOW password_encryption;").strip() == "scram-sha-256"
    assert pg.psql("SHOW fsync;").strip() == "off"
    assert pg.psql("SHOW synchronous_commit;").strip() == "on"
    assert pg.psql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user;").strip() == "t"


def test_app_role_connects_with_its_password(pg, app_db):
    assert "%21" in app_db.url  # the password is URL-quoted
    assert pg.psql("SELECT current_user, current_database();", db=app_db.name, as_superuser=False).strip() == (
        f"checkniner|{app_db.name}"
    )
    pg.app_password, saved = "wrong-password", APP_PASSWORD
    try:
        with pytest.raises(RuntimeError, match="password authentication failed"):
            pg.psql("SELECT 1;", db=app_db.name, as_superuser=False)
    finally:
        pg.app_password = saved


def test_template_is_migrated_and_seeded(pg, template_db, app_db):
    for db in (template_db.name, app_db.name):
        assert count(pg, db, "checkouts_checkout") == 100
        assert count(pg, db, "checkouts_pilotweight") == 10
        assert count(pg, db, "checkouts_airstrip_bases") > 0
        assert count(pg, db, "auth_user") == 11
        assert count(pg, db, "auth_group") == 2
        assert count(pg, db, "auth_group_permissions") > 0
        assert count(pg, db, "django_session") >= 4
        assert count(pg, db, "django_admin_log") >= 1
    owner = pg.psql("SELECT tableowner FROM pg_tables WHERE tablename = 'checkouts_checkout';", db=app_db.name)
    assert owner.strip() == "checkniner"


def test_seed_demo_is_idempotent_for_business_data(pg, app_db):
    before = table_digests(pg, app_db.name, BUSINESS_TABLES)
    manage(["seed_demo"], app_db.url)
    assert table_digests(pg, app_db.name, BUSINESS_TABLES) == before


def test_moto_put_get_over_http(s3, bucket):
    client = s3.client()
    client.put_object(Bucket=bucket, Key="db/hello.txt", Body=b"checkniner")
    assert client.get_object(Bucket=bucket, Key="db/hello.txt")["Body"].read() == b"checkniner"
    # A real HTTP server: plain urllib reaches it too, with a presigned URL.
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "db/hello.txt"}, ExpiresIn=60)
    assert url.startswith(s3.endpoint_url)
    with urllib.request.urlopen(url, timeout=5) as resp:
        assert resp.read() == b"checkniner"


def test_moto_restart_and_outage(s3, bucket):
    client = s3.client()
    client.put_object(Bucket=bucket, Key="x", Body=b"1")
    port = s3.port
    with s3.outage():
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(s3.endpoint_url, timeout=2)
    assert s3.port == port
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0  # bucket recreated, contents gone
    s3.restart()
    names = [b["Name"] for b in s3.client().list_buckets()["Buckets"]]
    assert bucket not in names
    s3.create_bucket(bucket)
    s3.reset()
    assert s3.client().list_buckets()["Buckets"] == []


def test_touch_sessions_changes_only_django_session(pg, app_db):
    tables = BUSINESS_TABLES + ["django_session", "django_admin_log", "django_content_type", "auth_permission"]
    before = table_digests(pg, app_db.name, tables)
    out = manage(["touch_sessions"], app_db.url).stdout
    assert "session" in out
    after = table_digests(pg, app_db.name, tables)
    changed = {t for t in tables if before[t] != after[t]}
    assert changed == {"django_session"}
    manage(["touch_sessions"], app_db.url)
    again = table_digests(pg, app_db.name, tables)
    assert {t for t in tables if after[t] != again[t]} == {"django_session"}


def test_mutate_business_changes_checkouts(pg, app_db):
    before = table_digests(pg, app_db.name, BUSINESS_TABLES + ["django_session"])
    out = manage(["mutate_business"], app_db.url).stdout
    assert "inserted checkout" in out and "renamed airstrip" in out and "deleted checkout" in out
    after = table_digests(pg, app_db.name, BUSINESS_TABLES + ["django_session"])
    assert after["checkouts_checkout"][0] == before["checkouts_checkout"][0]  # one in, one out
    assert after["checkouts_checkout"][1] != before["checkouts_checkout"][1]
    assert after["checkouts_airstrip"] != before["checkouts_airstrip"]
    assert after["django_session"] == before["django_session"]
    assert after["auth_user"] == before["auth_user"]


def test_seed_bulk_adds_roughly_the_requested_size(pg, app_db):
    before = count(pg, app_db.name, "checkouts_checkout")
    out = manage(["seed_bulk", "--megabytes", "0.5"], app_db.url).stdout
    added = count(pg, app_db.name, "checkouts_checkout") - before
    assert added > 1000, out
    text_bytes = int(pg.psql("SELECT sum(length(notes) + 40) FROM checkouts_checkout;", db=app_db.name))
    assert 0.4 * 1024 * 1024 < text_bytes < 0.8 * 1024 * 1024
    manage(["seed_bulk", "--megabytes", "0.1"], app_db.url)  # a second run adds, without unique conflicts


def test_seed_bulk_narrow_shape_is_many_small_rows(pg, app_db):
    last = int(pg.psql("SELECT max(id) FROM checkouts_checkout;", db=app_db.name))
    pilots = count(pg, app_db.name, "auth_user")
    manage(["seed_bulk", "--megabytes", "0.5", "--shape", "narrow"], app_db.url)
    added, notes = (int(x) for x in pg.psql(
        f"SELECT count(*), count(*) FILTER (WHERE notes <> '') FROM checkouts_checkout WHERE id > {last};",
        db=app_db.name).split("|"))  # fmt: skip
    assert 0.9 * 0.5 * 2**20 / 40 < added <= 0.5 * 2**20 / 40 + 1 and notes == 0  # 40 bytes a checkout, no notes
    assert 200 <= added / (count(pg, app_db.name, "auth_user") - pilots) <= 600  # a few hundred a pilot


def test_backup_env_is_hermetic(backup_env, app_db, s3, bucket):
    assert backup_env["DATABASE_URL"] == app_db.url
    assert backup_env["S3_ENDPOINT_URL"] == s3.endpoint_url
    assert backup_env["S3_BUCKET_NAME"] == bucket
    assert not {k for k in backup_env if k.startswith("AWS_")} - {"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"}
    json.dumps(backup_env)  # plain strings only
