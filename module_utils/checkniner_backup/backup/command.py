"""`checkniner-backup run`: one backup iteration, what cron runs every five minutes.

config -> preflight -> change detection (precheck, statistics, digests, fingerprint) -> snapshot -> save -> distribute.
"""

import shutil
import time

from .. import archive_writer, health, lock, manifest, notify, pg, signing
from ..errors import BackupError, Busy, os_error_line
from ..fingerprint import business_fingerprint
from ..local import BackupDir, pending_count
from ..snapshot import take
from ..state import State
from ..units import utcnow
from . import detect
from .reconcile import lost_error, probe, queue_stranded
from .result import RunResult
from .save import save_new
from .upload import distribute


def run(config, dry_run=False) -> RunResult:
    """One iteration. Never raises (bar KeyboardInterrupt): every outcome is a RunResult, a failure one with exit_code
    1 or 2 that is recorded, measured and pinged like any other.

    dry_run: decide whether an archive would be saved (precheck and business fingerprint) and save, upload, record
    and report nothing (the Ansible module's check mode).
    """
    started = time.monotonic()
    rid, early = health.new_rid(), []
    try:
        bdir = BackupDir(config.require_backup_dir())
        # cron's run never waits: the holder is doing the work, the next run is five minutes away
        with lock.run_lock(bdir.path, wait=lock.NO_WAIT):
            # /start once the lock is ours: a busy run ends nothing, so it starts nothing either
            early = [] if dry_run else health.start(config.healthcheck_url, rid)
            result = _locked_run(config, bdir, dry_run, started)
    except Busy:
        # the holder records, measures and pings: nothing here
        result = RunResult("busy", duration=time.monotonic() - started)
    except Exception as exc:  # noqa: BLE001 - failed before the lock (or in it, unrecorded): still measured and pinged
        result = RunResult.failed(exc, time.monotonic() - started)
        if not dry_run:
            result.warnings += health.write_metrics(config, None, result)
            # no state.json to remember it in: this failure notifies every time it happens
            result.warnings += notify.report(config, None, "run", False, result.line())
    result.warnings[:0] = early
    # in the line itself, the one an operator reads in the log and the heartbeat receives, whatever the outcome
    result.unsigned = signing.unsigned_warning(config)
    if not dry_run:
        result.warnings += health.after_run(config, result, rid)
    return result


def _locked_run(config, bdir, dry_run, started):
    """The run under the lock: the iteration, the stores, its record in state.json and the metrics file."""
    # what a killed run left behind goes first: its work directory may be large
    bdir.clean_leftovers()
    # a malformed state.json is set aside (with a warning): it is no reason to stop taking backups
    state = State.load(bdir, set_aside=not dry_run)
    state.forget_missing(bdir.archive_names())
    try:
        result = _iterate(config, bdir, state, dry_run)
    except Exception as exc:  # noqa: BLE001 - a full disk or a bug alike: a failed run, with the stores still served
        result = RunResult.failed(exc)
    result.warnings += state.warnings
    if dry_run:
        result.pending = pending_count(config, bdir, state)
        result.duration = time.monotonic() - started
        return result
    if result.exit_code in (0, 1):
        # the stores are served even when the snapshot failed: an earlier archive may still be waiting
        _serve_stores(config, bdir, state, result)
    result.pending = pending_count(config, bdir, state)
    result.duration = time.monotonic() - started
    state.record_run(result)
    # under the lock, before the save: what was notified is remembered with the run that caused it
    result.warnings += notify.report(config, state, "run", result.exit_code == 0, result.line())
    try:
        state.save()
    except OSError as exc:
        result.warnings.append(f"the run is not recorded in state.json: {os_error_line(exc)}")
    # under the lock: another job rewriting the file meanwhile would render an older state.json
    result.warnings += health.write_metrics(config, state, result)
    return result


