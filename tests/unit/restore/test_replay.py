"""Replay's pure parts: counting the rows of pg_dump SQL, the in-transaction checks, the digest NOTICEs."""

from checkniner_backup.manifest import Manifest
from checkniner_backup.restore import replay

SQL = b"""--
-- PostgreSQL database dump
--
SET client_min_messages = warning;
COPY "public"."auth_user" ("id", "username") FROM stdin;
1\tamelia
2\tbert
\\.


COPY "public"."empty_table" ("id") FROM stdin;
\\.


COPY "other schema"."Odd""Name" ("id") FROM stdin;
1
\\.

COPY "public"."notes" ("id", "text") FROM stdin;
1\tCOPY "public"."fake" ("id") FROM stdin;
2\tline with \\\\. inside and an escaped\\nnewline
\\.
SELECT pg_catalog.setval('"public"."auth_user_id_seq"', 2, true);
"""


def test_copy_counter_counts_every_copy_block():
    counter = replay.CopyCounter()
    counter.feed(SQL)
    assert counter.close() == {
        "auth_user": 2,
        "empty_table": 0,
        'other schema.Odd"Name': 1,
        "notes": 2,
    }


def test_copy_counter_gives_the_same_counts_for_any_block_boundaries():
    expected = {"auth_user": 2, "empty_table": 0, 'other schema.Odd"Name': 1, "notes": 2}
    for size in range(1, len(SQL) + 1):
        counter = replay.CopyCounter()
        for start in range(0, len(SQL), size):
            counter.feed(SQL[start : start + size])
        assert counter.close() == expected, f"blocks of {size} bytes"


def test_copy_counter_counts_a_last_row_without_newline():
    counter = replay.CopyCounter()
    counter.feed(b'COPY "public"."t" ("id") FROM stdin;\n1\n2')
    assert counter.close() == {"t": 2}


def test_copy_counter_row_longer_than_many_blocks():
    """A large bytea is one COPY line of any length: it spans many blocks, and the lines around it still count."""
    big = b"1\t\\\\x" + b"ab" * 300_000 + b"\n"
    sql = b'COPY "public"."files" ("id", "data") FROM stdin;\n' + big + b"2\t\\\\x00\n" + big + b"\\.\n\n"
    for size in (1000, 4096, 65536, 1 << 20):
        counter = replay.CopyCounter()
        for start in range(0, len(sql), size):
            counter.feed(sql[start : start + size])
        assert counter.close() == {"files": 3}, f"blocks of {size} bytes"


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
