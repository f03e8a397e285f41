"""SqlStream: the archive's SQL as psql may see it. Rows counted for the checks; meta-commands refused; the dump's
own transaction control and \\restrict lines blanked (line numbers kept)."""

import pytest

from checkniner_backup.errors import IntegrityError
from checkniner_backup.restore.sqlstream import SqlStream

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
    stream = SqlStream()
    assert stream.feed(SQL) + stream.close() == SQL  # nothing to blank or refuse: passed on as it is
    assert stream.counts == {
        "auth_user": 2,
        "empty_table": 0,
        'other schema.Odd"Name': 1,
        "notes": 2,
    }


def test_copy_counter_gives_the_same_counts_for_any_block_boundaries():
    expected = {"auth_user": 2, "empty_table": 0, 'other schema.Odd"Name': 1, "notes": 2}
    for size in range(1, len(SQL) + 1):
        stream = SqlStream()
        out = b"".join(stream.feed(SQL[start : start + size]) for start in range(0, len(SQL), size))
        assert out + stream.close() == SQL, f"blocks of {size} bytes"
        assert stream.counts == expected, f"blocks of {size} bytes"


def test_copy_counter_counts_a_last_row_without_newline():
    stream = SqlStream()
    stream.feed(b'COPY "public"."t" ("id") FROM stdin;\n1\n2')
    stream.close()
    assert stream.counts == {"t": 2}


def test_copy_counter_row_longer_than_many_blocks():
    """A large bytea is one COPY line of any length: it spans many blocks, and the lines around it still count."""
    big = b"1\t\\\\x" + b"ab" * 300_000 + b"\n"
    sql = b'COPY "public"."files" ("id", "data") FROM stdin;\n' + big + b"2\t\\\\x00\n" + big + b"\\.\n\n"
    for size in (1000, 4096, 65536, 1 << 20):
        stream = SqlStream()
        out = b"".join(stream.feed(sql[start : start + size]) for start in range(0, len(sql), size))
        assert out + stream.close() == sql and stream.counts == {"files": 3}, f"blocks of {size} bytes"


# pg_dump 15.14+ of a database with a large object: its own \restrict, and BEGIN/COMMIT around the blob's data
BLOB_DUMP = b"""\\restrict ZHh0Vh9SRO79UgRmUQNnFComJ3qI
SET standard_conforming_strings = on;
SELECT pg_catalog.lo_create('16391');
COPY "public"."t" ("id", "o") FROM stdin;
1\t16391
\\.

BEGIN;

SELECT pg_catalog.lo_open('16391', 131072);
SELECT pg_catalog.lowrite(0, '\\x68656c6c6f5c78');
SELECT pg_catalog.lo_close(0);

COMMIT;

ALTER TABLE ONLY "public"."t"
    ADD CONSTRAINT "t_pkey" PRIMARY KEY ("id");

\\unrestrict ZHh0Vh9SRO79UgRmUQNnFComJ3qI
"""


META = "a psql meta-command (a backslash outside quotes)"


def _through(sql, size=None):
    stream = SqlStream("db.sql")
    size = size or len(sql)
    out = b"".join(stream.feed(sql[start : start + size]) for start in range(0, len(sql), size))
    return out + stream.close(), stream


@pytest.mark.parametrize("size", [1, 7, 64, 1 << 20])
def test_the_dumps_transaction_control_and_restrict_lines_are_blanked_keeping_line_numbers(size):
    out, stream = _through(BLOB_DUMP, size)
    assert out.count(b"\n") == BLOB_DUMP.count(b"\n")  # psql's line numbers stay the archive's
    assert b"BEGIN;" not in out and b"COMMIT;" not in out and b"restrict" not in out
    assert stream.blanked == 4 and stream.counts == {"t": 1}
    assert b"lowrite(0, '\\x68656c6c6f5c78');" in out  # a backslash inside quotes is data


@pytest.mark.parametrize(
    "sql, line, what",
    [
        (b"SELECT 1;\n\\! touch /tmp/pwned\n", 2, "meta-command"),
        (b"SELECT 1; \\! id\n", 1, "meta-command"),  # psql runs it in the middle of a line too
        (b"SELECT 1 \\g\n", 1, "meta-command"),
        (b'COPY "a"."b" (x \\! id) FROM stdin;\n', 1, "meta-command"),  # a COPY line is read too
        (b"SELECT $q$ \\! quoted $q$;\nSELECT $q$\nline\n$q$; \\! id\n", 4, "meta-command"),
        (b"SELECT E'it\\'s' \\! id;\n", 1, "meta-command"),  # the escaped quote does not end the string
        (b"SELECT a$b$c FROM t; \\! id\n", 1, "meta-command"),  # $b$ inside an identifier is no dollar quote
        (b"/* a /* nested */ comment */ \\! id\n", 1, "meta-command"),
        (b"select 1; commit;\n", 1, "transaction control (COMMIT)"),
        (b"SELECT 1;\nEND;\n", 2, "transaction control (END)"),
        (b"ROLLBACK;\n", 1, "transaction control (ROLLBACK)"),
        (b"START TRANSACTION;\n", 1, "transaction control (START)"),
        (b'COPY "a"."b" ("x") FROM stdin;\n1\n\\.\nSAVEPOINT s;\n', 4, "transaction control (SAVEPOINT)"),
    ],
)
def test_code_and_transaction_control_are_refused_naming_the_line(sql, line, what):
    with pytest.raises(IntegrityError) as exc:
        _through(sql)
    assert str(exc.value) == (
        f"db.sql line {line} holds {META if what == 'meta-command' else what}: archives are data, never code; "
        "refused, nothing was committed"
    )


@pytest.mark.parametrize(
    "sql",
    [
        b"SELECT 'C:\\path', \"we\\ird\", $fn$ \\! $fn$, E'\\\\', $$\\x$$; -- \\! in a comment\n",
        b"/* \\! /* nested */ still comment \\! */ SELECT 1;\n",
        b"CREATE FUNCTION f() RETURNS integer LANGUAGE sql\nBEGIN ATOMIC\n SELECT 1;\n"
        b" SELECT CASE WHEN true THEN 1 END;\nEND;\n",  # a routine's SQL body: its `;` and END are its own
        b'COPY "public"."t" ("v") FROM stdin;\n\\\\! data\nCOMMIT;\n\\.\n',  # COPY data is data
    ],
)
def test_backslashes_in_quotes_comments_bodies_and_data_pass_unchanged(sql):
    out, stream = _through(sql)
    assert out == sql and not stream._statement
