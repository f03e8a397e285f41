"""Before the outboxes are sent: nothing stranded. An archive here that waits in no outbox of a destination and that
the destination never confirmed (saved before it was configured, renamed into place by a run killed before it was
queued, or recorded by a state file older than the confirmations) is queued for it.

One paginated listing of the destination, only when there is such an archive, tells those already there (their size
matches: recorded as confirmed, nothing sent) from those never sent (queued). Every later run finds nothing to do and
sends no request for it.
"""

import os

from ..errors import StoreError
from ..local import unconfirmed
from ..s3 import S3Store


def queue_stranded(config, bdir, state):
    """Queue every unconfirmed archive, or record it as confirmed when the destination already holds it. The caller
    holds the run lock and saves the state. Returns {destination name: StoreError} for destinations that could not
    be listed (their archives are queued all the same: the upload's own HEAD decides then)."""
    errors = {}
    for dest in config.destinations:
        stranded = unconfirmed(bdir, state, dest.name)
        if not stranded:
            continue
        there = {}
        try:
            there = {obj["name"]: obj["size"] for obj in S3Store(dest).iter_archives()}
        except StoreError as exc:
            errors[dest.name] = exc
        for name in stranded:
            if there.get(name) == os.path.getsize(bdir.join(name)):
                state.record_uploaded(name, dest.name)
            else:
                bdir.enqueue(dest.name, name)
    return errors
