"""Replay's pure parts: counting the rows of pg_dump SQL, the in-transaction checks, the digest NOTICEs."""

from checkniner_backup.manifest import Manifest
from checkniner_backup.restore import replay
from checkniner_backup.restore.send import Notices

RECORDED = {
    "auth": {"auth_user": {"rows": 2, "sum": "5", "method": "hash"}, "auth_group": {"rows": 0, "sum": "0"}},
    "checkouts": {"checkouts_gone": {"rows": 1, "sum": "7", "method": "md5"}},
}
METHODS = Manifest({"table_digests": RECORDED}).digest_methods()


def test_checks_sql_digests_business_tables_in_the_counting_scan():
    text = replay.checks_sql({"auth_user": 2, "django_session": 1}, METHODS)
    assert text.startswith("RESET search_path;") and "SET client_min_messages = notice;" in text
    assert "hash_record_extended" in text and "md5(t::text)" in text  # each table by its recorded method
    assert text.count("RAISE NOTICE 'cnb-digest %'") == 3
    assert 'FROM "public"."auth_user"' not in text  # counted by its digest scan, not a second time
    assert 'FROM "public"."django_session"' in text
    assert "the archive has 2" in text and "the archive has 1" in text
    assert text.count("is missing after the replay") == 1  # auth_user: in the SQL, so it must exist


def test_restore_digests_reads_the_notices_and_wants_every_table():
    lines = [
        'psql:<stdin>:9: NOTICE:  cnb-digest {"table" : "auth_user", "rows" : 2, "sum" : "5"}',
        'psql:<stdin>:9: NOTICE:  cnb-digest {"table" : "auth_group", "rows" : 0, "sum" : "0"}',
        'psql:<stdin>:9: NOTICE:  cnb-digest {"table" : "checkouts_gone", "rows" : null, "sum" : null}',
        "psql:<stdin>:3: WARNING:  something else",
    ]
    assert replay.restore_digests(lines, METHODS) == {
        "auth_user": {"rows": 2, "sum": "5", "method": "hash"},
        "auth_group": {"rows": 0, "sum": "0"},  # recorded without a method (md5): compared like with like
        "checkouts_gone": {"rows": None, "sum": None},  # missing table, as pg.table_digests reports it
    }
    assert replay.restore_digests(lines[:2], METHODS) is None  # one missing: the proof scans instead


def test_checks_sql_quotes_identifiers_and_counts():
    text = replay.checks_sql({"auth_user": 2, 'other schema.Odd"Name': 1, "it's": 0})
    assert 'FROM "public"."auth_user";' in text and "IF n <> 2 THEN" in text
    assert 'FROM "other schema"."Odd""Name";' in text
    assert "'it''s'" in text
    assert text.startswith("DO $cnb$") and text.rstrip().endswith("$cnb$;")


def test_notices_keep_every_digest_and_name_the_line_of_warnings():
    """psycopg2 keeps only the last 50 notices by default: a database with more business tables lost digests."""
    notices = Notices("db.sql", replay.DIGEST_NOTICE)
    notices.line = 7
    for n in range(120):
        notices.append(f'NOTICE:  cnb-digest {{"table" : "t{n}", "rows" : {n}, "sum" : "0"}}\n')
    notices.append("WARNING:  something to know\n")
    notices.append("NOTICE:  table does not exist, skipping\n")
    assert len(notices.digests) == 120 and notices.warnings == ["db.sql line 7: WARNING:  something to know"]
    methods = {f"t{n}": None for n in range(120)}
    assert replay.restore_digests(notices.digests, methods)["t119"] == {"rows": 119, "sum": "0"}
