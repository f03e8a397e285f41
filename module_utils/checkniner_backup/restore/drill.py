"""The restore drill (`checkniner-backup verify`): for each location (the local directory and every S3 destination,
or those --from names), restore its newest archive (or its newest at --at TIME) into a scratch database on the
configured server, prove it, check the application sees no missing migration, and drop the scratch database whatever
happens. It fails when any copy fails: the off-site copy, the one that matters when the host is gone, is proven too,
not only the local one."""

import datetime as dt
import os
import re
import time

from .. import health
from ..database_url import Database
from ..errors import BackupError, ConfigError, Interrupted, ProofFailed
from ..latest import resolve
from ..pg_admin import connect_maintenance, create_database, drop_database
from ..units import utcnow
from .fetch import fetch_found
from .job import Proving
from .prove import migrate_check, prove_sql
from .replay import replay_sql
from .result import DrillLocation, DrillResult
from .runtime import phase, signals_held, signals_raise, workdir
from .target import superuser_warning

SCRATCH_PREFIX = "cnb_verify_"
SCRATCH_STAMP = "%Y%m%d%H%M%S"
SCRATCH_MAX_AGE = dt.timedelta(hours=1)


def scratch_name(now=None):
    now = now or utcnow()
    return f"{SCRATCH_PREFIX}{now.strftime(SCRATCH_STAMP)}_{os.getpid()}"


def scratch_age(name, now=None):
    """How old a drill's scratch database is, from its name; None for a name that is not one of ours."""
    match = re.match(rf"^{SCRATCH_PREFIX}(\d{{14}})_\d+$", name)
    if not match:
        return None
    born = dt.datetime.strptime(match.group(1), SCRATCH_STAMP).replace(tzinfo=dt.timezone.utc)
    return (now or utcnow()) - born


def drop_stale_scratch(database, now=None):
    """Drop scratch databases a killed drill left behind (older than SCRATCH_MAX_AGE). Returns their names."""
    conn = connect_maintenance(database)
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


def drill_server(config):
    """The server and role the drill makes its scratch databases with, replays as and proves through: the role of
    CHECKNINER_VERIFY_DATABASE_URL when it is set (its database is only where the drill connects to create and drop
    them), else the application's own (DATABASE_URL).

    Why a role of its own: the replay runs the archive's SQL, and an archive signed by a trusted key may still come
    from a host that was broken into. As the application's role, that SQL could alter the production database it owns
    (ALTER DATABASE ... SET, its tables through a schema-qualified name it can reach); as a role with CREATEDB that
    owns nothing of production, it can touch only the scratch database it created."""
    if config.verify_database_url:
        return Database.from_url(config.verify_database_url, what="CHECKNINER_VERIFY_DATABASE_URL")
    if config.database is None:
        raise ConfigError(
            "DATABASE_URL is not set: verify restores into a scratch database on that server "
            "(or on CHECKNINER_VERIFY_DATABASE_URL's)"
        )
    return config.database


def privilege_warning(server, production):
    """[one warning] when the drill's own role (CHECKNINER_VERIFY_DATABASE_URL) can act on the production database
    (it owns it or is a member of its owner; a superuser has superuser_warning), else []. `production`: DATABASE_URL's
    Database or None."""
    if production is None or server is production:
        return []
    conn = connect_maintenance(server)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_catalog.pg_has_role(r.oid, d.datdba, 'USAGE') FROM pg_catalog.pg_roles r, "
                "pg_catalog.pg_database d WHERE r.rolname = current_user AND d.datname = %s",
                [production.name],
            )
            row = cur.fetchone()
    finally:
        conn.close()
    if not row or not row[0]:
        return []  # the production database is elsewhere, or this role holds no power over it
    return [
        f"CHECKNINER_VERIFY_DATABASE_URL's role {server.user or '(default)'} can act as the owner of the production "
        f"database {production.name!r}: the drill replays archives as it; give it a role with CREATEDB that owns "
        "nothing of production (README: A role of its own for the drill)"
    ]


def verify(config, request) -> DrillResult:
    """The restore drill (see _verify), reported like every scheduled job: its record in state.json (when there is a
    backup directory), the metrics file, and CHECKNINER_VERIFY_HEALTHCHECK_URL (URL/fail with the reason on failure).

    Returns the DrillResult of a drill that passed. One failure channel, as restore's: a failure raises once it is
    reported; a drill that ran to its end and failed (a copy that does not restore, or does not prove) raises
    ProofFailed, which carries the DrillResult for the front door."""
    rid = health.new_rid()
    started = health.start(config.verify_healthcheck_url, rid)
    try:
        result = _verify(config, request)
    except Exception as exc:
        if isinstance(exc, BackupError):
            exc.warnings += started
        health.after_failed_job(config, "drill", exc, {"archive": None, "locations": []}, rid)
        raise
    record = {
        "outcome": "passed" if result.ok else "failed",
        "archive": result.archive,
        "error": None if result.ok else result.message,
        "locations": [
            {k: getattr(row, k) for k in ("location", "archive", "ok", "message")} for row in result.locations
        ],
    }
    result.warnings[:0] = started
    result.warnings += health.after_job(config, "drill", result.message, record, rid, result.warnings)
    if not result.ok:
        raise ProofFailed(result)
    return result


