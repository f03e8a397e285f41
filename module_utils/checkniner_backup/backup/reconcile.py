"""Before the outboxes are sent: nothing stranded, and no destination silently broken.

Every archive is queued for every destination before it is renamed into place (backup/save.py), so a killed run
never leaves an archive that no outbox knows. What is left: archives saved before a destination was configured (or
recorded by a state file older than this rule). Until the directory is reconciled with a destination, all its
archives count as waiting for it (status, prune); the next run lists the destination once (one paginated listing),
queues those it lacks, and records the destination as reconciled. Later runs send no request for it.

Then each destination is still asked for the newest archive it should hold (one HEAD), so that refused
credentials, a deleted bucket or a lost object fail a run, not the next change's: at most once per
CHECKNINER_PROBE_INTERVAL (an upload that went through counts as an answer), and on every run after one of its
failures or a failed run, until it answers again. Between probes an idle run sends no request and never imports the S3
client (boto3 costs more than the rest of an idle run).
"""

import datetime as dt
import os

from .. import latest, stores
from ..errors import BackupError, StoreError
from ..local import unreconciled
from ..manifest import describe_local
from ..units import utcnow


def queue_stranded(config, bdir, state, only=None):
    """Reconcile the directory with each configured destination not reconciled yet (or with destination `only`):
    queue the archives it lacks. The caller holds the run lock and saves the state. Returns {destination name:
    BackupError} for destinations that could not be listed (tried again by the next run; their archives stay waiting
    and pinned meanwhile)."""
    state.forget_destinations([d.name for d in config.destinations])
    errors = {}
    for dest in config.destinations:
        if state.reconciled(dest.name) or (only is not None and dest.name != only):
            continue
        stranded = unreconciled(bdir, state, dest.name)
        try:
            there = {obj["name"]: obj["size"] for obj in stores.open(dest).iter_archives()} if stranded else {}
        except BackupError as exc:  # StoreError, or ConfigError for missing credentials: this destination only
            errors[dest.name] = exc
            continue
        for name in stranded:
            if there.get(name) != os.path.getsize(bdir.join(name)):
                bdir.enqueue(dest.name, name)
        state.record_reconciled(dest.name)
    return errors


def probe(config, bdir, state, skip=()):
    """One HEAD of the newest archive each destination should hold (the newest here not waiting for it), for each
    reconciled destination not in skip whose probe is due (probe_due). A destination with archives to send is asked
    too: a store that came back empty takes the queued archive and would never be asked for the older ones.

    A loss is repaired whole: the newest archive missing or changed means others may be gone too (a bucket emptied, a
    store restarted empty), so the destination's reconciliation is undone and done again now (one listing): every
    archive here that it lacks is queued, and the upload that follows sends them. Returns ({destination name:
    BackupError}, {destination name: (the newest archive it lost, how many archives are queued again)})."""
    errors, lost = {}, {}
    due = [
        dest
        for dest in config.destinations
        if dest.name not in skip and state.reconciled(dest.name) and probe_due(config, state, dest.name)
    ]
    if not due:
        return errors, lost
    # one listing of the directory, whatever the destinations; the sequences from the state the run holds
    names = latest.candidates(bdir.archive_names())
    sequences = state.sequences()
    hashed = {}
    for dest in due:
        waiting = set(bdir.pending(dest.name))
        held = [n for n in names if n not in waiting]
        if not held:
            continue
        name = max(held, key=lambda n: latest.rank(n, sequences.get(n)))
        store = stores.open(dest)
        try:
            head = store.head(name)
        except BackupError as exc:  # StoreError, or ConfigError for missing credentials: this destination only
            errors[dest.name] = exc
            state.record_probe(dest.name, ok=False)
            continue
        state.record_probe(dest.name, ok=True)
        path = bdir.join(name)
        # hashed at most once, and only when a destination answered
        if name not in hashed:
            hashed[name] = state.archive(name).get("sha256") or describe_local(path)["sha256"]
        if store.matches(head, hashed[name], os.path.getsize(path)):
            continue
        state.forget_reconciled(dest.name)
        before = len(bdir.pending(dest.name))
        failed = queue_stranded(config, bdir, state, only=dest.name)
        if dest.name in failed:  # could not list it: the newest is queued at least, the next run lists it again
            bdir.enqueue(dest.name, name)
            errors[dest.name] = failed[dest.name]
        lost[dest.name] = (name, max(len(bdir.pending(dest.name)) - before, 1))
    return errors, lost


def probe_due(config, state, destination, now=None):
    """Whether the destination is asked this run: it never answered, or not within CHECKNINER_PROBE_INTERVAL (0:
    every run), or it failed since, or the last run failed (whatever failed, the next run checks every store)."""
    probed = state.probed(destination)
    if not probed or config.probe_interval <= 0 or (state.last_run or {}).get("outcome") == "failed":
        return True
    age = (now or utcnow()) - dt.datetime.fromisoformat(probed)
    return not dt.timedelta(0) <= age < dt.timedelta(seconds=config.probe_interval)


def lost_error(config, bdir, lost):
    """The run's failure for objects a destination lost and this run sent again (None when none was sent: the
    upload's own error says why)."""
    again = [(dest, name, count) for dest, (name, count) in lost.items() if name not in bdir.pending(dest)]
    if not again:
        return None
    by_name = {d.name: d for d in config.destinations}
    dest, name, count = again[0]
    what = f"{name} was missing or damaged" if count <= 1 else f"{count} archives were missing, {name} among them,"
    return StoreError(
        f"{what} in {by_name[dest].describe()}: uploaded again; find out what removes objects there "
        f"({by_name[dest].lost_hint()})"
    )
