"""Before the outboxes are sent: nothing stranded, and no destination silently broken.

An archive here that waits in no outbox of a destination and that
the destination never confirmed (saved before it was configured, renamed into place by a run killed before it was
queued, or recorded by a state file older than the confirmations) is queued for it.

One paginated listing of the destination, only when there is such an archive, tells those already there (their size
matches: recorded as confirmed, nothing sent) from those never sent (queued). Every later run finds nothing to do and
sends no request for it.
"""

import os

from ..errors import BackupError, StoreError
from ..local import unconfirmed
from ..manifest import describe_local
from ..s3 import S3Store


def queue_stranded(config, bdir, state):
    """Queue every unconfirmed archive, or record it as confirmed when the destination already holds it. The caller
    holds the run lock and saves the state. Returns {destination name: BackupError} for destinations that could not
    be listed (their archives are queued all the same: the upload's own HEAD decides then)."""
    errors = {}
    for dest in config.destinations:
        stranded = unconfirmed(bdir, state, dest.name)
        if not stranded:
            continue
        there = {}
        try:
            there = {obj["name"]: obj["size"] for obj in S3Store(dest).iter_archives()}
        except BackupError as exc:  # StoreError, or ConfigError for missing credentials: this destination only
            errors[dest.name] = exc
        for name in stranded:
            if there.get(name) == os.path.getsize(bdir.join(name)):
                state.record_uploaded(name, dest.name)
            else:
                bdir.enqueue(dest.name, name)
    return errors


def probe(config, bdir, state, skip=()):
    """A quiet destination is still checked, so that expired credentials, a deleted bucket or a lost object are
    noticed within one run, not at the next change: one HEAD of the newest archive it confirmed, for each destination
    that has nothing to send this run (those that do talk to S3 anyway) and is not in skip.

    A missing or changed object is no longer confirmed and is queued again (the upload that follows sends it).
    Returns ({destination name: BackupError}, {destination name: the archive it lost})."""
    errors, lost = {}, {}
    for dest in config.destinations:
        if dest.name in skip or bdir.pending(dest.name):
            continue
        confirmed = [n for n in bdir.archive_names() if state.uploaded_to(n, dest.name)]
        if not confirmed:
            continue
        name = confirmed[-1]
        path = bdir.join(name)
        store = S3Store(dest)
        try:
            head = store.head(name)
        except BackupError as exc:  # StoreError, or ConfigError for missing credentials: this destination only
            errors[dest.name] = exc
            continue
        sha256 = state.archive(name).get("sha256") or describe_local(path)["sha256"]
        if not store.matches(head, sha256, os.path.getsize(path)):
            state.forget_uploaded(name, dest.name)
            bdir.enqueue(dest.name, name)
            lost[dest.name] = name
    return errors, lost


def lost_error(config, state, lost):
    """The run's failure for objects a destination lost and this run sent again (None when none was sent: the
    upload's own error says why)."""
    again = [(dest, name) for dest, name in lost.items() if state.uploaded_to(name, dest)]
    if not again:
        return None
    where = {d.name: d.describe() for d in config.destinations}
    dest, name = again[0]
    return StoreError(
        f"{name} was missing or damaged in {where[dest]}: uploaded again; find out what removes objects there "
        "(a lifecycle rule, another host using the same S3_PREFIX?)"
    )
