"""The schema proof end to end (`checkniner-backup restore`), on the sample project with what sites add to it.

Case 11: a CHECK and a partial unique index from Django's `__in` on a CharField print differently after pg_dump's SQL
is replayed; the proof of a correct restore must still pass, and a second restore must find "already matches"
(before format 2: PROOF FAILED).
Case 10: the same rows under a rule that drops inserts, a policy, row-level security turned off or a trigger's
function with another body are not the archive's database: the restore replays and brings the archive's back.
"""

import json

import pytest
from support.archives import backup

# What case 10 found missing from the digests, as a site adds it (its text prints the same after a replay).
SITE = """
CREATE FUNCTION airstrip_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER airstrip_touch BEFORE INSERT ON checkouts_airstrip FOR EACH ROW EXECUTE FUNCTION airstrip_touch();
ALTER TABLE checkouts_airstrip ENABLE ROW LEVEL SECURITY;
CREATE POLICY airstrip_visible ON checkouts_airstrip USING (name <> 'hidden');
"""
# What Django's migrate sends for CheckConstraint(check=~Q(ident__in=[...])) and UniqueConstraint(fields=["name"],
# condition=~Q(position__in=[...])) on CharFields: printed differently once pg_dump's SQL is replayed (case 11).
MIGRATED = """
ALTER TABLE checkouts_airstrip ADD CONSTRAINT airstrip_ident_not_reserved CHECK (NOT ("ident" IN ('XXXX', 'ZZZZ')));
CREATE UNIQUE INDEX airstrip_open_name ON checkouts_airstrip ("name") WHERE NOT ("position" IN ('closed', 'gone'));
"""
RULES = "SELECT count(*) FROM pg_rules WHERE tablename = 'checkouts_airstrip';"
POLICIES = "SELECT count(*) FROM pg_policies WHERE tablename = 'checkouts_airstrip';"
RLS = "SELECT relrowsecurity FROM pg_class WHERE relname = 'checkouts_airstrip';"
BODY = "SELECT prosrc FROM pg_proc WHERE proname = 'airstrip_touch';"


def restore(run_cli, url):
    proc = run_cli("restore", "--json", "--target-database-url", url)
    doc = json.loads(proc.stdout)
    return proc, doc


def test_a_correct_restore_of_what_migrate_built_is_proven_and_then_already_matches(pg, app_db, run_cli):
    pg.psql(MIGRATED, db=app_db.name, as_superuser=False)
    backup(run_cli)
    target = f"{app_db.name}_migrated"
    url = pg.app_url(target)
    try:
        proc, first = restore(run_cli, url)
        assert proc.returncode == 0 and first["ok"], first.get("message")
        assert first["changed"] and first["schema"] == {"match": True, "differences": []}
        printed = "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'airstrip_ident_not_reserved';"
        assert pg.psql(printed, db=target) != pg.psql(printed, db=app_db.name)  # the case: another text, same tree
        again = restore(run_cli, url)[1]
        assert again["ok"] and again["changed"] is False, again.get("message")
    finally:
        pg.drop_database(target)


@pytest.mark.parametrize(
    "damage, query",
    [
        ("CREATE RULE drop_inserts AS ON INSERT TO checkouts_airstrip DO INSTEAD NOTHING;", RULES),
        ("CREATE POLICY everything ON checkouts_airstrip USING (true);", POLICIES),
        ("ALTER TABLE checkouts_airstrip DISABLE ROW LEVEL SECURITY;", RLS),
        (
            "CREATE OR REPLACE FUNCTION airstrip_touch() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN RETURN NULL; END $$;",
            BODY,
        ),
    ],
    ids=["rule", "policy", "row-level security", "trigger function"],
)
def test_the_same_rows_under_another_schema_are_not_already_matching(pg, app_db, run_cli, damage, query):
    pg.psql(SITE, db=app_db.name, as_superuser=False)
    backup(run_cli)
    target = f"{app_db.name}_schema"
    url = pg.app_url(target)
    try:
        proc, first = restore(run_cli, url)
        assert proc.returncode == 0 and first["ok"], first.get("message")
        assert first["changed"] and first["schema"] == {"match": True, "differences": []}
        again = restore(run_cli, url)[1]
        assert again["ok"] and again["changed"] is False, again.get("message")  # a true match stays a match
        # case 10: the same rows, another schema
        expected = pg.psql(query, db=target)
        pg.psql(damage, db=target, as_superuser=False)
        assert pg.psql(query, db=target) != expected
        proc, repaired = restore(run_cli, url)
        assert proc.returncode == 0 and repaired["ok"], repaired.get("message")
        assert repaired["changed"] is True, "reported 'already matches' over a changed schema"
        assert pg.psql(query, db=target) == expected
    finally:
        pg.drop_database(target)