def _verify(config, request):
    """The restore drill of every location request.source names: the newest archive (or request.archive, or the
    newest at request.at: latest.resolve) of the local directory and of each S3 destination, downloaded through its
    pointer, restored into a scratch database on the configured server, proven (business fingerprint, every table's
    row count, no missing migration), the scratch database dropped whatever happens (signals included). A copy whose
    bytes equal one already proven (same name and sha256) is proven by that equality, without a second restore.

    Returns a DrillResult (result.py): the first restored location's drill at the top level, as the drill returned
    before it had locations, ok for every location and a message naming every location that failed; and one
    DrillLocation per location. With one location, a copy that cannot be fetched or restored raises as it always did
    (ConfigError / BackupError); with several it fails its location and the others go on.
    """
    started = time.monotonic()
    request.validate()
    server = drill_server(config)
    config.django.require()
    # which archive each location proves; a location that has none (or cannot be reached) fails alone
    locations = resolve(config, request.archive, request.source, request.before())
    where = {d.name: d.describe() for d in config.destinations}
    where["local"] = config.backup_dir
    result, rows, proven, extra_warnings = None, [], {}, []
    with signals_raise():
        for found in locations:
            row = DrillLocation(found.source, where.get(found.source, request.archive))
            rows.append(row)
            try:
                if found.error is not None:
                    raise found.error
                with workdir(request.workdir) as work:
                    timings = {}
                    # fetch checks the signature: an archive the trusted keys refuse never gets a scratch database
                    with phase(timings, "fetch"):
                        fetched = fetch_found(config, found, work, False, request.allow_unsigned, request.spelling)
                    row.archive, row.sha256 = fetched.name, fetched.sha256
                    same = proven.get((fetched.name, fetched.sha256))
                    extra_warnings += fetched.warnings  # a copy proven by equality still says what fetch noticed
                    if same:
                        message = f"{fetched.name} is byte for byte the copy {same} restored (sha256), proven with it"
                        row.ok, row.proven_with, row.message = True, same, message
                        continue
                    drilled = _drill(config, server, fetched, work, timings)
            except (ConfigError, Interrupted):
                raise  # the drill itself cannot run (CREATEDB, Django) or was stopped: no location is proven
            except BackupError as exc:
                if len(locations) == 1:
                    raise
                row.message = str(exc)  # this copy is missing, unreachable or damaged: the others still count
                continue
            row.ok, row.message = drilled.ok, drilled.message
            if drilled.ok:
                proven[(fetched.name, fetched.sha256)] = row.location
            if result is None:
                result = drilled
            else:
                result.warnings += drilled.warnings
    # no location got as far as its restore: the top level names the first
    result = result or DrillResult(archive=rows[0].archive, source=rows[0].location)
    # once each, in order: every copy's restore repeats the superuser and signature warnings
    result.warnings = list(dict.fromkeys([*result.warnings, *extra_warnings]))
    result.ok, result.locations, result.message = all(row.ok for row in rows), rows, _message(rows)
    result.duration = round(time.monotonic() - started, 3)
    return result


def _message(rows):
    """One line: a single location's message as it always was; with several, each named, the failed ones first."""
    if len(rows) == 1:
        return rows[0].message
    failed = [row for row in rows if not row.ok]
    passed = [row for row in rows if row.ok]
    if not failed:
        return "; ".join(f"{row.location}: {row.message}" for row in rows)
    text = f"the drill FAILED for {', '.join(row.location for row in failed)}: "
    text += "; ".join(f"{row.location}: {row.message}" for row in failed)
    if passed:
        text += f"; passed: {', '.join(row.location for row in passed)}"
    return text


def _drill(config, server, fetched, work, timings):
    """Restore one fetched archive into a scratch database on `server` (drill_server), prove it, drop the scratch
    database. Returns the drill's DrillResult for it (see _verify)."""
    stale = drop_stale_scratch(server)
    scratch = server.with_name(scratch_name())
    result = DrillResult(archive=fetched.name, source=fetched.source, scratch_database=scratch.name, timings=timings)
    result.fingerprint = {"expected": fetched.manifest.fingerprint, "actual": None}
    result.stale_dropped, result.signed_by = stale, fetched.signed_by
    result.warnings = list(fetched.warnings) + superuser_warning(server) + privilege_warning(server, config.database)
    try:
        create_database(scratch, purpose="the restore drill")
        with phase(timings, "replay"):
            counts, warnings, digests = replay_sql(config, scratch, fetched, work)
            result.warnings += warnings
        with phase(timings, "proof"):
            proof = prove_sql(Proving(config, fetched, scratch, work), counts, through_django=True, replayed=digests)
            proof.apply(result)
            result.missing_migrations = migrate_check(config, scratch, work)
    finally:
        with signals_held():
            try:
                drop_database(scratch)
                result.dropped = True
            except BackupError as exc:
                result.warnings.append(f"could not drop scratch database {scratch.name}: {exc}; drop it by hand")
    result.ok = proof.ok and not result.missing_migrations
    if result.ok:
        result.message = (
            f"{fetched.name} restores: business data matches ({', '.join(result.apps)}), "
            f"{len(result.tables)} tables hold the archive's row counts, no missing migration"
        )
    else:
        bad = [a for a, v in result.apps.items() if not v["match"]]
        bad += [f"{a} (as Django reads it)" for a, v in (result.django or {}).get("apps", {}).items()
                if not v["match"]]  # fmt: skip
        bad += [t for t, v in result.tables.items() if not v["match"]]
        bad += (result.schema or {}).get("differences", [])
        text = f"{fetched.name} FAILED the drill:"
        if bad:
            text += f" {', '.join(bad)} differ(s) from the archive;"
        if result.missing_migrations:
            text += f" the application has migrations the archive lacks: {', '.join(result.missing_migrations)}"
        result.message = text.rstrip(";")
    return result
