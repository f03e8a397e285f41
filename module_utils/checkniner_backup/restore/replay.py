"""Replay: the SQL member authenticated, then sent to the server in one explicit transaction, split by
SqlStream (data, never code; its COPY row counts feed the checks), the row-count checks and the business tables'
digests in that same transaction, then COMMIT."""

import json
import re

from .. import archive as archive_mod
from .. import pg
from ..errors import BackupError, IntegrityError
from ..pg_admin import describe_sessions, literal, lock_statement, other_sessions, quote_ident, split_key
from .request import CLI
from .send import Notices, check_session, stream_into
from .spool import sql_events
from .sqlstream import SqlStream


def sql_counts(fetched):
    """{table: rows} of every COPY block of the archive's SQL member, read from the archive (members checked as in
    replay_sql, none written)."""
    stream = SqlStream(fetched.sql_name)  # a crafted archive is refused here too (check mode, "already matches")
    archive_mod.extract_verified(fetched.path, None, {fetched.sql_name: stream.feed},
                                 manifest_sha256=fetched.manifest_sha256)  # fmt: skip
    stream.close()
    return stream.counts


DIGEST_NOTICE = "cnb-digest"


def checks_sql(counts, methods=None):
    """Runs after the replay, inside its transaction: any table without the archive's row count rolls it all back.

    methods: {table: digest method} of the manifest's business table digests. Those tables are digested, by their
    recorded method, in the same scan that counts them, before COMMIT (one scan, and no hint bits to write after it):
    each digest is reported as a NOTICE `cnb-digest {json}` for the proof (restore_digests)."""
    methods = {t: m or "md5" for t, m in (methods or {}).items()}
    lines = []
    if methods:  # as a new connection would resolve and render them (pg_dump emptied search_path, quietened notices)
        lines += ["RESET search_path;", pg.CANONICAL + ";", "SET client_min_messages = notice;"]
    lines += ["DO $cnb$", "DECLARE n bigint; s text;", "BEGIN"]
    for table, method in sorted(methods.items()):
        name = literal(quote_ident(table))
        query = pg.digest_query(method, table).replace("{table}", "%s")
        doc = f"json_build_object('table', {literal(table)}, 'rows', n, 'sum', s)"
        notice = f"RAISE NOTICE '{DIGEST_NOTICE} %', {doc};"
        check = missing = ""
        if table in counts:
            check = (
                f"\n    IF n <> {int(counts[table])} THEN RAISE EXCEPTION 'checkniner-backup: table % has % rows after "
                f"the replay, the archive has {int(counts[table])}', {literal(table)}, n; END IF;"
            )
            missing = f" RAISE EXCEPTION 'checkniner-backup: table % is missing after the replay', {literal(table)};"
        lines.append(
            f"  IF to_regclass({name}) IS NULL THEN n := NULL; s := NULL;{missing}\n"
            f"  ELSE\n    EXECUTE format($q${query}$q$, to_regclass({name})) INTO n, s;{check}\n  END IF;\n  {notice}"
        )
    for key, rows in sorted(counts.items()):
        if key in methods:
            continue
        schema, table = split_key(key)
        count = f"SELECT count(*) INTO n FROM {quote_ident(schema)}.{quote_ident(table)};"  # noqa: S608
        lines.append(
            f"  {count}\n  IF n <> {int(rows)} THEN RAISE EXCEPTION 'checkniner-backup: table % has % rows after the "
            f"replay, the archive has {int(rows)}', {literal(key)}, n; END IF;"
        )
    lines += ["END", "$cnb$;", ""]
    return "\n".join(lines)


def restore_digests(stderr_lines, methods):
    """{table: digest} from the NOTICEs of checks_sql, shaped like prove.digests_of(); None when one is missing.
    methods: the manifest's digest_methods()."""
    found = {}
    for line in stderr_lines:
        match = re.search(rf"NOTICE:\s+{DIGEST_NOTICE} (\{{.*\}})\s*$", line)
        if match:
            doc = json.loads(match.group(1))
            found[doc["table"]] = {"rows": doc["rows"], "sum": doc["sum"]}
    digests = {}
    for table, method in methods.items():
        if table not in found:
            return None
        digests[table] = dict(found[table])
        if found[table]["rows"] is not None and method is not None:
            digests[table]["method"] = method
    return digests


