"""Before the outboxes are sent: nothing stranded, and no destination silently broken.

Every archive is queued for every destination before it is renamed into place (backup/save.py), so a killed run
never leaves an archive that no outbox knows. What is left: archives saved before a destination was configured (or
recorded by a state file older than this rule). Until the directory is reconciled with a destination, all its
archives count as waiting for it (status, prune); the next run lists the destination once (one paginated listing),
queues those it lacks, and records the destination as reconciled. Later runs send no request for it.

Then a quiet destination is still asked for the newest archive it should hold (one HEAD), so that refused
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


def queue_stranded(config, bdir, state):
    """Reconcile the directory with each configured destination not reconciled yet: queue the archives it lacks.
    The caller holds the run lock and saves the state. Returns {destination name: BackupError} for destinations that
    could not be listed (tried again by the next run; their archives stay waiting and pinned meanwhile)."""
    state.forget_destinations([d.name for d in config.destinations])
    errors = {}
    for dest in config.destinations:
        if state.reconciled(dest.name):
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
    reconciled destination with nothing to send this run (those that do talk to S3 anyway) and not in skip.

    A missing or changed object is queued again (the upload that follows sends it). Returns ({destination name:
    BackupError}, {destination name: the archive it lost})."""
    errors, lost = {}, {}
    due = [
        dest
        for dest in config.destinations
        if dest.name not in skip
        and not bdir.pending(dest.name)
        and state.reconciled(dest.name)
        and probe_due(config, state, dest.name)
    ]
    name = latest.local_latest(bdir) if due else None  # one listing of the directory, whatever the destinations
    if name is None:
        return errors, lost
    path, sha256 = bdir.join(name), None
    for dest in due:
        store = stores.open(dest)
        try:
            head = store.head(name)
        except BackupError as exc:  # StoreError, or ConfigError for missing credentials: this destination only
            errors[dest.name] = exc
            state.record_probe(dest.name, ok=False)
            continue
        state.record_probe(dest.name, ok=True)
        # hashed at most once, and only when a destination answered
        sha256 = sha256 or state.archive(name).get("sha256") or describe_local(path)["sha256"]
        if not store.matches(head, sha256, os.path.getsize(path)):
            bdir.enqueue(dest.name, name)
            lost[dest.name] = name
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
    again = [(dest, name) for dest, name in lost.items() if name not in bdir.pending(dest)]
    if not again:
        return None
    by_name = {d.name: d for d in config.destinations}
    dest, name = again[0]
    return StoreError(
        f"{name} was missing or damaged in {by_name[dest].describe()}: uploaded again; find out what removes objects "
        f"there ({by_name[dest].lost_hint()})"
    )
