"""Restore, proven: fetch and verify an archive, replay it (SQL, exact) or load it (fixtures, portable or a subset),
then prove the result by recomputing the business fingerprint from the restored database. And the restore drill.

Order of work, so a bad archive never changes the target:

1. resolve the archive (a path, a name in CHECKNINER_BACKUP_DIR, or S3: `latest` is one request to latest.json);
2. download into a private temp directory, check the archive's sha256 against its record (state.json, the pointer,
   the object metadata);
3. fixtures mode: extract and check every member against manifest.json (archive.extract_verified), then load;
   SQL mode: stream `<db>.sql` from the archive into psql inside an explicit transaction while checking the members
   (replay_sql), and COMMIT only once they matched.

SQL mode replays `<db>.sql` (pg_dump --clean --if-exists --no-owner --no-privileges) with
`psql -v ON_ERROR_STOP=1` between our BEGIN and COMMIT, followed in the same transaction by a check that every table
holds the archive's row count: the database ends exactly as captured, or the transaction rolls back and it is
untouched.
Tables that exist in the target but not in the archive (e.g. created by a newer migration) are not dropped: the
archive does not describe them, so a restore never destroys what it cannot put back. They are reported
(`extra_tables`, and a warning); exactness is defined over every table the archive holds.

Fixtures mode loads `<app>.json` with the application's own Django (django_helper.py `load`): one transaction, and
the proof (business apps dumped again, compared with the manifest) runs inside it, so a load into a database that
already holds other rows rolls back instead of leaving a mix.

Restoring over the configured live database needs yes=True and first saves `<stamp>-pre-restore.tar.gz` in the
backup directory (never taken as `latest`). Restoring into a database that already matches changes nothing.
"""

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

from . import archive as archive_mod
from . import crypto, pg, runner
from .config import Database, parse_apps
from .errors import BackupError, ConfigError, IntegrityError, StoreError
from .fingerprint import business_fingerprint, file_sha256, sql_fingerprint
from .fsutil import Busy, exclusive_lock
from .snapshot import HelperProcess, take
from .stores import S3Store

MODES = ("sql", "fixtures")
TARGET_ENV = "CHECKNINER_RESTORE_TARGET_DATABASE_URL"
SCRATCH_PREFIX = "cnb_verify_"
SCRATCH_STAMP = "%Y%m%d%H%M%S"
SCRATCH_MAX_AGE = dt.timedelta(hours=1)
FIRST_APPS = ("contenttypes", "auth")  # fixtures load order: what other apps' natural keys point at comes first
LOCK_WAIT = 120.0
_IDENT = r'(?:"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*)'
_COPY_RE = re.compile(rf"^COPY ({_IDENT})\.({_IDENT}) ".encode())
_LOCAL_HOSTS = {None, "", "localhost", "127.0.0.1", "::1"}


class Interrupted(BackupError):
    """A signal stopped the restore or the drill (the work was cleaned up)."""


# -- the archive ----------------------------------------------------------------------------------------------


@dataclass
class Fetched:
    name: str
    source: str  # "path" | "local" | the S3 destination's name
    path: str  # the (decrypted) archive file
    members: Optional[str]  # directory holding the verified members; None: not extracted (SQL mode streams them)
    manifest: dict
    sha256: str
    # the archive's sha256 matched the one recorded when it was saved (state, latest.json, object metadata): members
    # the restore does not use need not be read, the archive's checksum covers them
    sealed: bool = False

    @property
    def sql_name(self):
        return f"{self.manifest['database']}.sql"

    def fixture(self, label):
        return os.path.join(self.members, f"{label}.json")


def _local_dir(config):
    return runner.BackupDir(config.backup_dir, create=False) if config.backup_dir else None


def _local_latest(bdir):
    """The newest regular archive in the backup directory (latest.tar.gz's target, else by name), or None."""
    if bdir is None:
        return None
    link = bdir.join(archive_mod.LATEST)
    if os.path.islink(link) and os.path.isfile(link):
        name = os.path.basename(os.path.realpath(link))
        if archive_mod.is_archive_name(name) and not archive_mod.is_safety_archive(name):
            return name
    regular = [n for n in bdir.archive_names() if not archive_mod.is_safety_archive(n)]
    return regular[-1] if regular else None


def _remote_latest(store):
    """(name, sha256 or None) of the newest archive in S3: the pointer (one request), else a paginated listing."""
    pointer = store.read_pointer()
    if pointer:
        return pointer["name"], pointer.get("sha256")
    newest = None
    for obj in store.iter_archives():
        if not archive_mod.is_safety_archive(obj["name"]):
            newest = obj["name"]
    return newest, None


def _describe_remote(config):
    return ", ".join(d.describe() for d in config.destinations) or "no S3 destination configured"


