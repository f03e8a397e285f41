"""Distribution: the outbox of each destination sent to S3, and the latest.json pointer that follows each upload."""

import os
from dataclasses import dataclass, field
from typing import Dict

from .. import latest, lock, stores
from ..errors import BackupError, ConfigError, StoreError
from ..local import BackupDir
from ..manifest import describe_local
from ..state import State
from ..units import utcnow


def pointer_doc(name, sha256, size, fingerprint, sequence=None):
    """latest.json: finding the newest archive costs one request, however many archives exist. A hint: what is
    restored is authenticated by its signed manifest."""
    doc = {"name": name, "sha256": sha256, "size": size, "fingerprint": fingerprint, "updated": utcnow().isoformat()}
    if sequence is not None:
        doc["sequence"] = sequence
    return doc


def _described(state, name, path):
    """{sha256, fingerprint} of a local archive: as recorded when it was saved, else read from the file."""
    info = state.archive(name)
    return info if info.get("sha256") else describe_local(path)


def distribute(config, bdir, state):
    """Upload everything waiting in each destination's outbox, oldest first; the pointer follows each upload.

    Nothing local is deleted here. Returns (uploaded names, first error or None). The caller holds the run lock.
    """
    uploaded, errors = [], []
    for dest in config.destinations:
        store = stores.open(dest)
        try:
            pointer = None
            for name in bdir.pending(dest.name):
                path = bdir.join(name)
                if not os.path.exists(path):
                    bdir.dequeue(dest.name, name)  # removed by hand: nothing left to send
                    continue
                info = _described(state, name, path)
                store.upload(path, name, info["sha256"], {"fingerprint": info.get("fingerprint", "")})
                if pointer is None:
                    pointer = store.read_pointer() or {}
                # a pointer naming the future is replaced, never kept; the newest by save sequence (latest.outranks)
                if latest.outranks(name, info.get("sequence"), pointer):
                    pointer = pointer_doc(name, info["sha256"], os.path.getsize(path), info.get("fingerprint"),
                                          info.get("sequence"))  # fmt: skip
                    store.write_pointer(pointer)
                bdir.dequeue(dest.name, name)
                uploaded.append(name if len(config.destinations) == 1 else f"{name}->{dest.name}")
                state.record_probe(dest.name, ok=True)  # it answered: no probe needed within the interval
        except StoreError as exc:
            errors.append(exc)
            state.record_probe(dest.name, ok=False)
    return uploaded, (errors[0] if errors else None)


@dataclass
class UploadResult:
    """What ensure_uploaded did: the archive, whether any destination changed, and per destination "present" (nothing
    to do), "uploaded" or, in a dry run, "would upload"."""

    name: str
    changed: bool
    destinations: Dict[str, str] = field(default_factory=dict)

    def as_dict(self):
        return {"name": self.name, "changed": self.changed, "destinations": self.destinations}


def ensure_uploaded(config, name=None, dry_run=False) -> UploadResult:
    """Make sure one local archive (default: the latest) is in every destination with a matching checksum and the
    pointer names the newest. Returns an UploadResult. Raises Busy when a run holds the lock for longer than
    lock.WAIT.
    """
    if not config.destinations:
        raise ConfigError("S3 is not configured: set S3_BUCKET_NAME (and credentials) to upload")
    bdir = BackupDir(config.require_backup_dir(), create=False)
    if name in (None, "", "latest"):
        name = latest.local_latest(bdir)
        if name is None:
            raise BackupError(f"no local archive in {bdir.path} to upload")
    elif name not in bdir.archive_names():
        raise BackupError(f"no local archive named {name} in {bdir.path}")
    path = bdir.join(name)
    info = _described(State.load(bdir), name, path)
    sha256, size = info["sha256"], os.path.getsize(path)
    opened = [stores.open(dest) for dest in config.destinations]
    done = {store.dest.name: all(_in_place(store, name, sha256, size)) for store in opened}
    outcome = UploadResult(name, not all(done.values()))
    if dry_run or not outcome.changed:
        outcome.destinations = {d: "present" if ok else "would upload" for d, ok in done.items()}
        return outcome
    # one lock for every destination: a run holding it may be sending this very archive from the outbox
    with lock.run_lock(bdir.path, wait=lock.WAIT, nothing_done=f"{name} not uploaded"):
        for store in opened:
            present, pointer_ok = _in_place(store, name, sha256, size, info.get("sequence"))
            if present and pointer_ok:
                outcome.destinations[store.dest.name] = "present"
                continue
            store.upload(path, name, sha256, {"fingerprint": info.get("fingerprint") or ""})
            if not pointer_ok:
                store.write_pointer(pointer_doc(name, sha256, size, info.get("fingerprint"), info.get("sequence")))
            bdir.dequeue(store.dest.name, name)
            outcome.destinations[store.dest.name] = "uploaded"
    # the truth after the lock: a run that held it may have sent the archive meanwhile
    outcome.changed = "uploaded" in outcome.destinations.values()
    return outcome


def _in_place(store, name, sha256, size, sequence=None):
    """(the object is there with this checksum, the pointer names it or a newer archive not from the future)."""
    present = store.matches(store.head(name), sha256, size)
    pointer = store.read_pointer()
    return present, (pointer or {}).get("name") == name or not latest.outranks(name, sequence, pointer)
