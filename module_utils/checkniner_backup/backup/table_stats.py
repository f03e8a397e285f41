"""Change detection's statistics tier: PostgreSQL's per-table write counters, read instead of scanning the rows.

On a busy site some transaction commits between any two runs (sessions, the admin log), so the transaction-id
precheck never holds and the row digests would scan every business table each time. The server already counts what
was written to each table (pg_stat_get_tuples_inserted / _updated / _deleted: every row an INSERT, COPY, UPDATE or
DELETE touched, committed or rolled back), and the catalog tells what replaced a table's rows without counting them
(TRUNCATE, VACUUM FULL, CLUSTER, a rewriting ALTER: a new file node) or changed what its rows read as (ALTER TABLE:
new pg_class / pg_attribute row versions).

That evidence proves "no business table was written since" only while the counters are not lost or reset, so the
digests still run whenever that is not certain:

- the server restarted (pg_postmaster_start_time) or crashed (a crash discards every counter and stamps the shared
  statistics' reset time, pg_stat_archiver.stats_reset, while the postmaster lives on);
- the database's counters, or one table's, were reset (pg_stat_database.stats_reset moves for both);
- a business table is new, dropped, recreated, rewritten, altered, or not a plain table (a view has no counters);
- PostgreSQL before 15 (the counters travel over UDP there and can be lost), a standby (replayed writes are not
  counted), track_counts off;
- and every CHECKNINER_FULL_DIGEST_EVERY runs decided by statistics alone, whatever they say: the bound on what no
  signal shows (a superuser session with track_counts off, a procedure whose commits are counted when it returns);
  0 turns the statistics tier off.

Counters are read before the run's snapshot is taken: a write committed before they are read is counted in them and
in the snapshot the digests check; one they have not counted yet (a backend flushes its counters up to a second or
so after its commit) moves them by the next run, which then runs the digests. A committed business change is
therefore found by the run that follows it, or the one after.
"""

from .. import pg

OLDEST = 150000  # shared-memory statistics: counters are not lost in transit, and a crash discards them visibly

_EPOCH_SQL = """
SELECT current_setting('server_version_num')::int, pg_is_in_recovery(), current_setting('track_counts'),
       pg_postmaster_start_time()::text,
       (SELECT stats_reset::text FROM pg_catalog.pg_stat_database WHERE datname = current_database()),
       (SELECT stats_reset::text FROM pg_catalog.pg_stat_archiver)
"""
_TABLES_SQL = """
SELECT w.name, c.oid::bigint, c.relkind::text, pg_relation_filenode(c.oid)::bigint, c.xmin::text,
       (SELECT string_agg(a.xmin::text, ',' ORDER BY a.attnum) FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid),
       pg_stat_get_tuples_inserted(c.oid), pg_stat_get_tuples_updated(c.oid), pg_stat_get_tuples_deleted(c.oid)
  FROM unnest(%s::text[]) AS w(name)
  LEFT JOIN pg_catalog.pg_class c ON c.oid = to_regclass(quote_ident(w.name))
"""
# the positions of a table's evidence list, as recorded in state.json
_OID, _KIND, _NODE, _CLASS, _COLUMNS = range(5)


def read(database, tables):
    """{"epoch": {...}, "tables": {table: [oid, relkind, filenode, class xmin, column xmins, inserted, updated,
    deleted]}} of these tables, now (one short connection; nothing but catalog and statistics reads)."""
    conn = pg.connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute(_EPOCH_SQL)
            version, recovery, track, started, db_reset, shared_reset = cur.fetchone()
            cur.execute(_TABLES_SQL, [sorted(set(tables))])
            rows = {name: list(rest) for name, *rest in cur.fetchall()}
    finally:
        conn.close()
    epoch = {
        "version": version,
        "recovery": recovery,
        "track_counts": track,
        "started": started,
        "reset": db_reset,
        "shared_reset": shared_reset,
    }
    return {"epoch": epoch, "tables": rows}


def uncertain(recorded, now, skipped, every):
    """Why the statistics cannot prove the business tables unchanged since `recorded` (a read() taken before the
    snapshot whose digests state.json holds), or None when they prove it. skipped: the runs statistics decided since
    those digests; every: CHECKNINER_FULL_DIGEST_EVERY."""
    epoch = now["epoch"]
    if every <= 0:
        return "CHECKNINER_FULL_DIGEST_EVERY is 0: the digests decide every run"
    if epoch["version"] < OLDEST:
        return "PostgreSQL before 15 can lose statistics"
    if epoch["recovery"]:
        return "a standby does not count replayed writes"
    if epoch["track_counts"] != "on":
        return "track_counts is off"
    if not recorded or not isinstance(recorded.get("epoch"), dict) or not isinstance(recorded.get("tables"), dict):
        return "no statistics recorded with the digests"
    was = recorded["epoch"]
    if was.get("started") != epoch["started"]:
        return "the server restarted"
    if was.get("shared_reset") != epoch["shared_reset"]:
        return "the statistics were discarded (a crash) or reset"
    if was.get("reset") != epoch["reset"]:
        return "the statistics were reset"
    if sorted(recorded["tables"]) != sorted(now["tables"]):
        return "the business tables are not those recorded"
    for table, evidence in sorted(now["tables"].items()):
        why = _table(table, recorded["tables"][table], evidence)
        if why:
            return why
    if skipped >= every:
        return f"the digests run at least every {every} runs"
    return None


def _table(table, was, now):
    if now[_OID] is None:
        return f"{table} does not exist"
    if now[_KIND] != "r":
        return f"{table} is not a plain table (no write counters of its own)"
    if not isinstance(was, list) or len(was) != len(now) or was[_OID] != now[_OID]:
        return f"{table} was created again"
    if was[_NODE] != now[_NODE]:
        return f"{table} was rewritten (TRUNCATE, VACUUM FULL, CLUSTER, ALTER TABLE)"
    if was[_CLASS] != now[_CLASS] or was[_COLUMNS] != now[_COLUMNS]:
        return f"{table}'s definition changed"
    if was[_COLUMNS + 1 :] != now[_COLUMNS + 1 :]:
        return f"rows of {table} were written"
    return None
