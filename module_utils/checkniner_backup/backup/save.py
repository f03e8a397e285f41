"""Save: a run's new archive, written through archive_writer (the one way an archive is written), recorded in the
state, queued for every destination, and only then named by latest.tar.gz."""

from .. import archive, archive_writer, crypto
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
    name, size = archive_writer.write(capture, bdir, name)
    sha256 = file_sha256(bdir.join(name))
    state.record_saved(name, sha256, size, fingerprint)
    state.save()
    bdir.point_latest_at(name)
    return name, size
