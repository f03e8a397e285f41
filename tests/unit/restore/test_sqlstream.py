"""SqlStream: the archive's SQL split into the statements the server sees. Rows counted for the checks; what a client
interpreter or the server could read differently refused, naming the line; the dump's own transaction control and
\\restrict lines dropped."""

import pytest

from checkniner_backup.errors import IntegrityError
from checkniner_backup.restore.sqlstream import COPY, DATA, END_COPY, SQL, SqlStream, safe_encoding

SQL_TEXT = b"""--
-- PostgreSQL database dump
--
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
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
COUNTS = {"auth_user": 2, "empty_table": 0, 'other schema.Odd"Name': 1, "notes": 2}


def _through(sql, size=None):
    stream = SqlStream("db.sql")
    size = size or len(sql)
    events = [e for start in range(0, len(sql), size) for e in stream.feed(sql[start : start + size])]
    return events + stream.close(), stream


def _text(events):
    """The bytes the events stand for (COPY data joined), to compare with the archive's SQL."""
    parts = []
    for kind, payload, _line in events:
        parts.append(b"\\.\n" if kind == END_COPY else payload if kind == DATA else payload + b"\n")
    return b"".join(parts)


def _lines(text):
    """The non-blank lines: blank lines before a COPY are not sent (they mean nothing to the server)."""
    return [line for line in text.split(b"\n") if line.strip()]


def _statements(events):
    return [(payload.strip(), line) for kind, payload, line in events if kind == SQL]


def test_every_statement_and_copy_block_is_an_event_with_its_line():
    events, stream = _through(SQL_TEXT)
    assert _lines(_text(events)) == _lines(SQL_TEXT)  # nothing refused, nothing changed
    assert stream.counts == COUNTS
    assert [(kind, line) for kind, _payload, line in events if kind != DATA][:6] == [
        (SQL, 4), (SQL, 5), (SQL, 6), (COPY, 7), (END_COPY, 10), (COPY, 13)
    ]  # fmt: skip
    assert _statements(events)[-1] == (b"""SELECT pg_catalog.setval('"public"."auth_user_id_seq"', 2, true);""", 25)


def test_the_same_events_for_any_block_boundaries():
    whole, _stream = _through(SQL_TEXT)
    for size in range(1, len(SQL_TEXT) + 1):
        events, stream = _through(SQL_TEXT, size)
        assert _text(events) == _text(whole) and _statements(events) == _statements(whole), f"blocks of {size}"
        assert stream.counts == COUNTS, f"blocks of {size} bytes"


def test_copy_data_ends_at_its_terminator_also_without_a_last_newline():
    events, stream = _through(b'COPY "public"."t" ("id") FROM stdin;\n1\n2\n\\.')
    assert stream.counts == {"t": 2} and events[-1][0] == END_COPY


def test_a_row_longer_than_many_blocks():
    """A large bytea is one COPY line of any length: it spans many blocks, and the lines around it still count."""
    big = b"1\t\\\\x" + b"ab" * 300_000 + b"\n"
    sql = b'COPY "public"."files" ("id", "data") FROM stdin;\n' + big + b"2\t\\\\x00\n" + big + b"\\.\n\n"
    for size in (1000, 4096, 65536, 1 << 20):
        events, stream = _through(sql, size)
        assert _text(events) + b"\n" == sql and stream.counts == {"files": 3}, f"blocks of {size} bytes"


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


@pytest.mark.parametrize("size", [1, 7, 64, 1 << 20])
def test_the_dumps_transaction_control_and_restrict_lines_are_dropped(size):
    events, stream = _through(BLOB_DUMP, size)
    text = _text(events)
    assert b"BEGIN;" not in text and b"COMMIT;" not in text and b"restrict" not in text
    assert stream.blanked == 4 and stream.counts == {"t": 1}
    assert (b"SELECT pg_catalog.lowrite(0, '\\x68656c6c6f5c78');", 11) in _statements(events)  # data in quotes
    assert _statements(events)[-1][1] == 17  # the archive's line numbers, whatever was dropped


