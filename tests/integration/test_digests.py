"""Row digests (pg.table_digests) against a real server: the cheap hash where equal means identical, md5 elsewhere.

The digests decide "nothing changed" between runs and prove an SQL restore, so an edit that a type's equality
ignores (case in citext or under a case-insensitive collation, '1 day' vs '24 hours', 1.0 vs 1.00 also inside jsonb,
0.0 vs -0.0) must still change them.
"""

import uuid

import pytest

from checkniner_backup import pg as engine_pg
from checkniner_backup.config import Database

TABLES = """
CREATE EXTENSION IF NOT EXISTS citext;
CREATE COLLATION IF NOT EXISTS cnb_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE DOMAIN cnb_code AS varchar(10);
CREATE TABLE plain (id bigint PRIMARY KEY, name text, code cnb_code, tags int[], at timestamptz, price numeric(8,2),
                    flag bool);
CREATE TABLE ci_collation (id int, name text COLLATE cnb_ci);
CREATE TABLE ci_type (id int, name citext);
CREATE TABLE spans (id int, span interval);
CREATE TABLE loose (id int, doc json);
CREATE TABLE documents (id int, doc jsonb);
CREATE TABLE measures (id int, weight float8);
CREATE TABLE amounts (id int, amount numeric);
INSERT INTO plain VALUES (1, 'Alice', 'A1', '{1,2}', '2026-01-01 10:00+00', 1.50, true),
                         (2, 'Bob', 'B2', '{}', '2026-01-02 10:00+00', 2.00, false);
INSERT INTO ci_collation VALUES (1, 'Alice');
INSERT INTO ci_type VALUES (1, 'Alice');
INSERT INTO spans VALUES (1, '1 day');
INSERT INTO loose VALUES (1, '{"a": 1}');
INSERT INTO documents VALUES (1, '{"a": 1.0}');
INSERT INTO measures VALUES (1, 0.0);
INSERT INTO amounts VALUES (1, 1.0);
"""


@pytest.fixture(scope="module")
def digest_db(pg):
    name = f"digests_{uuid.uuid4().hex[:8]}"
    pg.create_database(name)
    pg.psql(TABLES, db=name)
    pg.psql("GRANT SELECT ON ALL TABLES IN SCHEMA public TO checkniner;", db=name)
    yield name, Database.from_url(pg.app_url(name))
    pg.drop_database(name)


def digests(database, tables, methods=None):
    conn = engine_pg.connect(database)
    try:
        return engine_pg.table_digests(conn, tables, methods)
    finally:
        conn.close()


def test_hash_where_equal_means_identical_md5_elsewhere(digest_db):
    _name, database = digest_db
    got = digests(
        database, ["plain", "ci_collation", "ci_type", "spans", "loose", "measures", "amounts", "documents", "missing"]
    )
    assert {t: d.get("method") for t, d in got.items()} == {
        "plain": "hash",
        "ci_collation": "md5",
        "ci_type": "md5",
        "spans": "md5",
        "loose": "md5",
        "measures": "md5",
        "amounts": "md5",
        "documents": "md5",
        "missing": None,
    }
    assert got["plain"]["rows"] == 2 and got["missing"] == {"rows": None, "sum": None}


@pytest.mark.parametrize(
    "table, edit, undo",
    [
        ("ci_collation", "UPDATE ci_collation SET name = 'alice'", "UPDATE ci_collation SET name = 'Alice'"),
        ("ci_type", "UPDATE ci_type SET name = 'alice'", "UPDATE ci_type SET name = 'Alice'"),
        ("spans", "UPDATE spans SET span = '24 hours'", "UPDATE spans SET span = '1 day'"),
        ("measures", "UPDATE measures SET weight = '-0'", "UPDATE measures SET weight = 0.0"),
        ("amounts", "UPDATE amounts SET amount = 1.00", "UPDATE amounts SET amount = 1.0"),
        ("documents", """UPDATE documents SET doc = '{"a": 1.00}'""", """UPDATE documents SET doc = '{"a": 1.0}'"""),
        ("plain", "UPDATE plain SET name = 'bob' WHERE id = 2", "UPDATE plain SET name = 'Bob' WHERE id = 2"),
        ("plain", "UPDATE plain SET price = 1.51 WHERE id = 1", "UPDATE plain SET price = 1.50 WHERE id = 1"),
    ],
)
def test_an_edit_equality_ignores_still_changes_the_digest(pg, digest_db, table, edit, undo):
    name, database = digest_db
    before = digests(database, [table])[table]
    pg.psql(f"{edit};", db=name)
    try:
        after = digests(database, [table])[table]
    finally:
        pg.psql(f"{undo};", db=name)
    assert after["rows"] == before["rows"] and after["sum"] != before["sum"]
    assert digests(database, [table])[table] == before  # undone: the same digest again


def test_row_order_does_not_matter_and_recorded_methods_are_honoured(pg, digest_db):
    name, database = digest_db
    pg.psql("CREATE TABLE plain_reversed AS SELECT * FROM plain ORDER BY id DESC;", db=name)
    pg.psql("GRANT SELECT ON plain_reversed TO checkniner;", db=name)
    got = digests(database, ["plain", "plain_reversed"])
    assert got["plain"]["sum"] == got["plain_reversed"]["sum"]
    as_md5 = digests(database, ["plain"], {"plain": "md5"})["plain"]
    assert as_md5["method"] == "md5" and as_md5["sum"] != got["plain"]["sum"]
    assert digests(database, ["plain"], {"plain": None})["plain"] == as_md5  # recorded before methods were named
