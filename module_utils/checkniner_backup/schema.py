"""Schema digests: what "the same database" means beyond its rows.

A target whose rows match an archive is not the archive's database when an index, a constraint, a trigger, a rule, a
policy, a function's body, a sequence's value or a large object is missing or different: a restore must then replay
(and bring them back), not say "already matches"; and after a replay the proof compares them again. The digest is
one md5 per object, keyed so that two databases compare object by object:

    "table public.x"       its kind, row-level security (enabled, forced), options, partitioning, columns (type,
                           not null, identity, generated, collation, default), constraints, indexes (method, columns,
                           operator classes, collations, ordering, expressions, predicate), triggers (with the body
                           of the function each calls), policies, rules, and a view's query
    "function public.f()"  its whole definition (arguments, result, language, volatility, security definer, SET
                           configuration, body); procedures too; not an extension's own
    "sequence public.s"    its type, bounds, increment and last value
    "publication p"        its options (all tables, which operations) and tables
    "large objects"        every large object's OID and content
    "digest format"        "2": the form of the others (below)

Names are rendered with an empty search_path (schema-qualified, as pg_dump writes them), never by OID, so the same
schema gives the same digest in any cluster; lines are sorted and hashed here, not by the server's collation.

Exact and stable: what a correct restore must reproduce. The structure of every object is read from the catalog as
names and flags, which a replay reproduces as they are. The expressions are the hard part: PostgreSQL stores them
as trees and prints them with pg_get_expr(), and pg_dump's SQL is that print, parsed again. The print is exact (it is
what pg_dump restores from) but not stable: the parser does not always rebuild the tree it printed. `status IN
('a','b')` on a varchar column, as Django's migrate creates it, is an array cast of a varchar array, printed
`(ARRAY['a'::character varying, ...])::text[]`; parsing that text pushes the cast into the elements, and the
replayed database prints `ARRAY[('a'::character varying)::text, ...]`. Comparing printed text then fails every
correct restore of such a schema (a partial unique index or a CHECK from Django's `__in`).

So each expression is compared after one canonical round trip: printed, parsed again by the same server in the
object's own context (an expression over the table's columns, over NEW and OLD for a trigger's WHEN, a view's whole
query) as a temporary view, and printed again. That is the very transformation a replay applies, so the archive's
side yields what the replayed side stores, and the replayed side, already parsed from that text, reaches the same
print: printing then parsing is a fixed point after one pass (pg_dump relies on it: a dump of a restored database
restores the same). Nothing is lost: a different tree prints a different text, so a changed constraint, default,
predicate, collation or operator class still changes the digest. A normalisation of the stored trees instead
(pg_node_tree without locations, ArrayCoerceExpr of an ArrayExpr rewritten the way the parser does) would have to
map every OID inside them to a name and follow each parser rewrite by hand; the server's own parser is the one
normalisation that cannot drift from the one the replay uses.

The round trip creates a temporary function and temporary views in a transaction on its own connection, rolled
back: it needs the TEMPORARY privilege on the database (PUBLIC has it by default), and no lock stronger than reading
the table. Without it the digests are None: the archive is saved without them, and "already matches" and the proof
compare rows only, as for archives that predate digests. Not taken through the round trip, and compared as printed:
a rule (its actions are statements, not expressions; no migration writes rules), a function's body written in
SQL-standard form (BEGIN ATOMIC) and its argument defaults, a partition key. A publication's row filters, column
lists and schemas are left out (read version by version, and they name columns by number).

Format 1 (archives written before this form, no "digest format" key) printed pg_get_indexdef() and
pg_get_constraintdef() whole, the unstable text: for "already matches" it is compared by its own method
(schema_legacy.py; a false mismatch only costs a replay), the proof ignores it and says so (note()).
"""

import hashlib
import json
from collections import defaultdict

from . import pg, schema_catalog, schema_legacy

FORMAT_KEY = "digest format"
FORMAT = "2"
UNREADABLE = "schema digests (the target's cannot be computed: no TEMPORARY privilege)"

# One call parses every expression: each in a subtransaction, so a text that does not parse again (it cannot happen
# for PostgreSQL's own print, but a lock wait can time out) is compared as printed instead of failing the digest.
_CANONICAL = """
CREATE FUNCTION pg_temp.checkniner_canonical(bodies text[]) RETURNS text[] LANGUAGE plpgsql AS $f$
DECLARE
  result text[] := '{}';
  body text;
  printed text;
BEGIN
  FOREACH body IN ARRAY bodies LOOP
    BEGIN
      EXECUTE 'CREATE TEMPORARY VIEW checkniner_canonical AS ' || body;
      EXECUTE 'SELECT pg_catalog.pg_get_viewdef(''pg_temp.checkniner_canonical''::pg_catalog.regclass)' INTO printed;
      EXECUTE 'DROP VIEW pg_temp.checkniner_canonical';
    EXCEPTION WHEN OTHERS THEN
      printed := NULL;
    END;
    result := pg_catalog.array_append(result, printed);
  END LOOP;
  RETURN result;
END
$f$
"""


def digests(conn, canonical_conn=None):
    """{object key: md5} of the database `conn` is connected to (see the module's docstring), or None when the
    expressions cannot be taken through the round trip. canonical_conn (default: conn) runs it, in a transaction
    that is rolled back: a connection whose transaction may write (the snapshot's is read-only)."""
    lines = object_lines(conn, canonical_conn)
    if lines is None:
        return None
    # each line JSON-quoted: a view's query spans lines, and no two lists of lines may join into the same text
    result = {key: hashlib.md5(json.dumps(sorted(ls)).encode()).hexdigest() for key, ls in lines.items()}  # noqa: S324
    result[FORMAT_KEY] = FORMAT
    return result


