"""Spool: the archive decompressed once for the SQL replay.

A thread (Verifier) reads the archive through archive.extract_verified, which hashes every member against the signed
manifest; the SQL member is also written, as it streams, to a private file in the restore's work directory. Its
first byte reaches the server only once its sha256 matched (the replay waits for that), and the replay then reads
the file instead of decompressing and hashing the member a second time, while the thread goes on checking the other
members beside the server's work; the replay commits only once they matched too (wait_done). The file is ours: the
work directory is private (0700) and removed on every exit, and whoever could change a file in it could change this
process too.

Where the member does not fit (spool_fits), the replay decompresses twice instead: a first pass that hashes the SQL
member, then send.Reader's pass that hashes every member again as it feeds the replay. Disk is never filled for
speed: the server the SQL goes to may write to the same disk.
"""

import collections
import contextlib
import hashlib
import os
import shutil
import tempfile
import threading

from .. import archive as archive_mod
from ..errors import IntegrityError
from .send import SQL_DONE, Reader

SPOOL_PREFIX = "sql-spool-"
# free space left on the work directory's disk once the member is spooled: the member's size again (the replay
# writes about that much into the database, perhaps on this disk) and never less than this
SPOOL_HEADROOM = 1 << 30
READ = 1 << 20


def spool_fits(workdir, size):
    """Whether a member of `size` bytes may be spooled into workdir (None: no work directory, never)."""
    if workdir is None:
        return False
    return size + max(size, SPOOL_HEADROOM) <= shutil.disk_usage(workdir).free


def _spool_file(workdir):
    """(a new file open for writing, its path) in workdir, readable by this user only."""
    handle, path = tempfile.mkstemp(prefix=SPOOL_PREFIX, dir=workdir)
    return os.fdopen(handle, "wb"), path


def _tampered(fetched):
    name = fetched.sql_name
    return IntegrityError(f"{fetched.name}: member {name} does not match its manifest checksum (tampered?)")


def authenticate(fetched):
    """The SQL member decompressed and hashed against the signed manifest, nothing written (the two-pass replay's
    first pass); a store's own checksum record is no proof (no shortcut from it)."""
    sha, name = hashlib.sha256(), fetched.sql_name
    archive_mod.extract_verified(fetched.path, None, {name: sha.update}, upto={name},
                                 manifest_sha256=fetched.manifest_sha256)  # fmt: skip
    if sha.hexdigest() != fetched.manifest.doc["members"][name]["sha256"]:
        raise _tampered(fetched)


class _Stopped(Exception):
    """The replay ended (an error, a signal): the thread stops reading."""


class Verifier:
    """Every member of the archive checked in a thread, the SQL member written to `spool` (a file) on the way."""

    def __init__(self, fetched, spool):
        self.fetched = fetched
        self.size = fetched.manifest.doc["members"][fetched.sql_name]["size"]
        self.written = 0
        self.file = spool  # closed by the thread once the member is whole, or when it ends
        self.spool_error = None  # an OSError writing the spool (the disk filled meanwhile): the replay reads again
        self.sql_checked = self.failure = None
        self.sql_ready, self.stopped = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, name="archive-verifier", daemon=True)
        self.thread.start()

    def _run(self):
        sql = self.fetched.sql_name
        members = self.fetched.manifest.doc["members"]
        sinks = {name: self._spool if name == sql else self._tick for name in members}
        try:
            archive_mod.extract_verified(self.fetched.path, None, sinks, manifest_sha256=self.fetched.manifest_sha256,
                                         checked=self._checked)  # fmt: skip
        except _Stopped:
            pass
        except BaseException as exc:  # the replay raises it: before its first statement, or before COMMIT
            self.failure = exc
        finally:
            self._close_file()
            self.sql_ready.set()  # also when the archive ended without the member: wait_sql says what happened

    def _tick(self, _block):
        if self.stopped.is_set():
            raise _Stopped()

    def _spool(self, block):
        self._tick(block)
        self.written += len(block)
        if self.sql_checked is not None or self.written > self.size:  # never more than the checked member
            raise _tampered(self.fetched)
        if self.file is None:
            return
        try:
            self.file.write(block)
        except OSError as exc:  # the member is still hashed: the replay then reads it from the archive again
            self.spool_error = exc
            self._close_file()

    def _checked(self, name):
        if name != self.fetched.sql_name:
            return
        self._close_file()
        self.sql_checked = self.spool_error is None
        self.sql_ready.set()

    def _close_file(self):
        handle, self.file = self.file, None
        if handle is not None:
            try:
                handle.close()
            except OSError as exc:
                self.spool_error = self.spool_error or exc

    def wait_sql(self):
        """Blocks until the SQL member matched its manifest; True when the spool holds it, False when it could not
        be written (the replay decompresses it again). Raises what the check raised."""
        self.sql_ready.wait()
        if self.sql_checked is None:
            raise self.failure or IntegrityError(f"{self.fetched.name} ended before its {self.fetched.sql_name}")
        return self.sql_checked

    def wait_done(self):
        """Every member matched its manifest (the replay commits only then)."""
        self.thread.join()
        if self.failure is not None:
            raise self.failure

    def close(self):
        self.stopped.set()
        self.thread.join()


class SpoolEvents:
    """The SQL member's events read back from the spool, in the replay's own thread: send.Reader's interface (get,
    wait_done, fetched)."""

    def __init__(self, fetched, stream, handle, verifier):
        self.fetched, self.stream, self.handle, self.verifier = fetched, stream, handle, verifier
        self.left = verifier.size
        self.events = collections.deque()
        self.ended = False

    def get(self):
        while not self.events:
            if self.ended:
                raise IntegrityError(f"{self.fetched.sql_name}: read after its end")
            self._read()
        return self.events.popleft()

    def _read(self):
        block = self.handle.read(min(READ, self.left) or 1)
        if self.left == 0:  # the whole member was read: the spool holds nothing else
            if block:
                raise _tampered(self.fetched)
            self.events.extend(self.stream.close())
            self.events.append((SQL_DONE, None, None))
            self.ended = True
            return
        if not block:
            raise _tampered(self.fetched)  # shorter than the member that was checked
        self.left -= len(block)
        self.events.extend(self.stream.feed(block))

    def wait_done(self):
        self.verifier.wait_done()


@contextlib.contextmanager
def sql_events(fetched, stream, workdir):
    """The SQL member's events (send.Reader's interface), once its sha256 matched the signed manifest: read back
    from a spool when it fits in workdir (one decompression), else from the archive a second time. Every member is
    checked again before the replay's reader.wait_done() returns."""
    size = fetched.manifest.doc["members"][fetched.sql_name]["size"]
    if not spool_fits(workdir, size):
        authenticate(fetched)
        with Reader(fetched, stream) as reader:
            yield reader
        return
    spool, path = _spool_file(workdir)
    verifier = Verifier(fetched, spool)
    try:
        spooled = verifier.wait_sql()
        if spooled:
            with open(path, "rb") as spool:
                yield SpoolEvents(fetched, stream, spool, verifier)
    finally:
        verifier.close()
        os.unlink(path)
    if not spooled:  # the disk filled while spooling: the member matched, the Reader checks every member again
        with Reader(fetched, stream) as reader:
            yield reader
