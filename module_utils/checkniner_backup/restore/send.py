"""Send: the archive's SQL member, split by SqlStream, to the server one statement per protocol message over libpq
(psycopg2), COPY data through the copy protocol. Nothing between the archive's bytes and the server interprets them:
no psql (no backslash meta-command, no `:var`), and psycopg2 is given no parameters (it never touches a `%`).

The SQL member's events come from its spool (spool.py: the archive decompressed once), or, where it does not fit on
disk, from Reader: a thread that decompresses the archive (archive.extract_verified) a second time and hashes every
member again while the server works (spool.authenticate checked the SQL member before, in a first pass: this second
hash holds a file replaced in between to the manifest too, and checks the other members; the transaction is committed
only after it); blocks cross a bounded queue, so memory stays flat. After every statement the server's own word is
checked before the next one is sent: the restore's transaction is still open, standard_conforming_strings is still on
and client_encoding still ASCII-safe (a SET, set_config() or a function may have changed them; the split of what
follows depends on them).
"""

import queue
import threading

from .. import archive as archive_mod
from ..errors import ConfigError, IntegrityError
from .sqlstream import COPY, DATA, END_COPY, SQL, safe_encoding

SQL_DONE, _DONE, _FAILED = "sql done", "done", "failed"
QUEUE_BLOCKS = 8  # events in flight: a DATA event is at most about one block of the member (1 MiB)
COPY_READ = 1 << 20
MAX_WARNINGS = 1000


class Notices:
    """conn.notices: psycopg2 keeps only its last 50 notices in a list; this keeps every cnb-digest NOTICE and the
    first WARNINGs (named by the line of the statement that raised them), and drops the rest."""

    def __init__(self, member, digest_tag):
        self.member = member
        self.digest_tag = digest_tag
        self.line = 0  # of the statement being run
        self.digests = []
        self.warnings = []

    def append(self, text):
        text = text.rstrip()
        if self.digest_tag in text and text.startswith("NOTICE:"):
            self.digests.append(text)
        elif text.startswith("WARNING:") and len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(f"{self.member} line {self.line}: {text}")


class _Stopped(Exception):
    """The replay stopped (an error, a signal): the reader thread ends without reading further."""


class Reader:
    """The member's events from a thread: reader.get() -> (kind, payload, line), (_DONE, ...) at its end."""

    def __init__(self, fetched, stream):
        self.fetched, self.stream = fetched, stream
        self.queue = queue.Queue(QUEUE_BLOCKS)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sql-reader", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        while self.thread.is_alive():  # it may wait on a full queue: take from it until it sees the stop
            try:
                self.queue.get(timeout=0.1)
            except queue.Empty:
                pass
        self.thread.join()

    def get(self):
        kind, payload, line = self.queue.get()
        if kind == _FAILED:
            raise payload
        return kind, payload, line

    def _put(self, event):
        while True:
            try:
                self.queue.put(event, timeout=0.2)
                return
            except queue.Full:
                if self.stopped.is_set():
                    raise _Stopped() from None

    def _run(self):
        fetched, stream = self.fetched, self.stream
        name = fetched.sql_name
        left = [fetched.manifest.doc["members"][name]["size"]]

        def sink(block):  # the member's end is known by its size: the replay's checks need not wait for the rest
            left[0] -= len(block)
            if left[0] < 0:
                raise IntegrityError(f"{fetched.name}: member {name} does not match its manifest checksum (tampered?)")
            for event in stream.feed(block):
                self._put(event)
            if not left[0]:
                for event in stream.close():
                    self._put(event)
                self._put((SQL_DONE, None, None))

        try:  # every member hashed again (extract_verified): this file, now, is the one the first pass checked
            archive_mod.extract_verified(fetched.path, None, {name: sink}, manifest_sha256=fetched.manifest_sha256)
            self._put((_DONE, None, None))
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the replay, which raises it there
            try:
                self._put((_FAILED, exc, None))
            except _Stopped:
                pass

    def wait_done(self):
        """The rest of the archive read and every member's hash matched (after SQL_DONE)."""
        kind, _payload, _line = self.get()
        if kind != _DONE:
            raise IntegrityError(f"{self.fetched.sql_name}: {kind} after its end")


class _CopyData:
    """The file copy_expert reads: the DATA events of one COPY block, up to its END_COPY."""

    def __init__(self, reader):
        self.reader = reader
        self.buf = b""
        self.line = None

    def read(self, size=-1):
        while not self.buf:
            if self.line is not None:
                return b""
            kind, payload, line = self.reader.get()
            if kind == END_COPY:
                self.line = line
                return b""
            if kind != DATA:  # SqlStream never interleaves: a broken promise must not reach the server as data
                raise IntegrityError(f"{self.reader.fetched.sql_name}: COPY data interrupted by {kind}")
            self.buf = payload
        if size is None or size < 0 or size >= len(self.buf):
            chunk, self.buf = self.buf, b""
        else:
            chunk, self.buf = self.buf[:size], self.buf[size:]
        return chunk

    readline = read


def still_ours(conn, member, line):
    """The server's word after a statement: the restore's transaction is open, and what decides how the server
    splits the next statements is what SqlStream split them by."""
    from psycopg2.extensions import TRANSACTION_STATUS_INTRANS

    what = None
    if conn.get_transaction_status() != TRANSACTION_STATUS_INTRANS:
        what = "a statement that ended the restore's transaction"
    elif conn.get_parameter_status("standard_conforming_strings") != "on":
        what = "a statement that turned standard_conforming_strings off"
    elif not safe_encoding(conn.get_parameter_status("client_encoding")):
        what = "a statement that set a client_encoding that is not ASCII-safe"
    if what:
        raise IntegrityError(
            f"{member} line {line} holds {what}: archives are data, never code; refused, nothing was committed"
        )


def check_session(conn, target):
    """Before the first statement: the connection splits statements as SqlStream does (PGCLIENTENCODING, a role's
    or the database's settings could say otherwise)."""
    encoding = conn.get_parameter_status("client_encoding")
    if conn.get_parameter_status("standard_conforming_strings") != "on" or not safe_encoding(encoding):
        raise ConfigError(
            f"{target.describe()} starts sessions with standard_conforming_strings off or client_encoding {encoding}: "
            "the restore needs standard_conforming_strings on and an ASCII-safe encoding (unset PGCLIENTENCODING)"
        )


def stream_into(cur, reader, notices):
    """Every event of the member, in order, each checked by still_ours. Returns at the member's end (its hash is
    known at reader.wait_done())."""
    member, conn = reader.fetched.sql_name, cur.connection
    while True:
        kind, payload, line = reader.get()
        if kind == SQL_DONE:
            return
        notices.line = line
        if kind == SQL:
            cur.execute(payload)
        elif kind == COPY:
            data = _CopyData(reader)
            cur.copy_expert(payload, data, COPY_READ)
            if data.line is None:
                raise IntegrityError(f"{member} line {line}: COPY ended before its data did")
        else:
            raise IntegrityError(f"{member} line {line}: {kind} outside COPY")
        still_ours(conn, member, line)
