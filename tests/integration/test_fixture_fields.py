"""Fixtures exact to the microsecond, written by PostgreSQL where it gives Django's bytes (issue 14).

The sample project's field zoo (tests/sampleproject/zoo: every field type Django ships, ArrayField, custom fields,
django-model-utils' fields and subclasses of built-in fields that do and do not change what a dump calls; installed by
the settings checkniner.settings_zoo) filled with the edges of each type (`seed_zoo`), then:

(a) the helper's fixture, fast path and all, equals Django's own serializer at full precision, object by object and
    byte for byte (tests/support/fixture_fields.py writes it three ways in one snapshot), with aware datetimes (UTC)
    and with naive ones (USE_TZ = False, Europe/Paris);
(b) a fixtures restore gives every table back row by row, and its proof (the restored data dumped again) holds.

The subclasses that change what a dump calls really write other bytes (Shouting capitals, Seconds cuts the
microseconds): had the fast path taken them, (a) would see it.
"""

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from support import app_django
from support.django_project import SETTINGS_MODULE, manage, manage_env

from checkniner_backup.archive import read_manifest

FIXTURE_FIELDS = Path(__file__).resolve().parents[1] / "support" / "fixture_fields.py"
MODULE_UTILS = Path(__file__).resolve().parents[2] / "module_utils"

# every test here compares with the application's own Django: under 5.2 and again under 3.2 LTS
pytestmark = pytest.mark.app_django32
ZOO_SETTINGS = {"DJANGO_SETTINGS_MODULE": "checkniner.settings_zoo"}
ZOO_MODELS = ["zoo.article", "zoo.code", "zoo.inherited", "zoo.labelled", "zoo.shouted", "zoo.specimen", "zoo.stamped",
              "zoo.token", "zoo.truncated"]  # fmt: skip
# the models Django's serializer writes, and why: each has a field whose class changes what a dump calls
ZOO_DECLINED = {
    "zoo.article": "body is a SplitField that overrides value_to_string",
    "zoo.labelled": "tags is a Tags that overrides from_db_value, value_to_string",
    "zoo.shouted": "name is a Shouting that overrides value_to_string",
    "zoo.truncated": "moment is a Seconds that overrides from_db_value",
}
# the zoo's tables, row by row: content types and permissions by natural key (their ids are the database's own)
ZOO_ROWS = {
    "zoo_token": "SELECT t::text FROM zoo_token t",
    "zoo_code": "SELECT t::text FROM zoo_code t",
    "zoo_labelled": "SELECT t::text FROM zoo_labelled t",
    # zoo_shouted and zoo_truncated are left out: their fields write their values otherwise by design (capitals,
    # whole seconds), so their fixtures cannot give the rows back (their proof still holds: they dump the same again)
    "zoo_stamped": "SELECT t::text FROM zoo_stamped t",
    "zoo_inherited": "SELECT t::text FROM zoo_inherited t",
    "zoo_inherited_others": "SELECT inherited_id || ':' || stamped_id FROM zoo_inherited_others",
    "zoo_article": "SELECT t::text FROM zoo_article t",
    "zoo_specimen_tokens": "SELECT specimen_id || ':' || token_id FROM zoo_specimen_tokens",
    "zoo_specimen_permissions": "SELECT sp.specimen_id || ':' || ct.app_label || '.' || p.codename"
    " FROM zoo_specimen_permissions sp JOIN auth_permission p ON p.id = sp.permission_id"
    " JOIN django_content_type ct ON ct.id = p.content_type_id",
}


@pytest.fixture
def django_python():
    """The interpreter with the application's Django that writes the fixtures three ways (any Django the helper
    supports: the helper's files come from this tree, not from an installed checkniner-backup): 5.2, or 3.2 LTS in
    the run with --app-django=3.2 (support/app_django.py)."""
    return app_django.python()


