"""The directory store: a local or mounted directory (a NAS, a second disk) with the S3 store's layout and promises.

- `<path>/<name>`: the archive, written through a temp file in the same directory, fsynced, renamed: a reader (or a
  crash) sees the whole archive or none.
- `<path>/.meta/<name>.json`: what S3 keeps in an object's metadata and checksum: our sha256 and fingerprint, and
  the size and mtime the file had when written. head() answers the recorded sha256 as the store's own checksum while
  the file still has that size and mtime (no re-read of a large archive on every run); a file changed since (by hand,
  by a restore of the NAS) is hashed again, so a changed file never matches. Written after the archive: an archive
  without its record is not trusted and is written again.
- `<path>/latest.json`: the same pointer, replaced atomically.

Object Lock is not supported: lock_possible() is False, nothing is ever reported locked (the NAS's own snapshots are
the way to keep what a host must not delete).
"""

import datetime as dt
import hashlib
import json
import os
import shutil

from ..archive import is_archive_name
from ..errors import StoreError
from ..fingerprint import file_sha256
from ..fsutil import atomic_file, atomic_write_bytes, fsync_dir
from .protocol import PAGE_SIZE, POINTER, checksum_of, matches, parse_pointer, pointer_body

META_DIR = ".meta"
_CHUNK = 1 << 20


class DirStore:
    def __init__(self, dest):
        self.dest = dest
        self.page_size = PAGE_SIZE  # a directory is listed in one scandir; kept for the protocol

    def describe(self):
        return self.dest.describe()

    matches = staticmethod(matches)

    def _path(self, name):
        return os.path.join(self.dest.path, name)

    def _meta_path(self, name):
        return os.path.join(self.dest.path, META_DIR, f"{name}.json")

    def _root(self, doing):
        """The directory, which must exist: an unmounted NAS fails here instead of filling its mount point."""
        if not os.path.isdir(self.dest.path):
            raise StoreError(
                f"{self.describe()} does not exist while {doing}: create it or mount it, or check its DIR_*_PATH"
            )
        return self.dest.path

    def _failed(self, doing, exc):
        return StoreError(f"{self.describe()} failed while {doing}: {exc.strerror or exc}")

    def head(self, name):
        """Like S3's HEAD: size, metadata and checksum, or None when the archive is not there."""
        self._root(f"checking {name}")
        try:
            st = os.stat(self._path(name))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._failed(f"checking {name}", exc) from None
        record = self._record(name)
        metadata = record.get("metadata") or {}
        if record.get("size") == st.st_size and record.get("mtime_ns") == st.st_mtime_ns and metadata.get("sha256"):
            checksum = checksum_of(metadata["sha256"])
        else:
            checksum = checksum_of(file_sha256(self._path(name)))  # changed since written: its bytes decide
        return {"lock": None, "size": st.st_size, "metadata": metadata, "checksum_sha256": checksum, "multipart": False}

    def _record(self, name):
        try:
            with open(self._meta_path(name), "rb") as handle:
                doc = json.load(handle)
        except (OSError, ValueError):
            return {}  # no record (copied in by hand, or a crash before it was written): not trusted
        return doc if isinstance(doc, dict) else {}

    def upload(self, path, name, sha256, metadata):
        """Make sure the archive is here with a matching checksum. Returns True when it was written now."""
        size = os.path.getsize(path)
        if self.matches(self.head(name), sha256, size):
            return False
        meta = {k.lower(): str(v) for k, v in metadata.items()}
        meta["sha256"] = sha256
        root = self._root(f"writing {name}")
        try:
            written = _copy_atomically(path, self._path(name))
            if written != sha256:
                os.unlink(self._path(name))
                raise StoreError(f"writing {name} to {self.describe()} did not verify: the local file changed")
            st = os.stat(self._path(name))
            os.makedirs(os.path.join(root, META_DIR), exist_ok=True)
            record = {"metadata": meta, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
            atomic_write_bytes(self._meta_path(name), pointer_body(record))
        except OSError as exc:
            raise self._failed(f"writing {name}", exc) from None
        if not self.matches(self.head(name), sha256, size):
            raise StoreError(f"writing {name} to {self.describe()} did not verify: the stored size or checksum differs")
        return True

    def download(self, name, path):
        self._root(f"reading {name}")
        try:
            shutil.copyfile(self._path(name), path)
        except OSError as exc:
            raise self._failed(f"reading {name}", exc) from None

    def read_prefix(self, name, length):
        """The file's first `length` bytes, or None when it is not there."""
        self._root(f"reading the head of {name}")
        try:
            with open(self._path(name), "rb") as handle:
                return handle.read(length)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._failed(f"reading the head of {name}", exc) from None

    def iter_archives(self):
        """Every archive, oldest first (lexical = time order)."""
        root = self._root("listing archives")
        try:
            with os.scandir(root) as entries:
                names = sorted(e.name for e in entries if is_archive_name(e.name) and e.is_file())
        except OSError as exc:
            raise self._failed("listing archives", exc) from None
        for name in names:
            try:
                st = os.stat(self._path(name))
            except FileNotFoundError:
                continue  # deleted since the listing
            modified = dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc).isoformat()
            yield {"name": name, "size": st.st_size, "modified": modified}

    def delete(self, names):
        """Delete each archive and its record; one not there is no error (as in S3). Refusals are reported after
        every name was tried."""
        root = self._root("deleting archives")
        refused = []
        for name in names:
            for path in (self._path(name), self._meta_path(name)):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    refused.append(f"{path} ({exc.strerror})")
        fsync_dir(root)
        if refused:
            more = f" and {len(refused) - 3} more" if len(refused) > 3 else ""
            raise StoreError(f"{self.describe()} refused to delete {', '.join(refused[:3])}{more}")

    def read_pointer(self):
        self._root(f"reading {POINTER}")
        try:
            with open(self._path(POINTER), "rb") as handle:
                body = handle.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._failed(f"reading {POINTER}", exc) from None
        return parse_pointer(body)

    def write_pointer(self, doc):
        self._root(f"writing {POINTER}")
        try:
            atomic_write_bytes(self._path(POINTER), pointer_body(doc))
        except OSError as exc:
            raise self._failed(f"writing {POINTER}", exc) from None

    def lock_possible(self):
        return False

    def locks(self, names, now=None):
        return {}


def _copy_atomically(src, dst):
    """Copy src to dst through a temp file beside dst (fsync, rename, fsync of the directory); the sha256 of the bytes
    written, hashed as they stream."""
    sha = hashlib.sha256()
    with atomic_file(dst, 0o640) as out, open(src, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            sha.update(block)
            out.write(block)
    return sha.hexdigest()