def _download(store, name, expected_sha, workdir):
    head = store.head(name)
    if head is None:
        raise StoreError(f"{name} is named by {store.dest.describe()} but is not there: run `checkniner-backup run`")
    recorded = expected_sha or head["metadata"].get("sha256")
    path = os.path.join(workdir, name)
    store.download(name, path)
    sha = file_sha256(path)
    if recorded and sha != recorded:
        raise IntegrityError(
            f"{name} from {store.dest.describe()} does not match its recorded sha256 (damaged or tampered upload)"
        )
    if expected_sha and head["metadata"].get("sha256") not in (None, expected_sha):
        raise IntegrityError(f"{name}: latest.json and the object's metadata disagree on its sha256")
    return path, recorded


def _decrypt(config, path, workdir):
    return crypto.decrypt(path, os.path.join(workdir, os.path.basename(path)[: -len(crypto.SUFFIX)]), config.env)


def fetch(config, ref, workdir, extract=True):
    """Resolve `ref` (latest | NAME | PATH), download and check it, extract and check every member. Returns Fetched.

    extract False: only the manifest is read; the members are checked as they stream (replay_sql, sql_counts).
    Nothing here touches any database.
    """
    ref = (ref or "latest").strip()
    bdir = _local_dir(config)
    state = bdir.state() if bdir else {}
    recorded = None
    if ref != "latest" and (os.sep in ref or not archive_mod.is_archive_name(ref)):
        if not os.path.isfile(ref):
            raise ConfigError(
                f"no archive {ref!r}: give latest, an archive name (YYYY-MM-DDTHHMMSSZ.tar.gz) or a path to one"
            )
        name, source, path = os.path.basename(ref), "path", os.path.abspath(ref)
    else:
        name, source, path, sha = None, None, None, None
        if ref == "latest":
            local = _local_latest(bdir)
            remote, remote_error = None, None
            for dest in config.destinations:
                try:
                    remote_name, remote_sha = _remote_latest(S3Store(dest))
                except StoreError as exc:
                    remote_error = exc
                    continue
                if remote_name and (remote is None or remote_name > remote[0]):
                    remote = (remote_name, remote_sha, dest)
            if remote_error is not None and local is None and remote is None:
                raise remote_error
            if local and (remote is None or local >= remote[0]):
                name, source, path = local, "local", bdir.join(local)
            elif remote:
                name, sha, dest = remote
                source = dest.name
                path, recorded = _download(S3Store(dest), name, sha, workdir)
            else:
                where = bdir.path if bdir else "no CHECKNINER_BACKUP_DIR"
                raise BackupError(f"no archive to restore: none in {where}, none in {_describe_remote(config)}")
        elif bdir and os.path.isfile(bdir.join(ref)):
            name, source, path = ref, "local", bdir.join(ref)
        else:
            for dest in config.destinations:
                store = S3Store(dest)
                if store.head(ref) is not None:
                    name, source = ref, dest.name
                    path, recorded = _download(store, ref, None, workdir)
                    break
            if path is None:
                where = bdir.path if bdir else "no CHECKNINER_BACKUP_DIR"
                raise ConfigError(
                    f"no archive named {ref} in {where} or {_describe_remote(config)}: "
                    "`checkniner-backup list [--remote]` shows the names"
                )
        if source == "local":
            recorded = ((state.get("archives") or {}).get(name) or {}).get("sha256")
    sha = file_sha256(path)
    if recorded and sha != recorded:
        raise IntegrityError(f"{name} does not match the sha256 recorded when it was saved (damaged or tampered)")
    if name.endswith(".gpg"):
        path = _decrypt(config, path, workdir)
    members = None
    if extract:
        members = os.path.join(workdir, "members")
        os.makedirs(members, mode=0o700, exist_ok=True)
        manifest = archive_mod.extract_verified(path, members)
    else:
        manifest = archive_mod.read_manifest(path)
    if manifest.get("format") != "checkniner-backup" or not manifest.get("database"):
        raise IntegrityError(f"{name} has no checkniner-backup manifest (format, database): not one of our archives")
    if f"{manifest['database']}.sql" not in manifest.get("members", {}):
        raise IntegrityError(f"{name} holds no {manifest['database']}.sql: not a complete archive")
    return Fetched(name, source, path, members, manifest, sha, sealed=bool(recorded))


# -- the target database --------------------------------------------------------------------------------------


def resolve_target(config, target_url=None):
    """(Database, is_live): the explicit target (argument, else CHECKNINER_RESTORE_TARGET_DATABASE_URL), else the
    configured DATABASE_URL. is_live when it names the configured database (same name, port and host)."""
    url = target_url or config.env.get(TARGET_ENV)
    if url:
        target = Database.from_url(url, what="--target-database-url" if target_url else TARGET_ENV)
    elif config.database is not None:
        target = config.database
    else:
        raise ConfigError(f"no target database: set DATABASE_URL or {TARGET_ENV} (or pass --target-database-url)")
    return target, config.database is not None and same_database(target, config.database)


def same_database(a, b):
    """Conservatively: every loopback or socket spelling counts as the same server (better one --yes too many)."""

    def host(h):
        return None if (h in _LOCAL_HOSTS or (h or "").startswith("/")) else h.lower()

    return a.name == b.name and (a.port or 5432) == (b.port or 5432) and host(a.host) == host(b.host)