# What genuine pg_dump output (standard_conforming_strings on, --quote-all-identifiers) holds: passed unchanged
GENUINE = [
    b"-- \\! in a comment\nSELECT 'C:\\path', \"we\\ird\", $fn$ \\! $fn$, '\\\\', $$\\x$$;\n",
    b"/* \\! /* nested */ still comment \\! */ SELECT 1;\n",
    b'CREATE FUNCTION "public"."f"("begin" integer, "end" integer) RETURNS integer\n    LANGUAGE "sql"\n'
    b'    BEGIN ATOMIC\n SELECT\n         CASE\n             WHEN ("f"."begin" > 0) THEN 1\n'
    b'             ELSE (CASE WHEN true THEN 2 END)\n         END AS "case";\n SELECT $1;\nEND;\n',
    b'CREATE FUNCTION "public"."g"() RETURNS "trigger"\n    LANGUAGE "plpgsql"\n'
    b"    AS $_$\r\nBEGIN\r\n  RAISE NOTICE 'a$b %', E'\\\\';\r\n  COMMIT;\r\nEND;\r\n$_$;\n",
    b'CREATE TABLE "public"."a$b" ("x$y" integer DEFAULT 0);\n',
    b'COMMENT ON TABLE "public"."a$b" IS \'it\'\'s "quoted" -- not a comment; /* nor this */\';\n',
    b'COPY "public"."t" ("v") FROM stdin;\n\\\\! data\nCOMMIT;\n\\.\n',  # COPY data is data
    b'COPY "public"."no columns"  FROM stdin;\n\n\\.\n',  # pg_dump's form for a table without columns
    b'SELECT 1 -- a comment ended by \\r\rFROM "t";\n',
    b"SET client_encoding = 'LATIN1';\nSET standard_conforming_strings = on;\n",
    b"SELECT U&'\\0041', X'1f', B'01''10', N'x';\n",
]


@pytest.mark.parametrize("sql", GENUINE)
def test_what_pg_dump_writes_passes_unchanged(sql):
    events, stream = _through(sql)
    assert _lines(_text(events)) == _lines(sql)
    for size in (1, 3):
        assert _lines(_text(_through(sql, size)[0])) == _lines(sql)


def test_a_routine_body_is_one_statement():
    events, _stream = _through(GENUINE[2] + b"SELECT 2;\n")
    assert [line for _payload, line in _statements(events)] == [10, 11]


META = "a psql meta-command (a backslash outside quotes)"
DOLLAR = "a `$` right after a name or a number (pg_dump writes none; the server's versions read it differently)"
E_STRING = "an E'' string (pg_dump writes none with standard_conforming_strings on)"
NOT_COPY = "a COPY that is not pg_dump's `COPY schema.table (columns) FROM stdin;` on a line of its own"
SETTING = "a change of client_encoding or standard_conforming_strings"