def object_lines(conn, canonical_conn=None):
    """{object key: [its lines]}, what digests() hashes (None as there): for a test, or to see what differs."""
    with conn.cursor() as cur:
        cur.execute("SET LOCAL search_path = ''" if not conn.autocommit else "SET search_path = ''")
        cur.execute(schema_catalog.QUERY)
        rows = cur.fetchall()
    bodies = sorted({_body(key, ctx, text) for key, _line, ctx, texts in rows for text in texts or () if text})
    canonical = _round_trip(canonical_conn or conn, bodies)
    if canonical is None:
        return None
    lines = defaultdict(list)
    for key, line, ctx, texts in rows:
        parts = [line]
        for text in texts or ():
            parts.append("none" if text is None else canonical.get(_body(key, ctx, text)) or "as printed " + text)
        lines[key].append(" ".join(parts))
    return dict(lines)


def _body(key, ctx, text):
    """The query that parses `text` again in its context; the table's name is the key's (format %I.%I)."""
    return schema_catalog.CONTEXTS[ctx].format(text=text, rel=key.partition(" ")[2])


def _round_trip(conn, bodies):
    """{body: its view's definition printed again}, or None where it cannot run: no TEMPORARY privilege, a
    read-only server (a standby) or database. The transaction is rolled back: nothing stays."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_catalog.has_database_privilege(pg_catalog.current_database(), 'TEMPORARY')")
        if not cur.fetchone()[0]:
            return None
        if not bodies:
            return {}
        try:
            if conn.autocommit:
                cur.execute("BEGIN")
            cur.execute("SET LOCAL search_path = ''")  # names printed qualified, as in the catalog query
            cur.execute("SET LOCAL lock_timeout = '10s'")  # behind a migration's lock: printed text, not a hang
            cur.execute(_CANONICAL)
            cur.execute("SELECT pg_temp.checkniner_canonical(%s)", [bodies])
            printed = cur.fetchone()[0]
        except pg.psycopg2_module().errors.ReadOnlySqlTransaction:
            return None
        finally:
            if conn.autocommit:
                cur.execute("ROLLBACK")
            else:
                conn.rollback()
    return dict(zip(bodies, printed))


def of_database(database):
    """digests() of a database, read now (None where the round trip cannot run, see _round_trip)."""
    conn = pg.connect(database, autocommit=False)
    try:
        return digests(conn)
    finally:
        conn.rollback()
        conn.close()


def of_snapshot(database, snapshot_id):
    """digests() as of an exported snapshot (the instant of the dump); None when they cannot be read (a large object
    this role may not read, no TEMPORARY privilege): the archive is still saved, and "already matches" then compares
    rows only. The round trip runs on a second connection: the snapshot's is read-only."""
    try:
        canonical_conn = pg.connect(database, autocommit=False)
        try:
            with pg.in_snapshot(database, snapshot_id) as conn:
                return digests(conn, canonical_conn)
        finally:
            canonical_conn.close()
    except pg.psycopg2_module().Error:
        return None


def major_of(server_version):
    """The major version in a server_version text ("15.18 (Debian 15.18-0+deb12u1)" -> 15), or None."""
    head = str(server_version or "").split(".", 1)[0].split(" ", 1)[0]
    return int(head) if head.isdigit() else None


def server_major(database):
    """The major version of the server `database` is on."""
    conn = pg.connect(database)
    try:
        return pg.server_info(conn)["server_version_num"] // 10000
    finally:
        conn.close()


def compare(recorded, database, proof=False, recorded_major=None):
    """The recorded objects `database` lacks or holds differently ([] when the archive recorded none).

    proof False ("already matches"): anything not shown equal is a difference, a replay costs only time; format 1 is
    compared by its own method. proof True (after a replay): sequences are left out (their values are read outside
    any snapshot, a busy site moves them between pg_dump and the digest), and digests that cannot be compared like
    with like (format 1, a format this version does not know, a target without TEMPORARY, another major version of
    PostgreSQL) are not counted (note()). recorded_major: the major version the archive was taken on (its manifest's
    server_version): the server's own printing of expressions and definitions changes between major versions, so
    digests compare like with like on the same major only; across majors the rows and row counts prove the restore."""
    if not recorded:
        return []
    form = recorded.get(FORMAT_KEY)
    if form is None and not proof:
        return differences(recorded, schema_legacy.of_database(database))
    if form != FORMAT:
        return [] if proof else [f"schema digests (format {form} is not known)"]
    if recorded_major is not None and recorded_major != server_major(database):
        # not comparable, either way: "already matches" then rests on the rows, digests and row counts alone (else
        # every restore onto a newer major would replay again, and a second one would never be a no-op)
        return []
    actual = of_database(database)
    if actual is None:
        return [] if proof else [UNREADABLE]
    if proof:
        recorded = {k: v for k, v in recorded.items() if not k.startswith("sequence ")}
    return differences(recorded, actual)


def note(recorded, recorded_major=None, target_major=None):
    """Why a proof did not compare the recorded digests (compare(proof=True)), or None."""
    form = (recorded or {}).get(FORMAT_KEY, "1" if recorded else None)
    if form not in (None, FORMAT):
        return (
            f"schema not compared: the archive's digests are in format {form}, whose text is not stable across a replay"
        )
    if form is not None and recorded_major is not None and target_major is not None and recorded_major != target_major:
        return (
            f"schema not compared: the archive was taken on PostgreSQL {recorded_major}, the target runs "
            f"{target_major} (each major version prints definitions its own way); rows and row counts prove it"
        )
    return None


def differences(recorded, actual):
    """The recorded objects the target lacks or holds differently (objects only the target has are not counted)."""
    return sorted(key for key, value in recorded.items() if actual.get(key) != value)