def argv_password_warning(url):
    """One line when a URL given on the command line carries a password (ps shows argv to every user)."""
    try:
        has_password = bool(url) and Database.from_url(url, what="--target-database-url").password
    except ConfigError:
        return None
    if has_password:
        return (
            "warning: --target-database-url carries a password, visible to other users in the process list: "
            f"use {TARGET_ENV} or ~/.pgpass instead"
        )
    return None


def _connect_maintenance(target):
    last = None
    for name in ("postgres", "template1"):
        try:
            return pg.connect(target.with_name(name))
        except ConfigError as exc:
            if "does not exist" not in str(exc):
                raise
            last = exc
    raise last


def _quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


def _literal(text):
    return "'" + text.replace("'", "''") + "'"


def database_exists(target):
    try:
        conn = pg.connect(target)
    except ConfigError as exc:
        if "does not exist" in str(exc):
            return False
        raise
    conn.close()
    return True


def create_database(target, purpose="the restore"):
    psycopg2 = pg._psycopg2()
    conn = _connect_maintenance(target)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {_quote_ident(target.name)}")
    except psycopg2.errors.InsufficientPrivilege:
        who = target.user or "this role"
        raise ConfigError(
            f"cannot create database {target.name!r} for {purpose}: role {who} lacks the CREATEDB privilege "
            f"(ALTER ROLE {who} CREATEDB)"
        ) from None
    except psycopg2.Error as exc:
        raise BackupError(f"cannot create database {target.name!r}: {' '.join(str(exc).split())}") from None
    finally:
        conn.close()


def drop_database(target):
    conn = _connect_maintenance(target)
    try:
        with conn.cursor() as cur:
            if pg.server_info(conn)["server_version_num"] >= 130000:
                cur.execute(f"DROP DATABASE IF EXISTS {_quote_ident(target.name)} WITH (FORCE)")
            else:
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [target.name])
                cur.execute(f"DROP DATABASE IF EXISTS {_quote_ident(target.name)}")
    finally:
        conn.close()


def _user_tables(conn):
    with conn.cursor() as cur:
        cur.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND n.nspname NOT LIKE 'pg\\_%'"
        )
        return {table_key(s, t) for s, t in cur.fetchall()}


def table_key(schema, table):
    return table if schema == "public" else f"{schema}.{table}"


def _split_key(key):
    schema, _, table = key.rpartition(".")
    return schema or "public", table


def row_counts(target, tables, known=None):
    """{table: rows, or None when the table is missing} for the given table keys, and the target's other tables.

    known: {table key: rows} already counted (by the digests' scan): not counted a second time."""
    known = known or {}
    conn = pg.connect(target)
    try:
        present = _user_tables(conn)
        counts = {}
        with conn.cursor() as cur:
            for key in sorted(tables):
                if key not in present:
                    counts[key] = None
                    continue
                if key in known:
                    counts[key] = known[key]
                    continue
                schema, table = _split_key(key)
                cur.execute(f"SELECT count(*) FROM {_quote_ident(schema)}.{_quote_ident(table)}")  # noqa: S608
                counts[key] = cur.fetchone()[0]
        return counts, sorted(present - set(tables))
    finally:
        conn.close()


def _is_migrated(target):
    conn = pg.connect(target)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('public.django_migrations') IS NOT NULL")
            migrated = cur.fetchone()[0]
        return migrated, bool(_user_tables(conn))
    finally:
        conn.close()


# -- the SQL --------------------------------------------------------------------------------------------------


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
    archive_mod.extract_verified(fetched.path, None, {fetched.sql_name: counter.feed}, upto=_upto(fetched))
    return counter.close()


DIGEST_NOTICE = "cnb-digest"


def _recorded_methods(recorded):
    """{table: digest method} of the manifest's business table digests; None: recorded before digests named their
    method (md5), compared without one."""
    return {t: d.get("method") for tables in recorded.values() for t, d in tables.items()}


def _checks_sql(counts, recorded=None):
    """Runs after the replay, inside its transaction: any table without the archive's row count rolls it all back.

    recorded: the manifest's business table digests ({app: {table: digest}}). Those tables are digested, by their
    recorded method, in the same scan that counts them, before COMMIT (one scan, and no hint bits to write after it):
    each digest is reported as a NOTICE `cnb-digest {json}` for the proof (restore_digests)."""
    methods = {t: m or "md5" for t, m in _recorded_methods(recorded or {}).items()}
    lines = []
    if methods:  # as a new connection would resolve and render them (pg_dump emptied search_path, quietened notices)
        lines += ["RESET search_path;", pg.CANONICAL + ";", "SET client_min_messages = notice;"]
    lines += ["DO $cnb$", "DECLARE n bigint; s text;", "BEGIN"]
    for table, method in sorted(methods.items()):
        name = _literal(_quote_ident(table))
        query = pg.digest_query(method, table).replace("{table}", "%s")
        doc = f"json_build_object('table', {_literal(table)}, 'rows', n, 'sum', s)"
        notice = f"RAISE NOTICE '{DIGEST_NOTICE} %', {doc};"
        check = missing = ""
        if table in counts:
            check = (
                f"\n    IF n <> {int(counts[table])} THEN RAISE EXCEPTION 'checkniner-backup: table % has % rows after "
                f"the replay, the archive has {int(counts[table])}', {_literal(table)}, n; END IF;"
            )
            missing = f" RAISE EXCEPTION 'checkniner-backup: table % is missing after the replay', {_literal(table)};"
        lines.append(
            f"  IF to_regclass({name}) IS NULL THEN n := NULL; s := NULL;{missing}\n"
            f"  ELSE\n    EXECUTE format($q${query}$q$, to_regclass({name})) INTO n, s;{check}\n  END IF;\n  {notice}"
        )
    for key, rows in sorted(counts.items()):
        if key in methods:
            continue
        schema, table = _split_key(key)
        count = f"SELECT count(*) INTO n FROM {_quote_ident(schema)}.{_quote_ident(table)};"  # noqa: S608
        lines.append(
            f"  {count}\n  IF n <> {int(rows)} THEN RAISE EXCEPTION 'checkniner-backup: table % has % rows after the "
            f"replay, the archive has {int(rows)}', {_literal(key)}, n; END IF;"
        )
    lines += ["END", "$cnb$;", ""]
    return "\n".join(lines)