def fixture_fields(python, db, label, tmp_path, settings=ZOO_SETTINGS["DJANGO_SETTINGS_MODULE"]):
    out = tmp_path / f"{label}-{uuid.uuid4().hex[:6]}"
    out.mkdir()
    path = os.pathsep.join(p for p in (str(MODULE_UTILS), os.environ.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [python, str(FIXTURE_FIELDS), label, str(out)],
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
def test_every_field_is_written_as_djangos_serializer_writes_it(pg, zoo_db, tmp_path, settings, django_python):
    # a negative zero: Django reads it, but cannot write it (psycopg sends -0.0 as an expression, 0)
    pg.psql("UPDATE zoo_specimen SET real = '-0' WHERE id = (SELECT min(id) FROM zoo_specimen);", db=zoo_db.name)
    doc = fixture_fields(django_python, zoo_db, "zoo", tmp_path, settings)
    assert doc["differences"] == []
    assert doc["same_digest"]
    assert doc["models"] == ZOO_MODELS
    # only the models with a field that changes what a dump calls went through Django's serializer: every built-in
    # field, django-model-utils' (but SplitField) and the subclasses that change nothing of it took the fast path
    assert doc["declined"] == ZOO_DECLINED
    assert doc["paths"] == {m: "serializer" if m in ZOO_DECLINED else "fast" for m in ZOO_MODELS}
    assert doc["paths_again"]  # what Django's queries leave cached on the fields changes no path
    assert doc["objects"] > 100


def test_the_business_and_other_apps_take_the_fast_path(app_db, tmp_path, django_python):
    for label in ("auth", "checkouts", "contenttypes", "sessions", "admin"):
        doc = fixture_fields(django_python, app_db, label, tmp_path, SETTINGS_MODULE)
        assert doc["differences"] == [], label
        assert doc["declined"] == {}, label


def test_many_to_many_in_pk_order_through_djangos_serializer_too(pg, app_db, tmp_path, django_python):
    """An airstrip's bases are listed in pk order by either path, though Airstrip.Meta.ordering is by ident: Django
    before 4.1 drops prefetch_related in iterator(), and its serializer then lists them by ident."""
    out_of_order = pg.psql(
        "SELECT count(*) FROM checkouts_airstrip_bases a JOIN checkouts_airstrip b ON b.id = a.to_airstrip_id"
        " JOIN checkouts_airstrip_bases a2 ON a2.from_airstrip_id = a.from_airstrip_id"
        " JOIN checkouts_airstrip b2 ON b2.id = a2.to_airstrip_id WHERE b.id < b2.id AND b.ident > b2.ident;",
        db=app_db.name,
    )
    assert int(out_of_order) > 0  # the seed has airstrips whose bases' pk order is not their ident order
    doc = fixture_fields(django_python, app_db, "checkouts", tmp_path, SETTINGS_MODULE)
    assert doc["differences"] == []  # the helper with and without the fast path, and Django's serializer, agree
    assert doc["same_digest"]


def test_values_postgresql_writes_otherwise_leave_the_model_to_django(app_db, tmp_path, django_python):
    """JSON numbers 1.50 and 0.00001 (json.loads makes floats of them: 1.5, 1e-05), a non-ASCII word in an array
    (json.dumps escapes it) and an interval of months: the model goes through Django, and the bytes are the same."""
    add_zoo(app_db, "--odd")
    doc = fixture_fields(django_python, app_db, "zoo", tmp_path)
    assert doc["differences"] == []
    assert "holds a value PostgreSQL writes otherwise" in doc["declined"]["zoo.specimen"]


def test_a_fixtures_restore_gives_every_value_back(pg, zoo_db, run_cli, backup_env, tmp_path):
    apps = {"CHECKNINER_BACKUP_APPS": "auth,checkouts,zoo", **ZOO_SETTINGS}
    proc = run_cli("run", "--json", env=apps)
    assert proc.returncode == 0, proc.stderr
    run = json.loads(proc.stdout)
    assert run["outcome"] == "saved"
    # which path wrote each model: in run --json, the run's line, the manifest and status alike
    paths = {m: {"path": "serializer", "reason": why} for m, why in ZOO_DECLINED.items()}
    assert {m: p for m, p in run["models"].items() if m.startswith("zoo.")} == {
        **{m: {"path": "fast"} for m in ZOO_MODELS},
        **paths,
    }
    assert run["models"]["auth.user"] == {"path": "fast"}
    assert (
        f"; {len(ZOO_DECLINED)} model(s) through Django's serializer: zoo.article, zoo.labelled, zoo.shouted, ..."
        in proc.stderr
    )
    manifest = read_manifest(str(Path(backup_env["CHECKNINER_BACKUP_DIR"]) / run["name"]))
    assert manifest["models"] == run["models"]
    status = run_cli("status", "--json", env=apps)
    assert json.loads(status.stdout)["serializer_models"] == ZOO_DECLINED
    text = run_cli("status", env=apps).stdout
    assert f"{len(ZOO_DECLINED)} model(s) through Django's serializer at the last dump" in text
    assert f"zoo.shouted: {ZOO_DECLINED['zoo.shouted']}" in text
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
