"""Fixtures exact to the microsecond, written by PostgreSQL where it gives Django's bytes (issue 14).

The sample project's field zoo (tests/sampleproject/zoo: every field type Django ships, ArrayField, a custom field;
installed by the settings checkniner.settings_zoo) filled with the edges of each type (`seed_zoo`), then:

(a) the helper's fixture, fast path and all, equals Django's own serializer at full precision, object by object and
    byte for byte (tests/support/fixture_fields.py writes it three ways in one snapshot), with aware datetimes (UTC)
    and with naive ones (USE_TZ = False, Europe/Paris);
(b) a fixtures restore gives every table back row by row, and its proof (the restored data dumped again) holds.
"""

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from support import app_django
from support.django_project import SETTINGS_MODULE, manage, manage_env

import checkniner_backup

# every test here compares with the application's own Django: under 5.2 and again under 3.2 LTS
pytestmark = pytest.mark.app_django32

FIXTURE_FIELDS = Path(__file__).resolve().parents[1] / "support" / "fixture_fields.py"
# fixture_fields.py imports the helper's package from this checkout: the application's venv does not have it installed
ENGINE_PATH = str(Path(checkniner_backup.__file__).resolve().parent.parent)
ZOO_SETTINGS = {"DJANGO_SETTINGS_MODULE": "checkniner.settings_zoo"}
ZOO_MODELS = ["zoo.code", "zoo.labelled", "zoo.specimen", "zoo.token"]
# the zoo's tables, row by row: content types and permissions by natural key (their ids are the database's own)
ZOO_ROWS = {
    "zoo_token": "SELECT t::text FROM zoo_token t",
    "zoo_code": "SELECT t::text FROM zoo_code t",
    "zoo_labelled": "SELECT t::text FROM zoo_labelled t",
    "zoo_specimen_tokens": "SELECT specimen_id || ':' || token_id FROM zoo_specimen_tokens",
    "zoo_specimen_permissions": "SELECT sp.specimen_id || ':' || ct.app_label || '.' || p.codename"
    " FROM zoo_specimen_permissions sp JOIN auth_permission p ON p.id = sp.permission_id"
    " JOIN django_content_type ct ON ct.id = p.content_type_id",
}