def restore_digests(stderr_lines, recorded):
    """{table: digest} from the NOTICEs of _checks_sql, shaped like _digests_of(); None when one is missing."""
    found = {}
    for line in stderr_lines:
        match = re.search(rf"NOTICE:\s+{DIGEST_NOTICE} (\{{.*\}})\s*$", line)
        if match:
            doc = json.loads(match.group(1))
            found[doc["table"]] = {"rows": doc["rows"], "sum": doc["sum"]}
    digests = {}
    for table, method in _recorded_methods(recorded).items():
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
                archive_mod.extract_verified(fetched.path, None, {fetched.sql_name: sink}, upto=_upto(fetched))
                counts = counter.close()
                checks = _checks_sql(counts, fetched.manifest.get("table_digests"))
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
    digests = restore_digests(lines, fetched.manifest.get("table_digests") or {})
    return counts, [line for line in lines if "WARNING" in line], digests


# -- the proof ------------------------------------------------------------------------------------------------


def business_digests(config, target, apps, workdir):
    """{app: sha256 of its fixture or None}, dumped from `target` by the application's own Django, exactly as the
    snapshot dumps (django_helper `dump` with CHECKNINER_HELPER_ONLY_BUSINESS=1)."""
    outdir = tempfile.mkdtemp(prefix="proof-", dir=workdir)
    digests = {app: None for app in apps}
    helper = HelperProcess(
        config,
        target,
        ["dump", outdir],
        workdir,
        {"CHECKNINER_HELPER_APPS": ",".join(apps), "CHECKNINER_HELPER_ONLY_BUSINESS": "1"},
    )
    try:
        for doc in helper.messages():
            if "app" in doc and doc["app"] in digests:
                digests[doc["app"]] = doc.get("sha256") if doc.get("objects") else None
        helper.finish("the fingerprint of the restored database")
    finally:
        if helper.proc.poll() is None:
            helper.close(kill=True)
        shutil.rmtree(outdir, ignore_errors=True)
    return digests


def expected_digests(manifest, apps=None):
    business = manifest.get("business_apps") or sorted(manifest.get("business_fixtures", {}))
    fixtures = manifest.get("business_fixtures", {})
    return {app: fixtures.get(app) for app in business if apps is None or app in apps}


def compare_apps(expected, actual):
    return {
        app: {"match": actual.get(app) == sha, "expected": sha, "actual": actual.get(app)}
        for app, sha in sorted(expected.items())
    }


def compare_tables(expected, actual):
    return {
        key: {"match": actual.get(key) == rows, "expected": rows, "actual": actual.get(key)}
        for key, rows in sorted(expected.items())
    }


def migrate_check(config, target, workdir):
    """Migrations the application has and `target` misses (manage.py migrate --check, via django_helper)."""
    helper = HelperProcess(config, target, ["migrate-check"], workdir)
    missing = None
    try:
        for doc in helper.messages():
            if doc.get("phase") == "migrate-check":
                missing = doc.get("missing", [])
        code = helper.close()
    finally:
        if helper.proc.poll() is None:
            helper.close(kill=True)
    if missing is None:
        raise BackupError(f"migrate --check failed on {target.describe()}: {helper.stderr_tail() or code}")
    return missing


def _helper_phase(config, target, argv, workdir, extra=None, what="the Django helper"):
    helper = HelperProcess(config, target, argv, workdir, extra)
    last = {}
    try:
        for doc in helper.messages():
            if "phase" in doc:
                last = doc
        code = helper.close()
    finally:
        if helper.proc.poll() is None:
            helper.close(kill=True)
    if not last or (code != 0 and last.get("phase") != "mismatch"):
        raise BackupError(f"{what} failed on {target.describe()}: {helper.stderr_tail() or f'exit status {code}'}")
    return last


# -- safety, signals, work directory --------------------------------------------------------------------------


