"""Atomic writes: temp file in the same directory, fsync, rename (the run lock is lock.py)."""

import contextlib
import json
import os
import tempfile


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path, mode=0o640):
    """A file handle whose bytes appear at path whole or not at all: written to a temp file beside it, flushed,
    fsynced, given its mode, renamed over path, the directory fsynced; on any failure the temp file goes."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def atomic_write_bytes(path, data, mode=0o640):
    with atomic_file(path, mode) as handle:
        handle.write(data)


def atomic_write_json(path, doc, mode=0o640):
    atomic_write_bytes(path, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode(), mode)


def replace_symlink(target, link):
    """Point link at target atomically (a new symlink renamed over the old one)."""
    tmp = os.path.join(os.path.dirname(link), f".tmp-link-{os.getpid()}")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)
    fsync_dir(os.path.dirname(link) or ".")
