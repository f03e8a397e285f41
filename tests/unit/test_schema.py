"""schema.py without a server: which digests a proof counts, and how each expression is parsed again."""

import pytest

from checkniner_backup import schema

NEW = {"table public.t": "a", "sequence public.s": "b", "digest format": "2"}
OLD = {"table public.t": "a", "sequence public.s": "b"}


@pytest.mark.parametrize(
    "recorded, proof",
    [({}, False), ({}, True), (OLD, True), ({**NEW, "digest format": "3"}, True)],
    ids=["none", "none in a proof", "format 1 in a proof", "unknown format in a proof"],
)
def test_digests_a_proof_cannot_compare_like_with_like_are_not_counted(recorded, proof):
    # no server is reached: a database the call would have to connect to is not given
    assert schema.compare(recorded, None, proof=proof) == []


def test_an_unknown_format_is_never_already_matching():
    assert schema.compare({**NEW, "digest format": "3"}, None) == ["schema digests (format 3 is not known)"]


@pytest.mark.parametrize(
    "recorded, note",
    [
        ({}, None),
        (NEW, None),
        (OLD, "schema not compared: the archive's digests are in format 1, whose text is not stable across a replay"),
    ],
)
def test_the_note_says_why_a_proof_left_the_schema_out(recorded, note):
    assert schema.note(recorded) == note


def test_differences_count_what_the_archive_has_and_the_target_lacks_or_holds_otherwise():
    actual = {"table public.t": "other", "table public.extra": "x", "digest format": "2"}
    assert schema.differences(NEW, actual) == ["sequence public.s", "table public.t"]


@pytest.mark.parametrize(
    "ctx, text, body",
    [
        ("rel", "(status)::text = 'a'::text", "SELECT ((status)::text = 'a'::text) AS e FROM public.t"),
        ("index", "lower(name), (n)::text", "SELECT lower(name), (n)::text FROM public.t"),
        ("trigger", "new.x <> old.x", "SELECT (new.x <> old.x) AS e FROM public.t AS old, public.t AS new"),
        ("view", " SELECT 1", " SELECT 1"),
    ],
)
def test_each_expression_is_parsed_in_its_own_context(ctx, text, body):
    assert schema._body("table public.t", ctx, text) == body


def test_a_quoted_table_name_is_used_as_the_key_prints_it():
    # the key is format('table %I.%I'): already quoted where a name needs it
    assert schema._body('table "my schema"."Odd"', "rel", "1") == 'SELECT (1) AS e FROM "my schema"."Odd"'


def test_digests_of_another_major_version_are_not_compared_and_the_note_says_so(monkeypatch):
    """Each major version prints definitions its own way (a 15 -> 17 restore, the fleet's): a proof does not count
    them, "already matches" does not take them as equal."""
    monkeypatch.setattr(schema, "server_major", lambda _database: 17)
    monkeypatch.setattr(schema, "of_database", lambda _database: pytest.fail("compared across major versions"))
    assert schema.compare(NEW, object(), proof=True, recorded_major=15) == []
    assert schema.compare(NEW, object(), recorded_major=15) == []  # "already matches" rests on the rows then
    assert "taken on PostgreSQL 15, the target runs 17" in schema.note(NEW, 15, 17)
    assert schema.note(NEW, 17, 17) is None and schema.note({}, 15, 17) is None
    monkeypatch.setattr(schema, "of_database", lambda _database: {"table public.t": "x", "digest format": "2"})
    assert schema.compare(NEW, object(), proof=True, recorded_major=17) == ["table public.t"]


@pytest.mark.parametrize(
    "text, major", [("15.18 (Debian 15.18-0+deb12u1)", 15), ("17.2", 17), ("", None), (None, None)]
)
def test_the_major_version_of_a_manifests_server_version(text, major):
    assert schema.major_of(text) == major
