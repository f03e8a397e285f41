"""The pure parts of restore: parsing pg_dump SQL, the in-transaction checks, target identity, scratch names."""

import datetime as dt

import pytest

from checkniner_backup import config as config_mod
from checkniner_backup import restore
from checkniner_backup.config import Database
from checkniner_backup.errors import ConfigError

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
    counter = restore.CopyCounter()
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
        counter = restore.CopyCounter()
        for start in range(0, len(SQL), size):
            counter.feed(SQL[start : start + size])
        assert counter.close() == expected, f"blocks of {size} bytes"


def test_copy_counter_counts_a_last_row_without_newline():
    counter = restore.CopyCounter()
    counter.feed(b'COPY "public"."t" ("id") FROM stdin;\n1\n2')
    assert counter.close() == {"t": 2}


def test_copy_counter_row_longer_than_many_blocks():
    """A large bytea is one COPY line of any length: it spans many blocks, and the lines around it still count."""
    big = b"1\t\\\\x" + b"ab" * 300_000 + b"\n"
    sql = b'COPY "public"."files" ("id", "data") FROM stdin;\n' + big + b"2\t\\\\x00\n" + big + b"\\.\n\n"
    for size in (1000, 4096, 65536, 1 << 20):
        counter = restore.CopyCounter()
        for start in range(0, len(sql), size):
            counter.feed(sql[start : start + size])
        assert counter.close() == {"files": 3}, f"blocks of {size} bytes"


RECORDED = {
    "auth": {"auth_user": {"rows": 2, "sum": "5", "method": "hash"}, "auth_group": {"rows": 0, "sum": "0"}},
    "checkouts": {"checkouts_gone": {"rows": 1, "sum": "7", "method": "md5"}},
}


def test_checks_sql_digests_business_tables_in_the_counting_scan():
    text = restore._checks_sql({"auth_user": 2, "django_session": 1}, RECORDED)
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
    assert restore.restore_digests(lines, RECORDED) == {
        "auth_user": {"rows": 2, "sum": "5", "method": "hash"},
        "auth_group": {"rows": 0, "sum": "0"},  # recorded without a method (md5): compared like with like
        "checkouts_gone": {"rows": None, "sum": None},  # missing table, as pg.table_digests reports it
    }
    assert restore.restore_digests(lines[:2], RECORDED) is None  # one missing: the proof scans instead


def test_checks_sql_quotes_identifiers_and_counts():
    text = restore._checks_sql({"auth_user": 2, 'other schema.Odd"Name': 1, "it's": 0})
    assert 'FROM "public"."auth_user";' in text and "IF n <> 2 THEN" in text
    assert 'FROM "other schema"."Odd""Name";' in text
    assert "'it''s'" in text
    assert text.startswith("DO $cnb$") and text.rstrip().endswith("$cnb$;")


@pytest.mark.parametrize(
    "a, b, same",
    [
        ("postgres://u@localhost/app", "postgres://v:pw@127.0.0.1:5432/app", True),
        ("postgres://u@%2Fvar%2Frun%2Fpostgresql/app", "postgres://u@localhost/app", True),
        ("postgres://u@db1/app", "postgres://u@DB1/app", True),
        ("postgres://u@db1/app", "postgres://u@db2/app", False),
        ("postgres://u@localhost:5433/app", "postgres://u@localhost/app", False),
        ("postgres://u@localhost/app", "postgres://u@localhost/app_copy", False),
    ],
)
def test_same_database(a, b, same):
    assert restore.same_database(Database.from_url(a), Database.from_url(b)) is same


def test_argv_password_warning():
    assert restore.argv_password_warning("postgres://u:secret@h/db") is not None
    assert restore.TARGET_ENV in restore.argv_password_warning("postgres://u:secret@h/db")
    assert restore.argv_password_warning("postgres://u@h/db") is None
    assert restore.argv_password_warning(None) is None


def _config(**env):
    base = {"DATABASE_URL": "postgres://app:pw@localhost/live"}
    base.update(env)
    return config_mod.load(base)


def test_resolve_target():
    target, live = restore.resolve_target(_config())
    assert target.name == "live" and live
    target, live = restore.resolve_target(_config(), "postgres://app@localhost/other")
    assert target.name == "other" and not live
    target, live = restore.resolve_target(_config(**{restore.TARGET_ENV: "postgres://x:pw@localhost/live"}))
    assert live  # the same database, however it is spelled
    with pytest.raises(ConfigError, match="no target database"):
        restore.resolve_target(config_mod.load({}, require_database=False))


def test_scratch_names_and_age():
    now = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    name = restore.scratch_name(now)
    assert name.startswith("cnb_verify_20240501120000_")
    assert restore.scratch_age(name, now) == dt.timedelta(0)
    assert restore.scratch_age(name, now + dt.timedelta(hours=2)) > restore.SCRATCH_MAX_AGE
    assert restore.scratch_age("cnb_verify_something_else", now) is None
    assert restore.scratch_age("app", now) is None


def test_fixture_order_puts_referenced_apps_first():
    assert restore._fixture_order(["admin", "auth", "checkouts", "contenttypes", "sessions"]) == [
        "contenttypes",
        "auth",
        "admin",
        "checkouts",
        "sessions",
    ]


def test_compare_apps_and_expected_digests():
    manifest = {"business_apps": ["auth", "checkouts"], "business_fixtures": {"auth": "a1"}}
    expected = restore.expected_digests(manifest)
    assert expected == {"auth": "a1", "checkouts": None}  # no rows is part of the state
    report = restore.compare_apps(expected, {"auth": "a1", "checkouts": "c9"})
    assert report["auth"]["match"] and not report["checkouts"]["match"]
    assert restore.expected_digests(manifest, {"checkouts"}) == {"checkouts": None}


@pytest.mark.parametrize("apps, mode", [("auth", "sql"), (["checkouts"], "sql")])
def test_apps_need_fixtures_mode(apps, mode):
    with pytest.raises(ConfigError, match="--mode fixtures"):
        restore.restore(_config(), apps=apps, mode=mode)


def test_live_restore_needs_yes():
    with pytest.raises(ConfigError, match="--yes"):
        restore.restore(_config())


def test_unknown_mode():
    with pytest.raises(ConfigError, match="unknown restore mode"):
        restore.restore(_config(), mode="magic")