def save_safety_archive(config):
    """Archive the live database as it is now, `<stamp>-pre-restore.tar.gz`, through the run's own machinery
    (snapshot.take + runner.write_snapshot_archive), under the run lock. Returns the archive's name."""
    bdir = runner.BackupDir(config.require_backup_dir())
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            with exclusive_lock(bdir.join(runner.LOCK)):
                return _write_safety_archive(config, bdir)
        except Busy:
            if time.monotonic() > deadline:
                raise BackupError(
                    f"another checkniner-backup run held the lock for {LOCK_WAIT:.0f}s: "
                    "no safety archive, nothing restored; try again"
                ) from None
            time.sleep(1)


def _write_safety_archive(config, bdir):
    conn = pg.connect(config.database)
    try:
        info = pg.server_info(conn)
    finally:
        conn.close()
    pg_dump_version = pg.check_client(pg.find_program("pg_dump", config.env), info["server_version_num"])
    workdir = bdir.join(f".work-{os.getpid()}-pre-restore")
    os.makedirs(workdir, mode=0o700)
    try:
        with pg.exported_snapshot(config.database) as (snapshot_id, _settled):
            taken_at = runner.utcnow()
            snap = take(config, workdir, lambda _business: True, snapshot_id)
        if not snap.complete or snap.sql is None:
            raise BackupError("the pre-restore safety archive came out incomplete: nothing restored")
        name = archive_mod.name_for(taken_at, bdir.archive_names(), suffix=archive_mod.safety_suffix())
        runner.write_snapshot_archive(config, bdir.join(name), workdir, taken_at, info, pg_dump_version,
                                      snapshot_id, snap)  # fmt: skip
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return name


@contextlib.contextmanager
def _signals_raise():
    """SIGTERM / SIGHUP / SIGINT raise Interrupted, so every finally (drop the scratch database, remove the work
    directory) runs. Only in the main thread; a signal that was ignored stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame):
        raise Interrupted(f"interrupted by {signal.Signals(signum).name}: work cleaned up, nothing left behind")

    saved = {}
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        current = signal.getsignal(sig)
        if current is not signal.SIG_IGN:
            saved[sig] = current
            signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)


@contextlib.contextmanager
def _signals_held():
    """While cleaning up: a second signal must not cut the cleanup short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    for sig in saved:
        signal.signal(sig, signal.SIG_IGN)
    try:
        yield
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)


@contextlib.contextmanager
def _phase(timings, name):
    """Seconds spent in each phase (fetch, precheck, safety, replay/load, proof): where a restore's time goes."""
    started = time.monotonic()
    try:
        yield
    finally:
        timings[name] = round(time.monotonic() - started, 3) + timings.get(name, 0)


@contextlib.contextmanager
def _workdir(base=None):
    path = tempfile.mkdtemp(prefix="cnb-restore-", dir=base)  # mode 0700
    try:
        yield path
    finally:
        with _signals_held():
            shutil.rmtree(path, ignore_errors=True)


# -- restore --------------------------------------------------------------------------------------------------


def _parse_app_arg(apps):
    if apps is None or apps == "" or apps == []:
        return None
    if isinstance(apps, str):
        return parse_apps(apps, what="--apps") or None
    return parse_apps(",".join(apps), what="--apps") or None


def restore(config, archive="latest", mode="sql", apps=None, target_url=None, yes=False, check=False, workdir=None):
    """Restore `archive` (latest | NAME | PATH) into the target and prove it.

    mode "sql" (exact, whole database) or "fixtures" (apps: a subset, default every fixture in the archive).
    target_url: another database (default: CHECKNINER_RESTORE_TARGET_DATABASE_URL, else DATABASE_URL, the live one:
    that needs yes=True and first saves a pre-restore safety archive). check: compute `changed` only, no side effect.

    Returns a dict: ok (the proof holds; False means restored but the business data differs from the archive: treat
    as failure), changed, check_mode, archive, source, mode, target, target_database, live, created_database,
    safety_archive, fingerprint {expected, actual}, apps {app: {match, expected, actual}}, tables {table: {match,
    expected, actual}} (SQL mode), fixtures [{app, objects}] in load order (fixtures mode), extra_tables, warnings,
    message, timings {phase: seconds}, duration.
    Raises ConfigError (bad usage) or BackupError (failed; the target is unchanged) before anything is restored.
    """
    started = time.monotonic()
    if mode not in MODES:
        raise ConfigError(f"unknown restore mode {mode!r}: use sql (exact) or fixtures (portable, or --apps)")
    selected = _parse_app_arg(apps)
    if selected and mode == "sql":
        raise ConfigError("--apps needs --mode fixtures: SQL mode restores the whole database")
    target, live = resolve_target(config, target_url)
    if live and not yes and not check:
        raise ConfigError(
            f"refusing to overwrite the live {target.describe()} without confirmation: pass --yes "
            "(playbook: -e confirm=yes), or restore elsewhere with --target-database-url"
        )
    config.django.require()
    timings = {}
    with _signals_raise(), _workdir(workdir) as work:
        with _phase(timings, "fetch"):
            fetched = fetch(config, archive, work, extract=mode != "sql")
        manifest = fetched.manifest
        if live and manifest["database"] != target.name:
            raise BackupError(
                f"{fetched.name} is a backup of database {manifest['database']!r}, not of the live {target.name!r}: "
                "restore it elsewhere with --target-database-url"
            )
        result = {
            "ok": False,
            "changed": False,
            "check_mode": bool(check),
            "archive": fetched.name,
            "source": fetched.source,
            "mode": mode,
            "target": target.describe(),
            "target_database": target.name,
            "live": live,
            "created_database": False,
            "safety_archive": None,
            "fingerprint": {"expected": manifest.get("fingerprint"), "actual": None},
            "apps": {},
            "tables": {},
            "fixtures": [],
            "extra_tables": [],
            "warnings": [],
            "message": "",
            "timings": timings,
        }
        if mode == "sql":
            _restore_sql(config, fetched, target, live, check, work, result)
        else:
            _restore_fixtures(config, fetched, target, live, selected, check, work, result)
    result["duration"] = round(time.monotonic() - started, 3)
    return result


