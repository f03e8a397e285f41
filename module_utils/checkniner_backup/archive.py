"""The archive: YYYY-MM-DDTHHMMSSZ.tar.gz with manifest.json, <db>.sql and <app>.json at the top level."""

import contextlib
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import zlib

from . import progress
from .errors import IntegrityError
from .fsutil import fsync_dir

FORMAT_VERSION = 1
SUFFIX = ".tar.gz"
LATEST = "latest.tar.gz"
MANIFEST = "manifest.json"
NAME_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{6}Z)(?:-[A-Za-z0-9_.-]+)?\.tar\.gz(\.gpg)?$")
STAMP = "%Y-%m-%dT%H%M%SZ"
# Deflate: ISA-L's (python-isal) at its level 2 where installed: about a fifth of the CPU of zlib's level 3 for an
# archive a few percent larger (benchmarks/ANALYSIS.md); zlib's level 3 otherwise (half the CPU of 6, ~20% larger).
COMPRESSLEVEL = 3
ISAL_COMPRESSLEVEL = 2


SAFETY_TAG = "pre-restore"

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


def name_for(when, existing_names=(), suffix=SUFFIX):
    """A name for an archive taken at `when`, strictly after every existing one (lexical order is time order)."""
    when = when.astimezone(dt.timezone.utc).replace(microsecond=0)
    newest = max((n for n in existing_names if is_archive_name(n)), default=None)
    if newest:
        newest_time = dt.datetime.strptime(NAME_RE.match(newest).group(1), STAMP).replace(tzinfo=dt.timezone.utc)
        if when <= newest_time:
            when = newest_time + dt.timedelta(seconds=1)
    return when.strftime(STAMP) + suffix


def time_of(name):
    match = NAME_RE.match(os.path.basename(name))
    if not match:
        return None
    return dt.datetime.strptime(match.group(1), STAMP).replace(tzinfo=dt.timezone.utc)


def write_archive(path, members, manifest, mtime):
    """Write a tar.gz: manifest first, then members [(arcname, file path)]; temp file, fsync, rename."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".tmp-{os.path.basename(path)}-{os.getpid()}")
    try:
        total = sum(os.path.getsize(source) for _arcname, source in members)
        with open(tmp, "wb") as raw, progress.phase("writing the archive", total) as shown:
            with _deflating(raw, mtime) as deflate:
                tar = tarfile.open(fileobj=deflate, mode="w", format=tarfile.PAX_FORMAT, copybufsize=1 << 20)
                with tar:
                    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
                    info = tarfile.TarInfo(MANIFEST)
                    info.size, info.mtime, info.mode = len(data), mtime, 0o640
                    tar.addfile(info, io.BytesIO(data))
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


def read_manifest(path):
    """The manifest of a local archive (it is the first member: only the head of the file is read)."""
    try:
        with reading(path) as tar:
            member = tar.next()
            if member is None or member.name != MANIFEST:
                raise IntegrityError(
                    f"{os.path.basename(path)} has no {MANIFEST} first: not a checkniner-backup archive"
                )
            return json.load(tar.extractfile(member))
    except (tarfile.TarError, OSError, EOFError, ValueError, *INFLATE_ERRORS) as exc:
        raise IntegrityError(f"{os.path.basename(path)} is unreadable ({exc.__class__.__name__}: {exc})") from None


def extract_verified(path, dest, stream=None, upto=None):
    """Extract every member into dest, checking each one's sha256 and size against the manifest as it streams.

    stream: {member name: callable(block)}: those members are handed over block by block instead of written (the SQL
    member goes straight to psql); dest None: the other members are checked, not written. Nothing handed over may be
    trusted before this returns: the check of a member ends with its last block. upto: a set of member names: stop
    once those are read, for an archive whose whole sha256 the caller checked against a record. That checksum already
    vouches for every byte, so those members are checked by size only, not hashed a second time. Returns the
    manifest. Raises IntegrityError naming the first problem (truncated, tampered, missing member).
    """
    name = os.path.basename(path)
    stream = stream or {}
    try:
        with reading(path) as tar, progress.phase(f"reading {name}") as shown:
            first = tar.next()
            if first is None or first.name != MANIFEST:
                raise IntegrityError(f"{name} has no {MANIFEST} first: not a checkniner-backup archive")
            manifest = json.load(tar.extractfile(first))
            expected = manifest.get("members", {})
            wanted = upto if upto is not None else expected
            shown.expect(sum(m.get("size") or 0 for n, m in expected.items() if n in wanted) or None)
            seen = set()
            for member in iter(tar.next, None):
                if not member.isfile() or "/" in member.name or member.name.startswith("."):
                    raise IntegrityError(f"{name} holds an unexpected member {member.name!r}")
                want = expected.get(member.name)
                if want is None:
                    raise IntegrityError(f"{name} holds {member.name}, which its manifest does not list")
                sha = None if upto is not None and member.name in upto else hashlib.sha256()
                sink = stream.get(member.name)
                with contextlib.ExitStack() as stack:
                    src = stack.enter_context(tar.extractfile(member))
                    if sink is None and dest is not None:
                        sink = stack.enter_context(open(os.path.join(dest, member.name), "wb")).write
                    for block in iter(lambda src=src: src.read(1 << 20), b""):
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
                if upto is not None and upto <= seen:
                    return manifest
            missing = sorted(set(expected) - seen)
            if missing:
                raise IntegrityError(f"{name} is missing member(s) {', '.join(missing)} listed in its manifest")
            return manifest
    except IntegrityError:
        raise
    except (tarfile.TarError, OSError, EOFError, ValueError, KeyError, *INFLATE_ERRORS) as exc:
        raise IntegrityError(f"{name} is damaged or truncated ({exc.__class__.__name__}: {exc})") from None
