"""`checkniner-backup run`: one backup iteration, what cron runs every five minutes.

config -> preflight -> change detection (precheck, digests, fingerprint) -> snapshot -> save -> distribute.
"""

import shutil
import time

from .. import crypto, health, lock, pg
from ..errors import BackupError, Busy
from ..fingerprint import business_fingerprint
from ..local import BackupDir, pending_count
from ..snapshot import take
from ..state import State
from ..units import utcnow
from . import detect
from .result import RunResult
from .save import save_new
from .upload import distribute


def run(config, dry_run=False):
    """One iteration. Never raises for the expected outcomes: a failure is a RunResult with exit_code 1 or 2.

    dry_run: decide whether an archive would be saved (precheck and business fingerprint) and save, upload, record
    and report nothing (the Ansible module's check mode).
    """
    started = time.monotonic()
    state = None
    try:
        bdir = BackupDir(config.require_backup_dir())
        # cron's run never waits: the holder is doing the work, the next run is five minutes away
        with lock.run_lock(bdir.path, wait=lock.NO_WAIT):
            result, state = _locked_run(config, bdir, dry_run, started)
    except Busy:
        result = RunResult("busy", duration=time.monotonic() - started)
    except BackupError as exc:
        result = RunResult("failed", error=str(exc), exit_code=exc.exit_code, duration=time.monotonic() - started)
    if not dry_run:
        health.after_run(config, result, state)
    return result


def _locked_run(config, bdir, dry_run, started):
    """The run under the lock. Returns (RunResult, State as saved)."""
    # what a killed run left behind goes first: its work directory may be large
    bdir.clean_leftovers()
    state = State.load(bdir)
    state.forget_missing(bdir.archive_names())
    try:
        result = _iterate(config, bdir, state, dry_run)
    except BackupError as exc:
        result = RunResult("failed", error=str(exc), exit_code=exc.exit_code)
    if dry_run:
        result.pending = pending_count(config, bdir)
        result.duration = time.monotonic() - started
        return result, state
    if result.outcome != "failed" or result.exit_code == 1:
        # the outbox is flushed even when the snapshot failed: an earlier archive may still be waiting
        uploaded, upload_error = distribute(config, bdir, state)
        result.uploaded = uploaded
        if upload_error is not None and result.outcome != "failed":
            result.error = str(upload_error)
            result.exit_code = 1
            if result.outcome != "saved":
                result.outcome = "failed"
    result.pending = pending_count(config, bdir)
    result.duration = time.monotonic() - started
    state.record_run(result)
    state.save()
    return result, state


def _iterate(config, bdir, state, dry_run=False):
    """The body of a run, under the lock. Returns a RunResult (saved or unchanged; "would save" when dry_run)."""
    # 0. preflight: the server answers and pg_dump can read it, Django and GnuPG are usable, before any dump
    preflight = pg.preflight(config.database, config.env)
    config.django.require()
    if config.gpg_recipient:
        crypto.check_recipient(config.gpg_recipient, config.env)
    identity = preflight.identity
    known, _source = detect.last_fingerprint(config, bdir, state)
    # 1. precheck: no transaction id assigned since the last settled snapshot -> nothing committed anywhere
    if detect.nothing_committed(state, known, identity, preflight.next_xid):
        return RunResult("unchanged", reason="precheck", fingerprint=known)
    recorded = detect.recorded_digests(state, known, identity)

    workdir = bdir.make_workdir()
    try:
        decision = {}

        def decide(business):
            decision["fingerprint"] = business_fingerprint(config.apps, business)
            return decision["fingerprint"] != known and not dry_run

        with pg.exported_snapshot(config.database) as (snapshot_id, xmax):
            taken_at = utcnow()
            # 2. something was written: do the business tables still hold the same rows?
            now = detect.digests_now(config, snapshot_id, recorded) if recorded else None
            if now is not None and detect.digests_unchanged(now, recorded):
                if not dry_run:
                    state.remember(known, identity, xmax)
                return RunResult("unchanged", reason="digests", fingerprint=known)
            # 3. the business fixtures through the application's own Django, and the rest only if they changed (the
            # digests just taken are the archive's, unless the schema changed)
            reuse = detect.reusable(now, recorded) if now is not None else None
            snap = take(config, workdir, decide, snapshot_id, digests=reuse)
        fingerprint = decision.get("fingerprint")
        if fingerprint is None:
            raise BackupError("Django helper ended before dumping the business apps")
        if dry_run:
            if fingerprint == known:
                return RunResult("unchanged", reason="fingerprint", fingerprint=fingerprint)
            return RunResult("would save", reason="business data changed", fingerprint=fingerprint)
        state.remember(fingerprint, identity, xmax, snap.table_digests, snap.migrations_digest)
        if not snap.complete:
            return RunResult("unchanged", reason="fingerprint", fingerprint=fingerprint)
        if snap.sql is None:
            raise BackupError("pg_dump produced no SQL")
        name, size = save_new(config, bdir, state, workdir, taken_at, preflight, snapshot_id, snap, fingerprint)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return RunResult("saved", name=name, size=size, fingerprint=fingerprint)