def _digests_of(target, recorded):
    """{table: digest} of the target's business tables, each by the method of its digest recorded in the manifest."""
    methods = _recorded_methods(recorded)
    conn = pg.connect(target)
    try:
        digests = pg.table_digests(conn, list(methods), methods)
    finally:
        conn.close()
    for table, method in methods.items():
        if method is None:  # recorded before digests named their method (md5): compare like with like
            digests[table].pop("method", None)
    return digests


def _prove_sql(config, fetched, target, counts, work, result, through_django=False, replayed=None):
    """Row counts of every table, then the business data itself.

    replayed: the business tables' digests taken inside the replay's transaction, whose row-count checks passed
    (replay_sql): nothing is scanned again then.

    The business data is proven by the business tables' row digests recorded at the snapshot (exact to the
    microsecond, one scan per table, no Django): the manifest's sql_fingerprint. through_django (the drill, and
    archives without digests) also recomputes the fixtures fingerprint with the application's own Django.
    """
    manifest = fetched.manifest
    recorded = manifest.get("table_digests")
    if replayed is not None:
        digests, known = replayed, counts  # checked before COMMIT, in the transaction that wrote them
    else:
        digests = _digests_of(target, recorded) if recorded else {}
        # the digest scan counted the business tables' rows already
        known = {table_key("public", t): d["rows"] for t, d in digests.items() if d["rows"] is not None}
    actual_counts, extra = row_counts(target, counts, known=known)
    result["tables"] = compare_tables(counts, actual_counts)
    result["extra_tables"] = extra
    ok = all(v["match"] for v in result["tables"].values())
    if recorded:
        actual = {app: {t: digests[t] for t in tables} for app, tables in recorded.items()}
        result["apps"] = {
            app: {
                "match": actual[app] == recorded[app],
                "expected": sql_fingerprint({app: recorded[app]}),
                "actual": sql_fingerprint({app: actual[app]}),
            }
            for app in sorted(recorded)
        }
        result["fingerprint"] = {
            "method": "table digests",
            "expected": manifest.get("sql_fingerprint"),
            "actual": sql_fingerprint(actual),
            "before_commit": replayed is not None,  # taken in the replay's transaction, else scanned after it
        }
        ok = ok and all(v["match"] for v in result["apps"].values())
        if not through_django:
            return ok
    expected = expected_digests(manifest)
    fixtures = business_digests(config, target, list(expected), work)
    django_apps = compare_apps(expected, fixtures)
    if recorded:
        result["django"] = {"apps": django_apps, "fingerprint": business_fingerprint(list(expected), fixtures)}
    else:
        result["apps"] = django_apps
        result["fingerprint"] = {
            "method": "fixtures",
            "expected": manifest.get("fingerprint"),
            "actual": business_fingerprint(list(expected), fixtures),
        }
    return ok and all(v["match"] for v in django_apps.values())


def _matches_already(config, fetched, target, work, result):
    """Cheap first (the business tables' digests, when recorded), then the SQL's row counts, then the whole proof."""
    migrated, _has_tables = _is_migrated(target)
    if not migrated:
        return False
    recorded = fetched.manifest.get("table_digests")
    if recorded and _digests_of(target, recorded) != {t: d for ts in recorded.values() for t, d in ts.items()}:
        return False
    counts = sql_counts(fetched)
    actual_counts, _extra = row_counts(target, counts)
    if actual_counts != counts:
        return False
    try:
        return _prove_sql(config, fetched, target, counts, work, result)
    except BackupError:
        return False


