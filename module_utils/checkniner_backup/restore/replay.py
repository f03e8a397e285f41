"""Replay: the archive's SQL streamed into psql in one explicit transaction, the row-count checks and the business
tables' digests in that same transaction, then COMMIT; and the COPY row counter that feeds those checks."""

import json
import os
import re
import subprocess

from .. import archive as archive_mod
from .. import pg
from ..errors import BackupError
from ..pg_admin import literal, quote_ident, split_key, table_key

_IDENT = r'(?:"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*)'
_COPY_RE = re.compile(rf"^COPY ({_IDENT})\.({_IDENT}) ".encode())


def _unquote(ident):
    ident = ident.decode()
    return ident[1:-1].replace('""', '"') if ident.startswith('"') else ident.lower()


class CopyCounter:
    """Counts the rows of every COPY block of a pg_dump plain SQL stream, fed in blocks of any size.

    Inside a COPY block only the terminator line `\\.` is looked for (a data line never is exactly that: COPY escapes
    backslashes), and the rows are counted with bytes.count: no Python loop over lines.
    """

    def __init__(self):
        self.counts = {}
        self._current = None
        self._tail = []  # the pieces of a line not ended yet: a long row (a large bytea) spans many blocks

    def feed(self, block):
        cut = block.rfind(b"\n") + 1
        if not cut:
            if block:
                self._tail.append(block)  # joined once, when the line ends: no copy per block
            return
        start = 0
        if self._tail:  # the line begun in the blocks before: complete it, scan it alone (no copy of the block)
            start = block.index(b"\n") + 1
            line = b"".join([*self._tail, block[:start]])
            self._scan(line, 0, len(line))
        self._scan(block, start, cut)
        self._tail = [block[cut:]] if cut < len(block) else []

    def _scan(self, data, pos, cut):
        """Scan data[pos:cut], whole lines, without copying it."""
        while pos < cut:
            if self._current is not None:
                if data.startswith(b"\\.\n", pos):
                    self._current, pos = None, pos + 3
                    continue
                end = data.find(b"\n\\.\n", pos, cut)
                stop = cut if end < 0 else end + 1
                self.counts[self._current] += data.count(b"\n", pos, stop)
                pos = stop
                continue
            if data.startswith(b"COPY ", pos):
                eol = data.index(b"\n", pos)
                line = data[pos:eol]
                match = _COPY_RE.match(line)
                if match and line.rstrip().endswith(b"FROM stdin;"):
                    self._current = table_key(_unquote(match.group(1)), _unquote(match.group(2)))
                    self.counts[self._current] = 0
                pos = eol + 1
                continue
            found = data.find(b"\nCOPY ", pos, cut)
            pos = cut if found < 0 else found + 1

    def close(self):
        tail = b"".join(self._tail)
        if tail and self._current is not None and tail.rstrip() != b"\\.":
            self.counts[self._current] += 1
        self._tail = []
        return self.counts


def _upto(fetched):
    """Stop reading the archive after its SQL when the archive as a whole matched its recorded checksum."""
    return {fetched.sql_name} if fetched.sealed else None


def sql_counts(fetched):
    """{table: rows} of every COPY block of the archive's SQL member, read from the archive (members checked as in
    replay_sql, none written)."""
    counter = CopyCounter()
    archive_mod.extract_verified(fetched.path, None, {fetched.sql_name: counter.feed}, upto=_upto(fetched),
                                 manifest_sha256=fetched.manifest_sha256)  # fmt: skip
    return counter.close()


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


def replay_sql(config, target, fetched, workdir):
    """Stream the archive's SQL into psql in one explicit transaction; then the row-count checks; then COMMIT.

    psql stops at the first error (ON_ERROR_STOP). The archive is read once: while psql replays the SQL member, this
    process decompresses and checks it (and, for an archive without a recorded checksum, every other member) against
    the manifest, on the other core. COMMIT is sent only after those checks and once every table holds the archive's
    row count: a damaged archive, an error, a signal or a killed process (psql sees the end of its input without
    COMMIT) all roll the transaction back.
    Returns ({table: rows} of the SQL, psql's warnings, {table: digest} of the business tables taken before COMMIT).
    """
    psql = pg.find_program("psql", config.env)
    env = dict(config.env)
    env.update(target.libpq_env())
    err_path = os.path.join(workdir, "psql.stderr")
    argv = [psql, "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "-f", "-"]
    counter = CopyCounter()
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err, env=env, bufsize=0)

        def send(data):
            try:
                proc.stdin.write(data)
            except BrokenPipeError:
                raise _PsqlStopped() from None

        def sink(block):
            counter.feed(block)
            send(block)

        try:
            try:
                send(b"BEGIN;\n")
                archive_mod.extract_verified(fetched.path, None, {fetched.sql_name: sink}, upto=_upto(fetched),
                                             manifest_sha256=fetched.manifest_sha256)  # fmt: skip
                counts = counter.close()
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
        # psql numbers the lines of its input: ours starts with BEGIN, the SQL member on line 2
        first = re.sub(r"^psql:<stdin>:(\d+): ", lambda m: f"{fetched.sql_name} line {int(m[1]) - 1}: ", first)
        raise BackupError(f"SQL restore failed and was rolled back, {target.describe()} is unchanged: {first}")
    digests = restore_digests(lines, fetched.manifest.digest_methods())
    return counts, [line for line in lines if "WARNING" in line], digests
