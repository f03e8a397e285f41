"""`checkniner-backup restore`: fetch -> verify -> replay (SQL) or load (fixtures) -> prove.

Order of work, so a bad archive never changes the target:

1. the request's option rules, and the target (the live database needs confirmation);
2. fetch: resolve the archive, download it into a private temp directory, check its sha256 against its record
   (state.json, the pointer, the object metadata), read its manifest and check its signature (an archive that is
   unsigned, or signed by a key CHECKNINER_TRUSTED_KEYS does not list, is refused here, before any database is
   created, dropped or written);
3. SQL mode: stream `<db>.sql` from the archive into psql inside an explicit transaction while checking the members
   (replay.py), and COMMIT only once they matched and every table holds the archive's row count; fixtures mode:
   extract and check every member first, then load (fixtures.py);
4. prove the result against the archive (prove.py).

Tables that exist in the target but not in the archive (e.g. created by a newer migration) are not dropped: the
archive does not describe them, so a restore never destroys what it cannot put back. They are reported
(`extra_tables`, and a warning). Restoring over the configured live database first saves
`<stamp>-pre-restore.tar.gz` in the backup directory (never taken as `latest`). Restoring into a database that
already matches changes nothing.
"""

import time

from ..errors import BackupError, ConfigError
from ..pg_admin import (
    create_database,
    database_exists,
    describe_sessions,
    drop_database,
    is_migrated,
    terminate_sessions,
)
from .fetch import fetch
from .fixtures import restore_fixtures
from .prove import matches_already, prove_sql
from .replay import replay_sql, sql_counts
from .runtime import phase, signals_held, signals_raise, workdir
from .target import resolve_target, save_safety, superuser_warning


def restore(config, request):
    """Restore request.archive into the target and prove it (a RestoreRequest; see there for the options).

    Returns a dict: ok (the proof holds; False means restored but the business data differs from the archive: treat
    as failure), changed, check_mode, archive, source, mode, target, target_database, live, created_database,
    safety_archive, signed_by (the fingerprint of the key that signed the archive, or None), fingerprint {expected,
    actual}, apps {app: {match, expected, actual}}, tables {table: {match, expected, actual}} (SQL mode), fixtures
    [{app, objects}] in load order (fixtures mode), extra_tables, warnings, message, timings {phase: seconds},
    duration.
    Raises ConfigError (bad usage) or BackupError (failed; the target is unchanged) before anything is restored.
    """
    started = time.monotonic()
    say = request.spelling
    selected = request.validate()
    target, live = resolve_target(config, request.target_url, say)
    if live and not request.yes and not request.check:
        raise ConfigError(
            f"refusing to overwrite the live {target.describe()} without confirmation: pass {say.yes}, "
            f"or restore elsewhere with {say.target}"
        )
    config.django.require()
    timings = {}
    with signals_raise(), workdir(request.workdir) as work:
        with phase(timings, "fetch"):
            fetched = fetch(config, request.archive, work, extract=request.mode != "sql", before=request.before())
        manifest = fetched.manifest
        if live and manifest.database != target.name:
            raise BackupError(
                f"{fetched.name} is a backup of database {manifest.database!r}, not of the live {target.name!r}: "
                f"restore it elsewhere with {say.target}"
            )
        result = {
            "ok": False,
            "changed": False,
            "check_mode": bool(request.check),
            "archive": fetched.name,
            "source": fetched.source,
            "mode": request.mode,
            "target": target.describe(),
            "target_database": target.name,
            "live": live,
            "created_database": False,
            "safety_archive": None,
            "fingerprint": {"expected": manifest.fingerprint, "actual": None},
            "apps": {},
            "tables": {},
            "fixtures": [],
            "extra_tables": [],
            "signed_by": fetched.signed_by,
            "warnings": list(fetched.warnings),
            "message": "",
            "timings": timings,
        }
        result["warnings"] += superuser_warning(target)
        if request.mode == "sql":
            _restore_sql(config, request, fetched, target, live, work, result)
        else:
            restore_fixtures(config, request, fetched, target, live, selected, work, result)
        if not result["message"]:
            result["message"] = summary(result, fetched, target)
    result["duration"] = round(time.monotonic() - started, 3)
    return result


def _restore_sql(config, request, fetched, target, live, work, result):
    timings = result["timings"]
    # 1. already there? then nothing is written, not even a safety archive
    with phase(timings, "precheck"):
        exists = database_exists(target)
        unchanged = exists and matches_already(config, fetched, target, work, result)
    if unchanged:
        result.update(ok=True, changed=False, message=f"{target.describe()} already matches {fetched.name}")
        _warn_extra(result)
        return
    if request.check:
        sql_counts(fetched)  # every member checked: a damaged archive fails in check mode too
        result.update(ok=True, changed=True, message=f"would restore {fetched.name} into {target.describe()}")
        return
    # 2. the live database's current state is saved before the replay replaces it
    if live and exists and is_migrated(target)[0]:
        with phase(timings, "safety"):
            save_safety(config, result)
    if not exists:
        create_database(target)
        result["created_database"] = True
    # 3. the other sessions of the target: ended when asked; else the replay waits for their locks lock_timeout at most
    if exists and request.terminate_sessions:
        ended = terminate_sessions(target)
        if ended:
            result["warnings"].append(f"ended the other sessions of {target.describe()}: {describe_sessions(ended)}")
    # 4. the replay commits only when the members matched and every table holds the archive's row count
    try:
        with phase(timings, "replay"):
            counts, warnings, digests = replay_sql(
                config,
                target,
                fetched,
                work,
                lock_timeout=request.lock_timeout if exists else None,
                spelling=request.spelling,
            )
            result["warnings"] += warnings
    except BaseException:
        if result["created_database"]:
            with signals_held():
                drop_database(target)
        raise
    result["changed"] = True
    # 5. the business data, by the digests the replay's own transaction took
    with phase(timings, "proof"):
        result["ok"] = prove_sql(config, fetched, target, counts, work, result, replayed=digests)
    _warn_extra(result)


def _warn_extra(result):
    if result["extra_tables"]:
        result["warnings"].append(
            f"tables not in the archive were left as they are: {', '.join(result['extra_tables'])} "
            "(created by a newer migration? drop them, or migrate again with --fake-initial)"
        )


def summary(result, fetched, target):
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
        bad += (result.get("schema") or {}).get("differences", [])
        text += f"; PROOF FAILED: {', '.join(bad)} differ(s) from the archive"
    if result["safety_archive"]:
        text += f"; the previous state is saved as {result['safety_archive']}"
    return text