def _restore_sql(config, fetched, target, live, check, work, result):
    timings = result["timings"]
    with _phase(timings, "precheck"):
        exists = database_exists(target)
        unchanged = exists and _matches_already(config, fetched, target, work, result)
    if unchanged:
        result.update(ok=True, changed=False, message=f"{target.describe()} already matches {fetched.name}")
        _warn_extra(result)
        return
    if check:
        sql_counts(fetched)  # every member checked: a damaged archive fails in check mode too
        result.update(ok=True, changed=True, message=f"would restore {fetched.name} into {target.describe()}")
        return
    if live and exists and _is_migrated(target)[0]:
        with _phase(timings, "safety"):
            result["safety_archive"] = save_safety_archive(config)
    if not exists:
        create_database(target)
        result["created_database"] = True
    try:
        with _phase(timings, "replay"):
            counts, warnings, digests = replay_sql(config, target, fetched, work)
            result["warnings"] += warnings
    except BaseException:
        if result["created_database"]:
            with _signals_held():
                drop_database(target)
        raise
    result["changed"] = True
    with _phase(timings, "proof"):
        result["ok"] = _prove_sql(config, fetched, target, counts, work, result, replayed=digests)
    _warn_extra(result)
    result["message"] = _summary(result, fetched, target)


def _warn_extra(result):
    if result["extra_tables"]:
        result["warnings"].append(
            f"tables not in the archive were left as they are: {', '.join(result['extra_tables'])} "
            "(created by a newer migration? drop them, or migrate again with --fake-initial)"
        )


def _fixture_order(labels):
    return [a for a in FIRST_APPS if a in labels] + [a for a in labels if a not in FIRST_APPS]


def _restore_fixtures(config, fetched, target, live, selected, check, work, result):
    manifest = fetched.manifest
    available = list(manifest.get("apps") or [])
    business = set(manifest.get("business_apps") or [])
    labels = selected or available
    unknown = [a for a in labels if a not in available and a not in business]
    if unknown:
        raise ConfigError(
            f"{fetched.name} has no fixture for {', '.join(unknown)} (it has: {', '.join(available) or 'none'})"
        )
    to_load = [a for a in _fixture_order(labels) if a in available]
    result["fixtures"] = [{"app": a, "objects": manifest["members"][f"{a}.json"].get("objects")} for a in to_load]
    expect = expected_digests(manifest, set(labels))
    exists = database_exists(target)
    if exists:
        migrated, has_tables = _is_migrated(target)
        if has_tables:
            missing = migrate_check(config, target, work) if migrated else ["(no django_migrations table)"]
            if missing:
                raise ConfigError(
                    f"{target.describe()} misses migrations ({', '.join(missing[:5])}): run manage.py migrate first "
                    "(fixtures load into a migrated database), or use --mode sql"
                )
    extra = {"CHECKNINER_HELPER_CHECKDIR": tempfile.mkdtemp(prefix="proof-", dir=work)}
    if expect:
        extra["CHECKNINER_HELPER_EXPECT"] = json.dumps(expect)
    fixtures = [fetched.fixture(a) for a in to_load]
    if exists and expect and _is_migrated(target)[0]:
        probe = _helper_phase(config, target, ["load", *fixtures], work, {**extra, "CHECKNINER_HELPER_DRY_RUN": "1"},
                              "the fixtures comparison")  # fmt: skip
        if probe["phase"] == "unchanged":
            result["apps"] = compare_apps(expect, probe.get("apps") or {})
            result["fingerprint"]["actual"] = None
            result.update(ok=True, changed=False, message=f"{target.describe()} already matches {fetched.name}")
            return
    if check:
        result.update(ok=True, changed=True, message=f"would load {', '.join(to_load)} into {target.describe()}")
        return
    if live and exists and _is_migrated(target)[0]:
        with _phase(result["timings"], "safety"):
            result["safety_archive"] = save_safety_archive(config)
    if not exists:
        create_database(target)
        result["created_database"] = True
    try:
        if not _is_migrated(target)[0]:
            _helper_phase(config, target, ["migrate"], work, None, "migrate")
        with _phase(result["timings"], "load and proof"):
            done = _helper_phase(config, target, ["load", *fixtures], work, extra, "loaddata")
    except BaseException:
        if result["created_database"]:
            with _signals_held():
                drop_database(target)
        raise
    actual = done.get("apps") or {}
    if done["phase"] == "mismatch":
        result["apps"] = compare_apps(expect, actual)
        bad = [a for a, v in result["apps"].items() if not v["match"]]
        raise BackupError(
            f"loading {', '.join(to_load)} did not reproduce {', '.join(bad)} exactly (the target already holds other "
            f"rows?): rolled back, {target.describe()} is unchanged; load into an empty migrated database or use "
            "--mode sql"
        )
    result["changed"] = done["phase"] == "loaded"
    result["apps"] = compare_apps(expect, actual) if expect else {}
    result["ok"] = all(v["match"] for v in result["apps"].values())
    if not expect:
        result["warnings"].append("no business app among the loaded fixtures: loaded, but there is nothing to prove")
    result["message"] = _summary(result, fetched, target)