def replay_sql(config, target, fetched, workdir, lock_timeout=None, spelling=CLI):
    """Authenticate the SQL member; then send it to the server in one explicit transaction; then the row-count
    checks; then COMMIT.

    Through libpq, one statement per protocol message (send.py), not psql: nothing is left between the archive's
    bytes and the server that interprets them, where keeping psql needs a lexer that agrees with psql's
    (backslashes, `:var`, its encodings) as well as with the server's, and a psql with \\restrict. The archive is
    decompressed once (spool.py: the SQL member kept in workdir once it matched, every other member checked beside
    the replay), twice where the disk has no room for it; what that costs against `psql -1 -f` of the extracted SQL
    is in benchmarks/ANALYSIS.md. The first error stops the replay. COMMIT is sent only after every member has
    matched, once every table holds the archive's row count, and only when the transaction is still the one opened
    here (txid_current() unchanged: a COMMIT and BEGIN smuggled past every other check still fails the restore); a
    damaged archive, an error, a signal or a killed process all roll it back.
    lock_timeout: seconds to wait for the target's tables (other sessions hold them): every table is locked first,
    and a timeout fails the restore naming the sessions, before anything was changed.
    Returns ({table: rows} of the SQL, the server's warnings, {table: digest} of the business tables taken before
    COMMIT).
    """
    psycopg2 = pg.psycopg2_module()
    stream = SqlStream(fetched.sql_name)
    notices = Notices(fetched.sql_name, DIGEST_NOTICE)
    lock = lock_statement(target) if lock_timeout else ""
    # first, the SQL member's sha256 against the signed manifest: none of it reaches the server before it matched
    with sql_events(fetched, stream, workdir) as reader:
        conn = pg.connect(target)
        line = 0
        try:
            conn.notices = notices
            with conn.cursor() as cur:
                check_session(conn, target)
                cur.execute("BEGIN")
                cur.execute("SELECT txid_current()")
                xid = cur.fetchone()[0]
                if lock:
                    cur.execute(f"SET lock_timeout = '{int(lock_timeout * 1000)}ms'")
                    cur.execute(lock)
                    cur.execute("SET lock_timeout = 0")
                stream_into(cur, reader, notices)
                line = notices.line = stream.lines
                cur.execute(checks_sql(stream.counts, fetched.manifest.digest_methods()))
                reader.wait_done()  # every member matched the manifest: only then may it commit
                cur.execute("SELECT txid_current()")
                if cur.fetchone()[0] != xid:
                    raise IntegrityError(
                        f"{fetched.sql_name} ended the restore's transaction and began another: archives are data, "
                        "never code; refused, nothing of it was committed"
                    )
                cur.execute("COMMIT")
        except psycopg2.Error as exc:
            line = notices.line or line
            first = next((t for t in str(exc.pgerror or exc).splitlines() if t.strip()), exc.__class__.__name__)
            if lock and "lock timeout" in first:
                held_by = describe_sessions(other_sessions(target)) or "a session that has ended since"
                raise BackupError(
                    f"{target.describe()} is in use: its tables stayed locked for {lock_timeout:g}s by {held_by}; "
                    f"nothing was changed. Stop the application, or end those sessions with {spelling.terminate}"
                ) from None
            first = pg.masked(f"{fetched.sql_name} line {line}: {first}", target.password)
            raise BackupError(
                f"SQL restore failed and was rolled back, {target.describe()} is unchanged: {first}"
            ) from None
        finally:
            conn.close()  # without COMMIT: the server rolls the open transaction back
    digests = restore_digests(notices.digests, fetched.manifest.digest_methods())
    return stream.counts, notices.warnings, digests
