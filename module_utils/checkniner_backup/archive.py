"""The archive: YYYY-MM-DDTHHMMSSZ.tar.gz with manifest.json, <db>.sql and <app>.json at the top level.

manifest.json is the first member; when the host signs its archives, manifest.sig (signing.py's) is the second and
the manifest does not list it (a signature cannot be inside what it signs). This module reads and writes the tar
around them; what the manifest means is manifest.py's, what the signature means signing.py's.
"""

import contextlib
import datetime as dt
import functools
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from typing import Optional

from . import progress
from .errors import IntegrityError
from .fsutil import fsync_dir

FORMAT_VERSION = 1
SUFFIX = ".tar.gz"
LATEST = "latest.tar.gz"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
MAX_MANIFEST = 16 * 1024 * 1024  # members are hostile input: a manifest is kilobytes, a signature a few hundred bytes
MAX_SIGNATURE = 4096
NAME_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{6}Z)(?:-[A-Za-z0-9_.-]+)?\.tar\.gz(\.gpg)?$")
STAMP = "%Y-%m-%dT%H%M%SZ"
# Deflate: ISA-L's (python-isal) at its level 2 where installed: about a fifth of the CPU of zlib's level 3 for an
# archive a few percent larger (benchmarks/ANALYSIS.md); zlib's level 3 otherwise (half the CPU of 6, ~20% larger).
COMPRESSLEVEL = 3
ISAL_COMPRESSLEVEL = 2


SAFETY_TAG = "pre-restore"
# names later than now by more than this are from the future (a clock gone wrong, or a planted name): is_future()
FUTURE_TOLERANCE = dt.timedelta(hours=1)

try:  # ISA-L's inflate (python-isal) reads our gzip three times faster than zlib; zlib where it is not installed
    from isal import igzip as _igzip
    from isal.isal_zlib import error as _IsalError
except ImportError:  # a platform without its wheels (it is a dependency where they exist)
    _igzip, _IsalError = None, zlib.error
# what a damaged stream raises, besides tarfile's and OSError (a bad CRC, a truncated stream)
INFLATE_ERRORS = (zlib.error, _IsalError)


@contextlib.contextmanager
def reading(path):
    """The archive as a TarFile read in order, decompressed by ISA-L when python-isal is installed, else zlib. The
    bytes (and the archive format) are the same either way: only reading is faster."""
    if _igzip is None:
        with tarfile.open(path, mode="r:gz") as tar:
            yield tar
        return
    with _igzip.IGzipFile(path, "rb") as raw, tarfile.open(fileobj=raw, mode="r:") as tar:
        yield tar


def _deflating(raw, mtime):
    """The gzip stream an archive is written through: ISA-L's deflate where installed, else zlib's. Plain gzip
    either way (`tar -xzf` reads both); the temporary file's name stays out of the gzip header."""
    if _igzip is None:
        return gzip.GzipFile(filename="", mode="wb", compresslevel=COMPRESSLEVEL, fileobj=raw, mtime=mtime)
    return _igzip.IGzipFile(filename="", mode="wb", compresslevel=ISAL_COMPRESSLEVEL, fileobj=raw, mtime=mtime)


def is_archive_name(name):
    return bool(NAME_RE.match(name)) and name != LATEST


def is_safety_archive(name):
    """A copy of the database taken just before a restore overwrote it: kept and listed, but never `latest`."""
    match = NAME_RE.match(os.path.basename(name))
    return bool(match) and os.path.basename(name)[len(match.group(1)) :].startswith(f"-{SAFETY_TAG}.")


def safety_suffix():
    return f"-{SAFETY_TAG}{SUFFIX}"


def is_future(name, now):
    """Whether an archive's name is later than `now` plus FUTURE_TOLERANCE: a clock gone wrong, or a name planted to
    sort after everything. Such an archive is kept and listed, but never the base of the next name (name_for), never
    `latest` (latest.py, the pointer included) and never the newest that retention counts from (retention.py).
    Compared as text, like every archive name (lexical order is time order), so an impossible date decides too."""
    match = NAME_RE.match(os.path.basename(name))
    return bool(match) and match.group(1) > _future_limit(now)


@functools.lru_cache(maxsize=4)
def _future_limit(now):
    """The latest stamp that is not from the future (one strftime for a whole listing: `now` is fixed during it)."""
    return (now.astimezone(dt.timezone.utc) + FUTURE_TOLERANCE).strftime(STAMP)