def _summary(result, fetched, target):
    loaded = ", ".join(f["app"] for f in result["fixtures"])
    what = "restored" if result["mode"] == "sql" else f"loaded {loaded} from"
    text = f"{what} {fetched.name} into {target.describe()}"
    if result["created_database"]:
        text += " (created)"
    if result["ok"]:
        proven = ", ".join(result["apps"]) or "no business app"
        text += f"; proven: business data matches the archive ({proven})"
        if result["tables"]:
            text += f", row counts of {len(result['tables'])} tables match"
    else:
        bad = [a for a, v in result["apps"].items() if not v["match"]]
        bad += [t for t, v in result["tables"].items() if not v["match"]]
        text += f"; PROOF FAILED: {', '.join(bad)} differ(s) from the archive"
    if result["safety_archive"]:
        text += f"; the previous state is saved as {result['safety_archive']}"
    return text


# -- the restore drill ----------------------------------------------------------------------------------------


def scratch_name(now=None):
    now = now or runner.utcnow()
    return f"{SCRATCH_PREFIX}{now.strftime(SCRATCH_STAMP)}_{os.getpid()}"


def scratch_age(name, now=None):
    """How old a drill's scratch database is, from its name; None for a name that is not one of ours."""
    match = re.match(rf"^{SCRATCH_PREFIX}(\d{{14}})_\d+$", name)
    if not match:
        return None
    born = dt.datetime.strptime(match.group(1), SCRATCH_STAMP).replace(tzinfo=dt.timezone.utc)
    return (now or runner.utcnow()) - born


def drop_stale_scratch(database, now=None):
    """Drop scratch databases a killed drill left behind (older than SCRATCH_MAX_AGE). Returns their names."""
    conn = _connect_maintenance(database)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", [SCRATCH_PREFIX.replace("_", r"\_") + "%"]
            )
            names = [row[0] for row in cur.fetchall()]
    finally:
        conn.close()
    stale = [n for n in names if (scratch_age(n, now) or dt.timedelta(0)) > SCRATCH_MAX_AGE]
    for name in stale:
        drop_database(database.with_name(name))
    return stale


def verify(config, archive="latest", workdir=None):
    """The restore drill: restore `archive` into a scratch database on the configured server, prove the business
    fingerprint and every table's row count, check the application sees no missing migration, and drop the scratch
    database whatever happens (signals included).

    Returns a dict: ok, archive, source, scratch_database, dropped, fingerprint {expected, actual}, apps {app:
    {match, expected, actual}}, tables {table: {match, expected, actual}}, missing_migrations, stale_dropped,
    warnings, message, timings {phase: seconds}, duration. Raises ConfigError / BackupError when the drill cannot
    run or the restore fails.
    """
    started = time.monotonic()
    if config.database is None:
        raise ConfigError("DATABASE_URL is not set: verify restores into a scratch database on that server")
    config.django.require()
    timings = {}
    with _signals_raise(), _workdir(workdir) as work:
        with _phase(timings, "fetch"):
            fetched = fetch(config, archive, work, extract=False)
        stale = drop_stale_scratch(config.database)
        scratch = config.database.with_name(scratch_name())
        result = {
            "ok": False,
            "archive": fetched.name,
            "source": fetched.source,
            "scratch_database": scratch.name,
            "dropped": False,
            "fingerprint": {"expected": fetched.manifest.get("fingerprint"), "actual": None},
            "apps": {},
            "tables": {},
            "missing_migrations": [],
            "stale_dropped": stale,
            "warnings": [],
            "message": "",
            "timings": timings,
        }
        try:
            create_database(scratch, purpose="the restore drill")
            with _phase(timings, "replay"):
                counts, warnings, digests = replay_sql(config, scratch, fetched, work)
                result["warnings"] += warnings
            with _phase(timings, "proof"):
                proven = _prove_sql(
                    config, fetched, scratch, counts, work, result, through_django=True, replayed=digests
                )
                result["missing_migrations"] = migrate_check(config, scratch, work)
        finally:
            with _signals_held():
                try:
                    drop_database(scratch)
                    result["dropped"] = True
                except BackupError as exc:
                    result["warnings"].append(f"could not drop scratch database {scratch.name}: {exc}; drop it by hand")
        result["ok"] = proven and not result["missing_migrations"]
        if result["ok"]:
            result["message"] = (
                f"{fetched.name} restores: business data matches ({', '.join(result['apps'])}), "
                f"{len(result['tables'])} tables hold the archive's row counts, no missing migration"
            )
        else:
            bad = [a for a, v in result["apps"].items() if not v["match"]]
            bad += [f"{a} (as Django reads it)" for a, v in result.get("django", {}).get("apps", {}).items()
                    if not v["match"]]  # fmt: skip
            bad += [t for t, v in result["tables"].items() if not v["match"]]
            text = f"{fetched.name} FAILED the drill:"
            if bad:
                text += f" {', '.join(bad)} differ(s) from the archive;"
            if result["missing_migrations"]:
                text += f" the application has migrations the archive lacks: {', '.join(result['missing_migrations'])}"
            result["message"] = text.rstrip(";")
    result["duration"] = round(time.monotonic() - started, 3)
    return result


def table_rows(result) -> Dict[str, Optional[int]]:
    """{table: rows} as restored (for reports)."""
    return {k: v["actual"] for k, v in result.get("tables", {}).items()}


__all__: List[str] = ["restore", "verify", "fetch", "Fetched", "Interrupted", "TARGET_ENV", "table_rows"]
