"""Authenticated heads: which objects of a location are archives of ours, told from their first bytes.

An archive's manifest and signature are its first two members (archive.write_archive), so a ranged read of the first
kilobytes (Store.read_prefix), inflated incrementally and bounded (archive.head_from_prefix; HEAD_LIMIT compressed
bytes at most: a head that does not fit does not authenticate), says whether an object is ours without downloading
it. It authenticates when fetch would accept its head: signed by a trusted key (signing.trusted_keys), a manifest of
ours (Manifest.check) naming this very archive and, in a destination, a prefix it was written for
(Manifest.check_identity: a genuine archive copied under a planted name does not authenticate). The members are not
read: an object whose head is genuine and whose body was replaced is already lost, and a restore checks every member.
Retention counts only what authenticates (retention.py), and `latest` ranks those by their signed sequence
(latest.py).

Encrypted archives (.tar.gz.gpg) do not authenticate by a head read: the pruner and the controller do not hold the
recipient's private key (that is the point of encrypting to it), and gpg gives no verified prefix of a stream. They
are left and reported ("encrypted"), never deleted by prune; counting them needs a signed sidecar written at upload.

Cost: one ranged read per object, once. What a read found is cached per location (cache_dir: `heads/` in the backup
directory, else ~/.cache/checkniner-backup/heads), keyed by the name and the size and modification time the listing
answers (S3 sets LastModified on every put, so an object replaced since is read again). The cache records what the
head is (its signer's fingerprint, its sequence, or why it is not ours), not whether that signer is trusted: a key
trusted or removed since takes effect at once. It is read and rewritten in name order beside the listing (a merge
join), so memory stays flat however many archives a location holds.
"""

import hashlib
import os
from dataclasses import dataclass
from typing import Optional

from . import archive, signing
from .errors import IntegrityError
from .manifest import Manifest

FIRST_READ = 64 * 1024  # a manifest is kilobytes compressed: one request for nearly every archive
HEAD_LIMIT = 4 * 1024 * 1024  # compressed bytes read at most (64 KiB, then 256 KiB, 1 MiB, 4 MiB)
ENCRYPTED = "encrypted: its head cannot be read without the private key"
_CACHE_FORMAT = "checkniner-heads 1"


@dataclass(frozen=True)
class Seen:
    """What an object's head is, whoever is trusted: signer (the fingerprint of a valid signature's key; None:
    unsigned), sequence (the signed save sequence, or None), problem ("" when it is an archive of ours under its own
    name and prefix, else why not)."""

    signer: Optional[str] = None
    sequence: Optional[int] = None
    problem: str = ""

    def why_not(self, trusted):
        """Why this head does not authenticate with these trusted fingerprints, or "" when it does."""
        if self.problem:
            return self.problem
        if self.signer is None:
            return "not signed"
        if self.signer not in trusted:
            return f"signed by {self.signer}, a key not trusted here"
        return ""


def examine(read_prefix, name, source="s3", destination=None):
    """Seen of the object `name`, read through read_prefix(length) -> its first bytes (None: not there)."""
    if name.endswith(".gpg"):
        return Seen(problem=ENCRYPTED)
    length = FIRST_READ
    try:
        while True:
            data = read_prefix(length)
            if data is None:
                return Seen(problem="gone since the listing")
            complete = len(data) < length
            try:
                head = archive.head_from_prefix(data, name, complete)
                break
            except archive.ShortHead:
                if length >= HEAD_LIMIT:
                    return Seen(problem=f"its head does not fit in its first {HEAD_LIMIT} bytes")
                length *= 4
        verdict = signing.check(head.manifest_bytes, head.signature, (), name, allow_unsigned=True)
        manifest = Manifest.check(head.manifest, name)
        manifest.check_identity(name, source, destination)
    except IntegrityError as exc:
        return Seen(problem=_short(str(exc)))
    return Seen(verdict.signed_by, manifest.sequence)


def _short(message):
    """A refusal's message as a listing's reason: one line, without what restore adds about the database."""
    text = " ".join(message.split())
    for tail in (": refused before any database was touched", ", refused before any database was touched"):
        text = text.replace(tail, "")
    return text.replace("\t", " ")


def trusted_fingerprints(config):
    return frozenset(key.fingerprint for key in signing.trusted_keys(config))


def cache_dir(config=None):
    """Where the heads a prune or a restore read are remembered: the backup directory (the state's place), else the
    user's cache directory (a pruner on the controller: ~/.cache/checkniner-backup/heads)."""
    if config is not None and config.backup_dir:
        return os.path.join(config.backup_dir, "heads")
    return os.path.join(os.path.expanduser("~"), ".cache", "checkniner-backup", "heads")


