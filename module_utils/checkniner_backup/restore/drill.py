"""The restore drill (`checkniner-backup verify`): restore an archive into a scratch database on the configured
server, prove it, check the application sees no missing migration, and drop the scratch database whatever happens."""

import datetime as dt
import os
import re
import time

from .. import health
from ..errors import BackupError, ConfigError, describe
from ..pg_admin import connect_maintenance, create_database, drop_database
from ..units import utcnow
from .fetch import fetch
from .prove import migrate_check, prove_sql
from .replay import replay_sql
from .runtime import phase, signals_held, signals_raise, workdir

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


def verify(config, request):
    """The restore drill (see _verify), reported like every scheduled job: its record in state.json (when there is a
    backup directory), the metrics file, and CHECKNINER_VERIFY_HEALTHCHECK_URL (URL/fail with the reason on failure).
    A failure that raises is reported, then raised."""
    try:
        result = _verify(config, request)
    except Exception as exc:
        line = describe(exc)[0]
        record = {"outcome": "failed", "archive": None, "error": line, "locations": []}
        warnings = health.after_job(config, "drill", f"failed: {line}", record)
        if isinstance(exc, BackupError):
            exc.warnings += warnings
        raise
    location = {"location": result["source"], "archive": result["archive"], "ok": result["ok"]}
    record = {
        "outcome": "passed" if result["ok"] else "failed",
        "archive": result["archive"],
        "error": None if result["ok"] else result["message"],
        "locations": [{**location, "message": result["message"]}],
    }
    result["warnings"] += health.after_job(config, "drill", result["message"], record)
    return result


def _verify(config, request):
    """The restore drill: restore request.archive into a scratch database on the configured server, prove the business
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
    with signals_raise(), workdir(request.workdir) as work:
        with phase(timings, "fetch"):
            fetched = fetch(config, request.archive, work, extract=False)
        stale = drop_stale_scratch(config.database)
        scratch = config.database.with_name(scratch_name())
        result = {
            "ok": False,
            "archive": fetched.name,
            "source": fetched.source,
            "scratch_database": scratch.name,
            "dropped": False,
            "fingerprint": {"expected": fetched.manifest.fingerprint, "actual": None},
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
            with phase(timings, "replay"):
                counts, warnings, digests = replay_sql(config, scratch, fetched, work)
                result["warnings"] += warnings
            with phase(timings, "proof"):
                proven = prove_sql(
                    config, fetched, scratch, counts, work, result, through_django=True, replayed=digests
                )
                result["missing_migrations"] = migrate_check(config, scratch, work)
        finally:
            with signals_held():
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
