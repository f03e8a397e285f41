"""Replay: the archive's SQL streamed into psql in one explicit transaction, through SqlStream (data, never code;
its COPY row counts feed the checks), the row-count checks and the business tables' digests in that same
transaction, then COMMIT."""

import json
import os
import re
import secrets
import subprocess

from .. import archive as archive_mod
from .. import child_env, pg
from ..errors import BackupError
from ..pg_admin import describe_sessions, literal, lock_statement, other_sessions, quote_ident, split_key
from .request import CLI
from .sqlstream import SqlStream


def _upto(fetched):
    """Stop reading the archive after its SQL when the archive as a whole matched its recorded checksum."""
    return {fetched.sql_name} if fetched.sealed else None


def sql_counts(fetched):
    """{table: rows} of every COPY block of the archive's SQL member, read from the archive (members checked as in
    replay_sql, none written)."""
    stream = SqlStream(fetched.sql_name)  # a crafted archive is refused here too (check mode, "already matches")
    archive_mod.extract_verified(fetched.path, None, {fetched.sql_name: stream.feed}, upto=_upto(fetched),
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


class _PsqlStopped(Exception):
    """psql exited while the SQL was still streaming (an error in the SQL: its message is in psql's stderr)."""


def replay_sql(config, target, fetched, workdir, lock_timeout=None, spelling=CLI):
    """Stream the archive's SQL into psql in one explicit transaction; then the row-count checks; then COMMIT.

    psql stops at the first error (ON_ERROR_STOP). The archive is read once: while psql replays the SQL member, this
    process decompresses and checks it (and, for an archive without a recorded checksum, every other member) against
    the manifest, on the other core. COMMIT is sent only after those checks and once every table holds the archive's
    row count: a damaged archive, an error, a signal or a killed process (psql sees the end of its input without
    COMMIT) all roll the transaction back.
    lock_timeout: seconds to wait for the target's tables (other sessions hold them): every table is locked first,
    and a timeout fails the restore naming the sessions, before anything was changed.
    Returns ({table: rows} of the SQL, psql's warnings, {table: digest} of the business tables taken before COMMIT).
    """
    env = child_env.libpq(config, target)
    psql = pg.find_program("psql", env)
    err_path = os.path.join(workdir, "psql.stderr")
    argv = [psql, "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "-f", "-"]
    stream = SqlStream(fetched.sql_name)
    # Ours first: where psql has \restrict, a key the archive cannot know makes psql itself refuse any meta-command
    # that SqlStream's lexer might have missed (defence in depth); then the restore's one transaction.
    prologue = (f"\\restrict {secrets.token_hex(32)}\n" if pg.psql_restricts(psql, env) else "") + "BEGIN;\n"
    lock = lock_statement(target) if lock_timeout else ""
    if lock:
        prologue += f"SET lock_timeout = '{int(lock_timeout * 1000)}ms';\n{lock}\nSET lock_timeout = 0;\n"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err, env=env, bufsize=0)

        def send(data):
            try:
                proc.stdin.write(data)
            except BrokenPipeError:
                raise _PsqlStopped() from None

        def sink(block):
            send(stream.feed(block))

        try:
            try:
                send(prologue.encode())
                archive_mod.extract_verified(fetched.path, None, {fetched.sql_name: sink}, upto=_upto(fetched),
                                             manifest_sha256=fetched.manifest_sha256)  # fmt: skip
                send(stream.close())
                counts = stream.counts
                checks = checks_sql(counts, fetched.manifest.digest_methods())
                send(("\n" + checks + "COMMIT;\n").encode())
                proc.stdin.close()
            except _PsqlStopped:
                counts = None
            code = proc.wait()
        except BaseException:
            proc.terminate()  # without COMMIT: the server rolls the open transaction back
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise
    with open(err_path, encoding="utf-8", errors="replace") as handle:
        lines = [line.rstrip() for line in handle if line.strip()]
    if code != 0 or counts is None:
        first = next((line for line in lines if "ERROR:" in line or "FATAL:" in line), None)
        first = first or (lines[0] if lines else f"psql exit status {code}")
        # psql numbers the lines of its input: the prologue's come first (SqlStream keeps the member's numbering)
        skip = prologue.count("\n")
        first = re.sub(r"^psql:<stdin>:(\d+): ", lambda m: f"{fetched.sql_name} line {int(m[1]) - skip}: ", first)
        if lock and "lock timeout" in first:
            held_by = describe_sessions(other_sessions(target)) or "a session that has ended since"
            raise BackupError(
                f"{target.describe()} is in use: its tables stayed locked for {lock_timeout:g}s by {held_by}; "
                f"nothing was changed. Stop the application, or end those sessions with {spelling.terminate}"
            )
        first = pg.masked(first, target.password)
        raise BackupError(f"SQL restore failed and was rolled back, {target.describe()} is unchanged: {first}")
    digests = restore_digests(lines, fetched.manifest.digest_methods())
    return counts, [line for line in lines if "WARNING" in line], digests
