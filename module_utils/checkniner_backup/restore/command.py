"""`checkniner-backup restore`: fetch -> verify -> replay (SQL) or load (fixtures) -> prove.

Order of work, so a bad archive never changes the target:

1. the request's option rules, and the target (the live database needs confirmation);
2. fetch: resolve the archive, download it into a private temp directory, check its sha256 against its record
   (state.json, the pointer, the object metadata), read its manifest and check its signature (an archive that is
   unsigned, or signed by a key the host does not trust, is refused here, before any database is
   created, dropped or written);
3. SQL mode: stream `<db>.sql` from the archive into psql inside an explicit transaction while checking the members
   (replay.py), and COMMIT only once they matched and every table holds the archive's row count; fixtures mode:
   extract and check every member first, then load (fixtures.py);
4. prove the result against the archive (prove.py); a proof that does not hold raises ProofFailed with the result,
   like every other failure (errors.py: one failure channel for restore and the drill).

Both modes run through one body (restore_into): the safety archive, the creation of a new target, its drop when the
write fails, and the proof come in the same order for both; the mode (SqlMode, FixturesMode) says how the target is
checked, written and proven.

Tables that exist in the target but not in the archive (e.g. created by a newer migration) are not dropped: the
archive does not describe them, so a restore never destroys what it cannot put back. They are reported
(`extra_tables`, and a warning). Restoring over the configured live database first saves
`<stamp>-pre-restore.tar.gz` in the backup directory (never taken as `latest`). Restoring into a database that
already matches changes nothing.
"""

import time

from ..errors import BackupError, ConfigError, ProofFailed
from ..pg_admin import create_database, database_exists, drop_database, is_migrated
from .fetch import fetch
from .fixtures import FixturesMode
from .job import RestoreJob
from .result import Proof, RestoreResult
from .runtime import phase, signals_held, signals_raise, workdir
from .sql_mode import SqlMode
from .target import resolve_target, save_safety, superuser_warning

MODES = {SqlMode.name: SqlMode, FixturesMode.name: FixturesMode}


def restore(config, request) -> RestoreResult:
    """Restore request.archive into the target and prove it (a RestoreRequest; see there for the options).

    Returns a RestoreResult (result.py) whose proof holds. One failure channel: everything that fails raises.
    ConfigError (bad usage) or BackupError (failed; the target is unchanged) before anything is restored;
    ProofFailed (an IntegrityError) when the restore ran to its end and the business data differs from the archive:
    it carries the RestoreResult, for the front door to report every difference.
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
    result = RestoreResult(check_mode=bool(request.check), mode=request.mode, target=target.describe())
    result.target_database, result.live = target.name, live
    with signals_raise(), workdir(request.workdir) as work:
        # the archive first, checksum and signature included: an archive that fails them never reaches the target
        with phase(result.timings, "fetch"):
            fetched = fetch(
                config, request.archive, work, request.mode != "sql", before=request.before(),
                allow_unsigned=request.allow_unsigned, say=say,
            )  # fmt: skip
        if live and fetched.manifest.database != target.name:
            raise BackupError(
                f"{fetched.name} is a backup of database {fetched.manifest.database!r}, not of the live "
                f"{target.name!r}: restore it elsewhere with {say.target}"
            )
        result.archive, result.source, result.signed_by = fetched.name, fetched.source, fetched.signed_by
        result.fingerprint = {"expected": fetched.manifest.fingerprint, "actual": None}
        result.warnings = list(fetched.warnings) + superuser_warning(target)
        job = RestoreJob(config, fetched, target, work, request, live, selected, result)
        restore_into(job, MODES[request.mode]())
        if not result.message:
            result.message = summary(result, fetched, target)
    result.duration = round(time.monotonic() - started, 3)
    if not result.ok:
        raise ProofFailed(result)
    return result


def restore_into(job, mode):
    """The body both modes share, in the order that keeps a failed restore from changing the target; `mode` (SqlMode,
    FixturesMode) does what differs: how the target is checked, written and proven."""
    result = job.result
    # 1. what the archive cannot give (an app without a fixture) fails before any connection to the target
    mode.prepare(job)
    # 2. the target as it is now: existing or not decides the safety archive, the creation and the drop below
    job.exists = database_exists(job.target)
    # 3. a target the mode cannot write into (fixtures: not migrated) fails before anything is written
    mode.require_target(job)
    # 4. already there? then nothing is written, not even a safety archive
    if mode.already_matches(job):
        result.ok, result.changed = True, False
        result.message = f"{job.target.describe()} already matches {job.fetched.name}"
        return
    # 5. check mode stops here, having read what the write would need (a damaged archive fails in check mode too)
    if job.request.check:
        result.ok, result.changed, result.message = True, True, mode.would(job)
        return
    # 6. the live database's current state is saved before the write replaces it
    if job.live and job.exists and is_migrated(job.target)[0]:
        with phase(job.timings, "safety"):
            save_safety(job.config, result)
    # 7. created only now: a restore that stopped above leaves no empty database behind
    if not job.exists:
        create_database(job.target)
        result.created_database = True
    # 8. the write commits only once it is checked; a database created for it goes again when it fails
    try:
        mode.write(job)
    except BaseException:
        if result.created_database:
            with signals_held():
                drop_database(job.target)
        raise
    # 9. last, the proof against the archive: the write committed, so a failed proof is reported, not rolled back
    mode.prove(job)


def summary(result, fetched, target):
    loaded = ", ".join(f["app"] for f in result.fixtures)
    what = "restored" if result.mode == "sql" else f"loaded {loaded} from"
    text = f"{what} {fetched.name} into {target.describe()}"
    if result.created_database:
        text += " (created)"
    if result.ok:
        proven = ", ".join(result.apps) or "no business app"
        text += f"; proven: business data matches the archive ({proven})"
        if result.tables:
            text += f", row counts of {len(result.tables)} tables match"
    else:
        bad = Proof(apps=result.apps, tables=result.tables, schema=result.schema).differences()
        text += f"; PROOF FAILED: {', '.join(bad)} differ(s) from the archive"
    if result.safety_archive:
        text += f"; the previous state is saved as {result.safety_archive}"
    return text