def name_for(when, existing_names=(), suffix=SUFFIX):
    """A name for an archive taken at `when`, strictly after every existing one (lexical order is time order) that
    is not from the future."""
    when = when.astimezone(dt.timezone.utc).replace(microsecond=0)
    times = (time_of(n) for n in existing_names if is_archive_name(n) and not is_future(n, when))
    newest_time = max((t for t in times if t is not None), default=None)  # an impossible date names nothing
    if newest_time is not None and when <= newest_time:
        when = newest_time + dt.timedelta(seconds=1)
    return when.strftime(STAMP) + suffix


def time_of(name):
    """The time an archive's name stands for; None for a name that is not an archive's, or an impossible date
    (2026-13-45: a name written by hand, never by us)."""
    match = NAME_RE.match(os.path.basename(name))
    if not match:
        return None
    try:
        return dt.datetime.strptime(match.group(1), STAMP).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def write_archive(path, members, manifest, mtime, sign=None):
    """Write a tar.gz: manifest first, then its signature (when sign, a callable(manifest bytes) -> the signature
    member's bytes), then members [(arcname, file path)]; temp file, fsync, rename."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".tmp-{os.path.basename(path)}-{os.getpid()}")
    try:
        total = sum(os.path.getsize(source) for _arcname, source in members)
        with open(tmp, "wb") as raw, progress.phase("writing the archive", total) as shown:
            with _deflating(raw, mtime) as deflate:
                tar = tarfile.open(fileobj=deflate, mode="w", format=tarfile.PAX_FORMAT, copybufsize=1 << 20)
                with tar:
                    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
                    head = [(MANIFEST, data)] + ([(SIGNATURE, sign(data))] if sign else [])
                    for arcname, blob in head:
                        info = tarfile.TarInfo(arcname)
                        info.size, info.mtime, info.mode = len(blob), mtime, 0o640
                        tar.addfile(info, io.BytesIO(blob))
                    for arcname, source in members:
                        info = tarfile.TarInfo(arcname)
                        info.size, info.mtime, info.mode = os.path.getsize(source), mtime, 0o640
                        with open(source, "rb") as handle:
                            tar.addfile(info, progress.counted(handle, shown))
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, 0o640)
        os.replace(tmp, path)
        fsync_dir(directory)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return os.path.getsize(path)


@dataclass(frozen=True)
class Head:
    """The head of an archive: its manifest (parsed, and the exact bytes that were signed) and its signature."""

    manifest: dict
    manifest_bytes: bytes
    signature: Optional[bytes]  # the signature member's bytes; None: the archive is not signed

    @property
    def manifest_sha256(self):
        return hashlib.sha256(self.manifest_bytes).hexdigest()


def _small_member(tar, member, name, limit):
    """The bytes of a regular member no larger than limit (anything else is refused: members are hostile input)."""
    if not member.isfile() or member.size > limit:
        raise IntegrityError(f"{name}: its {member.name} is not a regular file of at most {limit} bytes")
    return tar.extractfile(member).read()


def _manifest_of(tar, name):
    """(parsed, exact bytes) of the first member, which must be manifest.json."""
    first = tar.next()
    if first is None or first.name != MANIFEST:
        raise IntegrityError(f"{name} has no {MANIFEST} first: not a checkniner-backup archive")
    data = _small_member(tar, first, name, MAX_MANIFEST)
    manifest = json.loads(data)
    members = manifest.get("members", {}) if isinstance(manifest, dict) else None
    if not isinstance(members, dict) or not all(isinstance(m, dict) for m in members.values()):
        raise IntegrityError(f"{name} has a {MANIFEST} that is not a checkniner-backup manifest")
    return manifest, data


def _unreadable(path, exc):
    return IntegrityError(f"{os.path.basename(path)} is unreadable ({exc.__class__.__name__}: {exc})")


def read_manifest(path):
    """The manifest of a local archive (it is the first member: only the head of the file is read)."""
    try:
        with reading(path) as tar:
            return _manifest_of(tar, os.path.basename(path))[0]
    except IntegrityError:
        raise
    except (tarfile.TarError, OSError, EOFError, ValueError, *INFLATE_ERRORS) as exc:
        raise _unreadable(path, exc) from None


def read_head(path):
    """The manifest and the signature of an archive (the first members only). Raises IntegrityError for a head that
    is not ours: no manifest first, a signature member too large or not a file, or two signature members."""
    name = os.path.basename(path)
    try:
        with reading(path) as tar:
            manifest, data = _manifest_of(tar, name)
            signature, second = None, tar.next()
            if second is not None and second.name == SIGNATURE:
                signature = _small_member(tar, second, name, MAX_SIGNATURE)
                third = tar.next()
                if third is not None and third.name == SIGNATURE:
                    raise IntegrityError(f"{name} holds a second {SIGNATURE}: not a checkniner-backup archive")
            return Head(manifest, data, signature)
    except IntegrityError:
        raise
    except (tarfile.TarError, OSError, EOFError, ValueError, *INFLATE_ERRORS) as exc:
        raise _unreadable(path, exc) from None


class ShortHead(Exception):
    """The bytes given end before the head does: read more of the object (head_from_prefix)."""


# a head's inflated bytes: the manifest, the signature and three tar headers at most
HEAD_PLAIN_LIMIT = MAX_MANIFEST + MAX_SIGNATURE + 3 * tarfile.BLOCKSIZE


def head_from_prefix(data, name, complete):
    """The Head of an archive from its first bytes (a ranged read), inflated incrementally and bounded.

    complete: data is the whole object. Raises ShortHead when the head goes on past data (read more), IntegrityError
    when it is not the head of an archive of ours or does not fit HEAD_PLAIN_LIMIT. "Unsigned" is concluded only from
    a second member that is there and is not the signature, never from bytes that ended."""
    inflate = zlib.decompressobj(wbits=31)  # gzip's header and trailer
    try:
        plain = inflate.decompress(data, HEAD_PLAIN_LIMIT)
    except zlib.error:
        raise IntegrityError(f"{name} is not a gzip stream: not a checkniner-backup archive") from None
    whole = inflate.eof or complete
    capped = bool(inflate.unconsumed_tail)

    def short():
        if capped:
            return IntegrityError(f"{name}: its manifest and signature exceed {HEAD_PLAIN_LIMIT} bytes: not ours")
        return IntegrityError(f"{name} is truncated inside its head") if whole else ShortHead()

    def need(end):
        if end > len(plain):
            raise short()

    try:
        need(tarfile.BLOCKSIZE)
        with tarfile.open(fileobj=io.BytesIO(plain), mode="r:") as tar:
            first = tar.firstmember
            if first is None or first.name != MANIFEST:
                raise IntegrityError(f"{name} has no {MANIFEST} first: not a checkniner-backup archive")
            need(first.offset_data + first.size)
            manifest, manifest_bytes = _manifest_of(tar, name)  # its next() answers the first member read by open
            blocks = -(-first.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
            need(first.offset_data + blocks + tarfile.BLOCKSIZE)
            second = tar.next()
            if second is None and not inflate.eof:
                raise short()
            signature = None
            if second is not None and second.name == SIGNATURE:
                need(second.offset_data + second.size)
                signature = _small_member(tar, second, name, MAX_SIGNATURE)
            return Head(manifest, manifest_bytes, signature)
    except (IntegrityError, ShortHead):
        raise
    except (tarfile.TarError, EOFError, ValueError, *INFLATE_ERRORS) as exc:
        if not whole:
            raise short() from None
        raise IntegrityError(f"{name} has a head that is not ours ({exc.__class__.__name__})") from None


def _check_before_reading(name, member, want, dest):
    """What a member's tar header says, held to its manifest before a byte of it is read or a block allocated: a
    sparse member (a few bytes that read back as gigabytes) is not ours, a size other than the manifest's is refused
    now rather than after streaming it, and a member that would not fit where it is written is refused before it
    fills the disk."""
    if member.issparse():
        raise IntegrityError(f"{name}: member {member.name} is a sparse file, which no archive of ours holds: refused")
    if member.size != want.get("size"):
        raise IntegrityError(
            f"{name}: member {member.name} is {member.size} bytes, its manifest says {want.get('size')} (tampered?)"
        )
    if dest is not None and member.size > shutil.disk_usage(dest).free:
        raise IntegrityError(
            f"{name}: member {member.name} ({member.size} bytes) does not fit in {dest}: refused before writing it"
        )


def _member_blocks(tar, member, size=1 << 20):
    """A regular, not sparse member's bytes in blocks, read straight from the decompressed stream: its data is one
    run at offset_data (tarfile.extractfile's reader copies every block once more, ~a quarter of the CPU of reading
    an archive). tar.next() seeks past it by itself. A stream that ends early raises EOFError."""
    source, left = tar.fileobj, member.size
    source.seek(member.offset_data)
    while left:
        block = source.read(min(size, left))
        if not block:
            raise EOFError(f"{member.name} ends {left} bytes early")
        left -= len(block)
        yield block


def extract_verified(path, dest, stream=None, upto=None, manifest_sha256=None, checked=None):
    """Extract every member into dest, checking each one's sha256 and size against the manifest as it streams.

    stream: {member name: callable(block)}: those members are handed over block by block instead of written (the SQL
    member goes straight to psql); dest None: the other members are checked, not written. Nothing handed over may be
    trusted before this returns: the check of a member ends with its last block. upto: a set of member names: stop
    once those are read, for an archive whose whole sha256 the caller checked against a record. That checksum already
    vouches for every byte, so those members are checked by size only, not hashed a second time. manifest_sha256:
    the sha256 of the manifest bytes whose signature was checked (read_head): a manifest that differs now (the file
    was replaced since) is refused. The signature member, second, is skipped (read_head reads it). checked:
    callable(member name), called as soon as that member matched its manifest, while the rest is still read (a
    streamed member may be used from then on, the others' checks are still to come). A member named twice is
    refused. Returns the manifest. Raises IntegrityError naming the first problem (truncated, tampered, missing
    member).
    """
    name = os.path.basename(path)
    stream = stream or {}
    try:
        with reading(path) as tar, progress.phase(f"reading {name}") as shown:
            manifest, data = _manifest_of(tar, name)
            if manifest_sha256 is not None and hashlib.sha256(data).hexdigest() != manifest_sha256:
                raise IntegrityError(f"{name} changed since its manifest and signature were checked: refused")
            expected = manifest.get("members", {})
            wanted = upto if upto is not None else expected
            shown.expect(sum(m.get("size") or 0 for n, m in expected.items() if n in wanted) or None)
            seen = set()
            for index, member in enumerate(iter(tar.next, None)):
                if member.name == SIGNATURE:
                    if index != 0:
                        raise IntegrityError(f"{name} holds a second {SIGNATURE}: not a checkniner-backup archive")
                    _small_member(tar, member, name, MAX_SIGNATURE)
                    continue
                if not member.isfile() or "/" in member.name or member.name.startswith("."):
                    raise IntegrityError(f"{name} holds an unexpected member {member.name!r}")
                want = expected.get(member.name)
                if want is None:
                    raise IntegrityError(f"{name} holds {member.name}, which its manifest does not list")
                if member.name in seen:  # a second copy would follow bytes already handed over as checked
                    raise IntegrityError(f"{name} holds {member.name} twice: not a checkniner-backup archive")
                _check_before_reading(name, member, want, dest if member.name not in stream else None)
                sha = None if upto is not None and member.name in upto else hashlib.sha256()
                sink = stream.get(member.name)
                with contextlib.ExitStack() as stack:
                    if sink is None and dest is not None:
                        sink = stack.enter_context(open(os.path.join(dest, member.name), "wb")).write
                    for block in _member_blocks(tar, member):
                        if sha is not None:
                            sha.update(block)
                        if sink is not None:
                            sink(block)
                        shown.add(len(block))
                if (sha is not None and sha.hexdigest() != want["sha256"]) or member.size != want["size"]:
                    raise IntegrityError(
                        f"{name}: member {member.name} does not match its manifest checksum (tampered?)"
                    )
                seen.add(member.name)
                if checked is not None:
                    checked(member.name)
                if upto is not None and upto <= seen:
                    return manifest
            missing = sorted(set(expected) - seen)
            if missing:
                raise IntegrityError(f"{name} is missing member(s) {', '.join(missing)} listed in its manifest")
            return manifest
    except IntegrityError:
        raise
    except (tarfile.TarError, OSError, EOFError, ValueError, KeyError, TypeError, *INFLATE_ERRORS) as exc:
        raise IntegrityError(f"{name} is damaged or truncated ({exc.__class__.__name__}: {exc})") from None