def cache_path(directory, where):
    """The cache file of one location (`where`: its describe(), or "local")."""
    return os.path.join(directory, hashlib.sha256(where.encode()).hexdigest()[:24] + ".tsv")


def cache_line(name, size, modified, seen):
    sequence = "-" if seen.sequence is None else str(seen.sequence)
    return "\t".join((name, str(size), str(modified), seen.signer or "-", sequence, seen.problem)) + "\n"


def _parse_line(line):
    """(name, size, modified, Seen) of a cache line, or None for a line that is not one (it is read again)."""
    fields = line.rstrip("\n").split("\t")
    if len(fields) != 6:
        return None
    name, size, modified, signer, sequence, problem = fields
    try:
        number = None if sequence == "-" else int(sequence)
    except ValueError:
        return None
    return name, size, modified, Seen(None if signer == "-" else signer, number, problem)


class Scan:
    """Heads of one location's listing, in name order, from the cache or a read (merge join: flat memory).

    with Scan(path, read_prefix, source, destination) as scan: scan.seen(row) for each listing row {name, size,
    modified}, oldest first; on a clean exit the cache is rewritten with exactly the rows seen (atomically).
    read counts the heads read (not from the cache)."""

    def __init__(self, path, read_prefix, source="s3", destination=None, write=True):
        self.path, self._read, self.source, self.destination, self.write = path, read_prefix, source, destination, write
        self.read = 0
        self._old, self._next, self._out, self._tmp = None, None, None, None

    def __enter__(self):
        if self.path is None:
            return self
        try:
            self._old = open(self.path, encoding="utf-8")  # noqa: SIM115 (read beside the listing, closed on exit)
            if self._old.readline() != _CACHE_FORMAT + "\n":
                self._old.close()
                self._old = None
        except OSError:
            self._old = None
        self._advance()
        if self.write:
            try:
                os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
                self._tmp = f"{self.path}.tmp-{os.getpid()}"
                self._out = open(self._tmp, "w", encoding="utf-8")  # noqa: SIM115
                self._out.write(_CACHE_FORMAT + "\n")
            except OSError:
                self._out = None  # a read-only home: heads are read again next time, nothing else changes
        return self

    def _advance(self):
        self._next = None
        while self._old is not None and self._next is None:
            line = self._old.readline()
            if not line:
                self._old.close()
                self._old = None
                return
            self._next = _parse_line(line)

    def seen(self, row):
        name, size, modified = row["name"], str(row.get("size")), str(row.get("modified"))
        while self._next is not None and self._next[0] < name:
            self._advance()
        found = None
        if self._next is not None and self._next[:3] == (name, size, modified):
            found = self._next[3]
        if found is None:
            found = examine(lambda n: self._read(name, n), name, self.source, self.destination)
            self.read += 1
        if self._out is not None and "gone" not in found.problem:
            self._out.write(cache_line(name, size, modified, found))
        return found

    def __exit__(self, kind, value, tb):
        if self._old is not None:
            self._old.close()
        if self._out is None:
            return
        try:
            self._out.close()
            if kind is None:
                os.chmod(self._tmp, 0o600)
                os.replace(self._tmp, self.path)
        except OSError:
            pass
        finally:
            if os.path.exists(self._tmp):
                os.unlink(self._tmp)


@dataclass(frozen=True)
class Trust:
    """What authenticates here: the trusted keys' fingerprints (none: nothing does), the heads cache directory (None:
    no cache, every head is read), and whether this host encrypts (BACKUPS_GPG_RECIPIENT): `latest` then takes an
    encrypted archive by its name and pointer, as fetch decrypts and authenticates it before use."""

    fingerprints: frozenset = frozenset()
    cache: Optional[str] = None
    encrypted: bool = False

    @classmethod
    def of(cls, config):
        return cls(trusted_fingerprints(config), cache_dir(config), bool(config.gpg_recipient))


def scan_store(cache, store, write=True):
    """A Scan of a destination's listing, its heads cached under `cache` (None: not cached)."""
    path = cache_path(cache, store.describe()) if cache else None
    return Scan(path, store.read_prefix, "s3", store.dest, write and path is not None)


def one(store, name):
    """Seen of one object of a store (the archive a pointer names): one ranged read, not cached (no listing row
    says its size and time)."""
    return examine(lambda n: store.read_prefix(name, n), name, "s3", store.dest)