@pytest.mark.parametrize(
    "sql, line, what",
    [
        (b"SELECT 1;\n\\! touch /tmp/pwned\n", 2, META),
        (b"SELECT 1; \\! id\n", 1, META),
        (b"SELECT 1 \\g\n", 1, META),
        (b"\\restrict abc\n\\unrestrict abc; \\! id\n", 2, META),  # only pg_dump's exact lines are dropped
        (b"SELECT $q$ \\! quoted $q$;\nSELECT $q$\nline\n$q$; \\! id\n", 4, META),
        (b"/* a /* nested */ comment */ \\! id\n", 1, META),
        # a `--` comment ends at \r, for the server as for psql
        (b"-- x\rCOMMIT;\n", 1, "transaction control (COMMIT)"),
        (b"SELECT 1; -- x\r\\! id\n", 1, META),
        # standard_conforming_strings off would turn '\' ' into a string that goes on
        (b"SET standard_conforming_strings = off;\n", 1, SETTING),
        (b"SET standard_conforming_strings TO 'off';\n", 1, SETTING),
        (b"SELECT set_config('standard_conforming_strings', 'off', false);\n", 1, SETTING),
        (b"RESET standard_conforming_strings;\n", 1, SETTING),
        (b"SELECT 'x' $E'\\' ; \\! id';\n", 1, E_STRING),
        (b"SELECT E'it\\'s';\n", 1, E_STRING),
        (b"SELECT fooe'x';\n", 1, E_STRING),
        (b"SELECT 1$q$ ; \\! id $q$;\n", 1, DOLLAR),
        (b"SELECT a$b$c FROM t;\n", 1, DOLLAR),
        (b"SELECT \"x\" FROM t$q$;\n", 1, DOLLAR),
        # encodings whose trail bytes can be a backslash or a quote
        (b"SET client_encoding = 'SJIS';\n", 1, SETTING),
        (b"SET client_encoding TO 'win932';\n", 1, SETTING),
        (b"SET NAMES 'BIG5';\n", 1, SETTING),
        (b"SELECT pg_catalog.set_config('client_encoding', 'GBK', false);\n", 1, SETTING),
        (b"RESET client_encoding;\n", 1, SETTING),
        # COPY only in pg_dump's exact form: its data goes through the copy protocol
        (b'copy "public"."t" ("a") from stdin;\n\\! id\n\\.\n', 1, NOT_COPY),
        (b"COPY t FROM stdin;\n1\n\\.\n", 1, NOT_COPY),
        (b'COPY "public"."t" FROM stdin;\n1\n\\.\n', 1, NOT_COPY),
        (b'COPY "public"."t" ("a") FROM PROGRAM \'id\';\n', 1, NOT_COPY),
        (b'COPY "public"."t" ("a") FROM \'/etc/passwd\';\n', 1, NOT_COPY),
        (b'COPY "public"."t" ("a") TO stdout;\n', 1, NOT_COPY),
        (b'COPY "public"."t" ("a") FROM stdin; SELECT 1;\n', 1, NOT_COPY),
        (b' COPY "public"."t" ("a") FROM stdin;\n', 1, NOT_COPY),
        (b'SELECT 1; COPY "public"."t" ("a") FROM stdin;\n', 1, NOT_COPY),
        (b'COPY "public"."t" ("a") FROM stdin;\n1\n\\.\r\n\\! id\n', 4, META),  # psql ends COPY at \.\r\n too
        (b'COPY "public"."t" ("a") FROM stdin;\n1\n2\n', 3, "COPY data without its end (\\.) at the end of the SQL"),
        # a NUL byte: psql and libpq end the text there, the lexer would not
        (b"SELECT 1;\0\\! id\n", 1, "a NUL byte"),
        (b'COPY "public"."t" ("a") FROM stdin;\n1\n2\0\n\\.\n', 3, "a NUL byte"),
        # transaction control at a statement's start, in any case
        (b"select 1; commit;\n", 1, "transaction control (COMMIT)"),
        (b"SELECT 1;\nEND;\n", 2, "transaction control (END)"),
        (b"ROLLBACK;\n", 1, "transaction control (ROLLBACK)"),
        (b"ABORT;\n", 1, "transaction control (ABORT)"),
        (b"START TRANSACTION;\n", 1, "transaction control (START)"),
        (b"begin;\n", 1, "transaction control (BEGIN)"),
        (b"  BEGIN;\n", 1, "transaction control (BEGIN)"),  # only pg_dump's exact `BEGIN;` line is dropped
        (b"/* x */ COMMIT;\n", 1, "transaction control (COMMIT)"),
        (b"COMMIT PREPARED 'x';\n", 1, "transaction control (COMMIT)"),
        (b"ROLLBACK PREPARED 'x';\n", 1, "transaction control (ROLLBACK)"),
        (b"PREPARE TRANSACTION 'x';\n", 1, "transaction control (PREPARE)"),
        (b"RELEASE SAVEPOINT s;\n", 1, "transaction control (RELEASE)"),
        (b'COPY "a"."b" ("x") FROM stdin;\n1\n\\.\nSAVEPOINT s;\n', 4, "transaction control (SAVEPOINT)"),
        # BEGIN inside parentheses is a name: it opens no routine body, and what follows is still checked
        (b"CREATE FUNCTION f(begin int) RETURNS int LANGUAGE sql RETURN 1;\nROLLBACK;\n", 2,
         "transaction control (ROLLBACK)"),
        (b"CREATE FUNCTION f(begin int) RETURNS int LANGUAGE sql RETURN 1;\nSELECT 1;\nEND;\n", 3,
         "transaction control (END)"),
        (b"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; COMMIT; END;\n", 1,
         "transaction control (COMMIT)"),
        (b"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 AS case; END; END;\n", 1,
         "CASE used as a name in a routine body"),
        (b"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT t.end; END;\n", 1,
         "END used as a name in a routine body"),
        (b"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; END END;\n",
         1, "something after the END of a routine body"),
        (b"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END END;\n", 1,
         "an END that does not match the routine body's BEGIN ATOMIC"),
        (b"SELECT (1; COMMIT; SELECT 2);\n", 1, "a `;` inside parentheses"),
        (b"SELECT 'never closed;\n", 1, "a statement not ended at the end of the SQL"),
        (b"SELECT 1", 1, "a statement not ended at the end of the SQL"),
    ],
)  # fmt: skip
def test_what_could_be_read_two_ways_is_refused_naming_the_line(sql, line, what):
    for size in (len(sql), 1):
        with pytest.raises(IntegrityError) as exc:
            _through(sql, size)
        assert str(exc.value) == (
            f"db.sql line {line} holds {what}: archives are data, never code; refused, nothing was committed"
        )


@pytest.mark.parametrize(
    "name, safe",
    [("UTF8", True), ("utf-8", True), ("SQL_ASCII", True), ("LATIN1", True), ("EUC_JP", True), ("WIN1252", True),
     ("SJIS", False), ("Shift_JIS_2004", False), ("BIG5", False), ("GBK", False), ("UHC", False), ("GB18030", False),
     ("JOHAB", False), ("WIN932", False), (None, False)],
)  # fmt: skip
def test_safe_encodings_are_the_ascii_safe_ones(name, safe):
    assert safe_encoding(name) is safe