def _serve_stores(config, bdir, state, result):
    """Every destination made to hold what this directory holds, in this order:"""
    errors = []
    try:
        # 1. nothing stranded: a destination configured since archives were saved gets those it lacks queued first,
        #    so that step 3 sends them
        stranded = queue_stranded(config, bdir, state)
        # 2. each destination is still asked for the newest archive it should hold (one HEAD, once per interval):
        #    refused credentials or a gone bucket fail this run, not the next change's; a lost archive has the
        #    destination reconciled again, so every archive it lacks is queued
        probed, lost = probe(config, bdir, state, skip=stranded)
        # 3. the outboxes, oldest first; the pointer follows each upload
        result.uploaded, upload_error = distribute(config, bdir, state)
        # the reason a person must act on first: the upload's own failure, else the loss, else what could not be read
        errors += [e for e in (upload_error, lost_error(config, bdir, lost)) if e]
        errors += [*probed.values(), *stranded.values()]
    except Exception as exc:  # noqa: BLE001 - a local file that cannot be read, or a bug: the run fails, reported
        errors.append(exc)
    if errors:
        result.stores_failed(errors[0])


def _iterate(config, bdir, state, dry_run=False):
    """The body of a run, under the lock. Returns a RunResult (saved or unchanged; "would save" when dry_run)."""
    # 0. preflight: the server answers and pg_dump can read it, Django, GnuPG and the signing key are usable, before
    # any dump
    preflight = archive_writer.preflight(config)
    config.django.require()
    identity = preflight.identity
    known, _source = detect.last_fingerprint(config, bdir, state)
    # 1. precheck: no transaction id assigned since the last settled snapshot -> nothing committed anywhere
    if detect.nothing_committed(state, known, identity, preflight.next_xid):
        return RunResult("unchanged", reason="precheck", fingerprint=known)
    recorded = detect.recorded_digests(state, known, identity)
    # 2. statistics: something was committed somewhere; were the business tables written? Read before the snapshot,
    # so that what they count is in it, and what they do not count yet moves them by the next run
    evidence = detect.statistics_now(config, recorded) if recorded else None
    why = detect.digests_needed(config, state, known, identity, evidence) if recorded else "no digests recorded"
    if why is None:
        if not dry_run:
            state.skipped_digests()
        return RunResult("unchanged", reason="statistics", fingerprint=known)

    workdir = bdir.make_workdir()
    try:
        decision = {}

        def decide(business):
            decision["fingerprint"] = business_fingerprint(config.apps, business)
            return decision["fingerprint"] != known and not dry_run

        with pg.exported_snapshot(config.database) as (snapshot_id, xmax):
            taken_at = utcnow()
            # 3. the statistics could not tell: do the business tables still hold the same rows?
            now = detect.digests_now(config, snapshot_id, recorded) if recorded else None
            if now is not None and detect.digests_unchanged(now, recorded):
                if not dry_run:
                    state.remember(known, identity, xmax)
                    state.remember_statistics(known, identity, evidence, why)
                return RunResult("unchanged", reason="digests", fingerprint=known)
            # 4. the business fixtures through the application's own Django, and the rest only if they changed (the
            # digests just taken are the archive's, unless the schema changed)
            reuse = detect.reusable(now, recorded) if now is not None else None
            snap = take(config, workdir, decide, snapshot_id, digests=reuse)
        fingerprint = decision.get("fingerprint")
        if fingerprint is None:
            raise BackupError("Django helper ended before dumping the business apps")
        paths = manifest.paths_of(snap)  # which models Django's serializer wrote: every dump says so
        if dry_run:
            if fingerprint == known:
                return RunResult("unchanged", reason="fingerprint", fingerprint=fingerprint, models=paths)
            return RunResult("would save", reason="business data changed", fingerprint=fingerprint, models=paths)
        state.remember(fingerprint, identity, xmax, snap.table_digests, snap.migrations_digest)
        state.remember_statistics(fingerprint, identity, detect.evidence_of(evidence, snap.table_digests), why)
        if not snap.complete:
            return RunResult("unchanged", reason="fingerprint", fingerprint=fingerprint, models=paths)
        if snap.sql is None:
            raise BackupError("pg_dump produced no SQL")
        capture = archive_writer.Capture(config, preflight, snapshot_id, taken_at, snap, workdir)
        name, size = save_new(capture, bdir, state, fingerprint)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return RunResult("saved", name=name, size=size, fingerprint=fingerprint, models=paths)
