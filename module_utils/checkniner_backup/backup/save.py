"""Save: a run's new archive, written through archive_writer (the one way an archive is written), recorded in the
state, queued for every destination, and only then named by latest.tar.gz."""

import dataclasses

from .. import archive, archive_writer, crypto, stores
from ..errors import BackupError
from ..fingerprint import file_sha256


def save_new(capture, bdir, state, fingerprint):
    """A run's new archive from `capture` (archive_writer.Capture). Returns (name, size)."""
    config = capture.config
    name = archive.name_for(capture.taken_at, bdir.archive_names())
    final = name + crypto.SUFFIX if config.gpg_recipient else name
    # queued before it exists: a run killed after the rename never leaves an archive no outbox knows (one killed
    # before it leaves a queued name without a file, which the upload drops)
    for dest in config.destinations:
        bdir.enqueue(dest.name, final)
    sequence = state.next_sequence(_floor(config, state))
    name, size = archive_writer.write(dataclasses.replace(capture, sequence=sequence), bdir, name)
    sha256 = file_sha256(bdir.join(name))
    state.record_saved(name, sha256, size, fingerprint, sequence)
    state.save()
    bdir.point_latest_at(name)
    return name, size


def _floor(config, state):
    """Where the sequence goes on from when this directory recorded none (a new host, or its state lost): the highest
    the destinations' pointers name. A pointer is a hint, and a hint only ever raises the floor, which keeps the
    sequence monotonic; an unreachable destination counts as none."""
    if state.doc.get("sequence") or state.sequences():
        return 0
    found = [0]
    for dest in config.destinations:
        try:
            pointer = stores.open(dest).read_pointer() or {}
        except BackupError:  # unreachable, or no credentials: the upload that follows says so
            continue
        if isinstance(pointer.get("sequence"), int):
            found.append(pointer["sequence"])
    return max(found)