def fixture_fields(db, label, tmp_path, settings=ZOO_SETTINGS["DJANGO_SETTINGS_MODULE"]):
    out = tmp_path / f"{label}-{uuid.uuid4().hex[:6]}"
    out.mkdir()
    path = os.pathsep.join(filter(None, [ENGINE_PATH, os.environ.get("PYTHONPATH")]))
    proc = subprocess.run(
        [app_django.python(), str(FIXTURE_FIELDS), label, str(out)],
        env=manage_env(db.url, {"DJANGO_SETTINGS_MODULE": settings, "PYTHONPATH": path}),
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def zoo_rows(pg, db):
    """{table: sorted rows as text}; zoo_specimen with its content type by natural key instead of its id."""
    columns = pg.psql(
        "SELECT string_agg('s.' || quote_ident(column_name), ', ' ORDER BY ordinal_position) FROM "
        "information_schema.columns WHERE table_name = 'zoo_specimen' AND column_name <> 'kind_id';",
        db=db,
    ).strip()
    queries = dict(ZOO_ROWS)
    queries["zoo_specimen"] = (
        f"SELECT ROW({columns})::text || ' ' || coalesce(ct.app_label || '.' || ct.model, '-') FROM zoo_specimen s "
        "LEFT JOIN django_content_type ct ON ct.id = s.kind_id"
    )
    rows = {}
    for table, query in queries.items():
        out = pg.psql(f"SELECT v FROM ({query}) AS x(v) ORDER BY v;", db=db)
        rows[table] = out.splitlines()
    return rows


def add_zoo(db, *seed_args):
    manage(["migrate", "--noinput", "-v", "0"], db.url, env=ZOO_SETTINGS)
    manage(["seed_zoo", *seed_args], db.url, env=ZOO_SETTINGS)


@pytest.fixture
def zoo_db(app_db):
    add_zoo(app_db)
    return app_db


@pytest.mark.parametrize("settings", [ZOO_SETTINGS["DJANGO_SETTINGS_MODULE"], "checkniner.settings_naive"])
def test_every_field_is_written_as_djangos_serializer_writes_it(pg, zoo_db, tmp_path, settings):
    # a negative zero: Django reads it, but cannot write it (psycopg sends -0.0 as an expression, 0)
    pg.psql("UPDATE zoo_specimen SET real = '-0' WHERE id = (SELECT min(id) FROM zoo_specimen);", db=zoo_db.name)
    doc = fixture_fields(zoo_db, "zoo", tmp_path, settings)
    assert doc["differences"] == []
    assert doc["same_digest"]
    assert doc["models"] == ZOO_MODELS
    # only the model with a custom field went through Django's serializer: every built-in field took the fast path
    assert doc["declined"] == {"zoo.labelled": "tags is a Tags"}
    assert doc["objects"] > 60


def test_the_business_and_other_apps_take_the_fast_path(app_db, tmp_path):
    for label in ("auth", "checkouts", "contenttypes", "sessions", "admin"):
        doc = fixture_fields(app_db, label, tmp_path, SETTINGS_MODULE)
        assert doc["differences"] == [], label
        assert doc["declined"] == {}, label


def test_many_to_many_in_pk_order_through_djangos_serializer_too(pg, app_db, tmp_path):
    """An airstrip's bases are listed in pk order by either path, though Airstrip.Meta.ordering is by ident: Django
    before 4.1 drops prefetch_related in iterator(), and its serializer then lists them by ident."""
    out_of_order = pg.psql(
        "SELECT count(*) FROM checkouts_airstrip_bases a JOIN checkouts_airstrip b ON b.id = a.to_airstrip_id"
        " JOIN checkouts_airstrip_bases a2 ON a2.from_airstrip_id = a.from_airstrip_id"
        " JOIN checkouts_airstrip b2 ON b2.id = a2.to_airstrip_id WHERE b.id < b2.id AND b.ident > b2.ident;",
        db=app_db.name,
    )
    assert int(out_of_order) > 0  # the seed has airstrips whose bases' pk order is not their ident order
    doc = fixture_fields(app_db, "checkouts", tmp_path, SETTINGS_MODULE)
    assert doc["differences"] == []  # the helper with and without the fast path, and Django's serializer, agree
    assert doc["same_digest"]


def test_values_postgresql_writes_otherwise_leave_the_model_to_django(app_db, tmp_path):
    """JSON numbers 1.50 and 0.00001 (json.loads makes floats of them: 1.5, 1e-05), a non-ASCII word in an array
    (json.dumps escapes it) and an interval of months: the model goes through Django, and the bytes are the same."""
    add_zoo(app_db, "--odd")
    doc = fixture_fields(app_db, "zoo", tmp_path)
    assert doc["differences"] == []
    assert "holds a value PostgreSQL writes otherwise" in doc["declined"]["zoo.specimen"]


def test_a_fixtures_restore_gives_every_value_back(pg, zoo_db, run_cli, tmp_path):
    apps = {"CHECKNINER_BACKUP_APPS": "auth,checkouts,zoo", **ZOO_SETTINGS}
    proc = run_cli("run", "--json", env=apps)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["outcome"] == "saved"
    target = f"cnb_{uuid.uuid4().hex[:12]}"
    try:
        proc = run_cli("restore", "--json", "--mode", "fixtures", "--target-database-url", pg.app_url(target),
                       env=apps)  # fmt: skip
        assert proc.returncode == 0, proc.stderr + proc.stdout
        result = json.loads(proc.stdout)
        # the proof: the restored apps dump to the archive's bytes again
        assert result["ok"] and {a: v["match"] for a, v in result["apps"].items()} == dict.fromkeys(
            ("auth", "checkouts", "zoo"), True
        )
        assert zoo_rows(pg, target) == zoo_rows(pg, zoo_db.name)
    finally:
        pg.drop_database(target)