@pytest.mark.parametrize("copy", [False, True])
def test_a_line_that_never_ends_is_refused_at_its_bound_not_held(monkeypatch, copy):
    from checkniner_backup.restore import sqlstream

    monkeypatch.setattr(sqlstream, "MAX_STATEMENT", 1 << 20)
    monkeypatch.setattr(sqlstream, "MAX_COPY_LINE", 2 << 20)
    stream = SqlStream("db.sql")
    if copy:
        stream.feed(b"COPY public.t (a) FROM stdin;\n")
    block = b"x" * (64 << 10)
    with pytest.raises(IntegrityError, match=r"db.sql line \d+ holds a line longer than [12] MiB"):
        for _ in range(64):
            stream.feed(block)
    assert len(b"".join(stream._tail)) <= (2 << 20) + len(block)


def test_a_statement_over_many_lines_is_bounded_too(monkeypatch):
    from checkniner_backup.restore import sqlstream

    monkeypatch.setattr(sqlstream, "MAX_STATEMENT", 1 << 20)
    stream = SqlStream("db.sql")
    with pytest.raises(IntegrityError, match="a statement longer than 1 MiB"):
        for _ in range(64):
            stream.feed(b"SELECT " + b"1, " * 10000 + b"\n")


# -- COPY data: the terminator found by its backslash ---------------------------------------------------------

_COPY_HEAD = b'COPY "public"."t" ("a") FROM stdin;\n'


def _reference(data):
    """(rows, the data before its terminator) read line by line, as psql reads COPY data: the first line that is
    `\\.` (or `\\.\\r`) ends it."""
    lines = [line + b"\n" for line in data.split(b"\n")]  # not splitlines(): a CR alone ends no line here
    for index, line in enumerate(lines):
        if line in (b"\\.\n", b"\\.\r\n"):
            return index, b"".join(lines[:index])
    raise AssertionError("no terminator")


def _copy_through(data, size, hops=None, monkeypatch=None):
    if hops is not None:
        from checkniner_backup.restore import sqlstream

        monkeypatch.setattr(sqlstream, "BACKSLASH_HOPS", hops)
    events, stream = _through(_COPY_HEAD + data + b"SELECT 1;\n", size)
    kinds = [kind for kind, _payload, _line in events]
    assert kinds[0] == COPY and kinds.count(END_COPY) == 1 and kinds[-1] == SQL, kinds
    copied = b"".join(payload for kind, payload, _line in events if kind == DATA)
    return stream.counts["t"], copied, events[kinds.index(END_COPY)][2]


# near misses of a terminator, each a line of data: an escaped backslash before the dot, a dot after a backslash
# inside a line, `\.` and more on the line, a CR alone, NULLs (`\N`) and escapes
_NEAR_MISSES = [b"\\\\.", b"x\\.", b"\\.x", b"\\..", b" \\.", b"\\N", b"a\\tb\\\\", b"\\.\r\r", b"\\", b"\\\\\\."]


@pytest.mark.parametrize("hops", [None, 0, 1, 2])
@pytest.mark.parametrize("ending", [b"\\.\n", b"\\.\r\n"])
def test_copy_data_ends_only_at_a_line_that_is_its_terminator(monkeypatch, hops, ending):
    """Near misses in front of the terminator, at every block boundary, with the backslash-by-backslash search cut
    short anywhere (hops): the same rows and bytes as reading line by line."""
    data = b"".join(line + b"\n" for line in _NEAR_MISSES) + ending
    want_rows, want_data = _reference(data)
    assert want_rows == len(_NEAR_MISSES)
    for size in range(1, 40):
        rows, copied, line = _copy_through(data, size, hops, monkeypatch)
        assert (rows, copied) == (want_rows, want_data), f"blocks of {size} bytes, {hops} hops"
        assert line == 2 + want_rows  # the terminator's line: the COPY is line 1


def test_copy_data_with_more_backslashes_than_are_looked_at_one_by_one():
    """NULL-heavy rows: thousands of backslashes in one block before the terminator, in front of a near miss."""
    rows = [b"1\t\\N\t\\N\t\\\\.", b"\\N\t\\.x"] * 2000
    data = b"\n".join(rows) + b"\n\\.\n"
    for size in (1 << 20, 4096, 333):
        count, copied, _line = _copy_through(data, size)
        assert (count, copied) == _reference(data), f"blocks of {size} bytes"


def test_a_nul_byte_in_copy_data_is_refused_wherever_the_blocks_end():
    data = b"1\t\\N\n2\tx\0y\n\\.\n"
    for size in (1, 5, 9, 1 << 20):
        with pytest.raises(IntegrityError, match="db.sql line 3 holds a NUL byte"):
            _through(_COPY_HEAD + data, size)
