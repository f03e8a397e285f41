"""Fetch: resolve the archive (a path, a local name, or S3), bring it into the private work directory, check it
against its record, decrypt it, read its manifest and check its signature. Nothing here touches any database: an
archive that is unsigned or signed by a key CHECKNINER_TRUSTED_KEYS does not list is refused here, before restore
and verify create, drop or write anything."""

import os
from dataclasses import dataclass, field
from typing import List, Optional

from .. import archive as archive_mod
from .. import child_env, crypto, latest, signing, stores
from ..errors import BackupError, ConfigError, IntegrityError, StoreError
from ..fingerprint import file_sha256
from ..local import BackupDir
from ..manifest import Manifest
from ..state import State
from .request import names_a_path


@dataclass
class Fetched:
    name: str
    source: str  # "path" | "local" | the S3 destination's name
    path: str  # the (decrypted) archive file
    members: Optional[str]  # directory holding the verified members; None: not extracted (SQL mode streams them)
    manifest: Manifest
    sha256: str
    manifest_sha256: str  # of the manifest bytes whose signature was checked: every later read is held to them
    signed_by: Optional[str] = None  # the fingerprint of the key that signed it; None: unsigned
    warnings: List[str] = field(default_factory=list)  # for the result: unsigned, a pointer from the future, ...
    # the archive's sha256 matched the one recorded when it was saved (state, latest.json, object metadata): members
    # the restore does not use need not be read, the archive's checksum covers them
    sealed: bool = False

    @property
    def sql_name(self):
        return self.manifest.sql_name

    def fixture(self, label):
        return os.path.join(self.members, f"{label}.json")


def _download(store, name, expected_sha, workdir):
    """The object downloaded into workdir. Returns (path, the sha256 recorded for it: the pointer's or the
    object's metadata). The file's own checksum is compared by fetch()."""
    head = store.head(name)
    if head is None:
        raise StoreError(f"{name} is named by {store.describe()} but is not there: run `checkniner-backup run`")
    recorded = expected_sha or head["metadata"].get("sha256")
    path = os.path.join(workdir, name)
    store.download(name, path)
    if expected_sha and head["metadata"].get("sha256") not in (None, expected_sha) and file_sha256(path) == recorded:
        # the object is the one the pointer names, its metadata is not: a hand-made or tampered upload
        raise IntegrityError(f"{name}: latest.json and the object's metadata disagree on its sha256")
    return path, recorded


def _locate(config, bdir, ref, workdir, warnings):
    """(name, source, path, recorded sha256 or None) of `ref`: latest | NAME | PATH. What `latest` had to pass over
    (a pointer naming the future) is appended to warnings."""
    if names_a_path(ref):
        if not os.path.isfile(ref):
            raise ConfigError(
                f"no archive {ref!r}: give latest, an archive name (YYYY-MM-DDTHHMMSSZ.tar.gz) or a path to one"
            )
        return os.path.basename(ref), "path", os.path.abspath(ref), None  # no record: every member is checked
    if ref == "latest":
        found = latest.find_latest(config, bdir)
        warnings += found.warnings
        if found.destination is not None:
            path, recorded = _download(stores.open(found.destination), found.name, found.sha256, workdir)
            return found.name, found.destination.name, path, recorded
        name = found.name
    elif bdir and os.path.isfile(bdir.join(ref)):
        name = ref
    else:
        for dest in config.destinations:
            store = stores.open(dest)
            if store.head(ref) is not None:
                path, recorded = _download(store, ref, None, workdir)
                return ref, dest.name, path, recorded
        where = bdir.path if bdir else "no CHECKNINER_BACKUP_DIR"
        raise ConfigError(
            f"no archive named {ref} in {where} or {latest.describe_remote(config)}: "
            "`checkniner-backup list [--remote]` shows the names"
        )
    return _local(bdir, name)


def _local(bdir, name):
    """(name, source, path, recorded sha256 or None) of an archive in the backup directory: state.json's record."""
    return name, "local", bdir.join(name), State.load(bdir).archive(name).get("sha256")


def _locate_in(config, bdir, ref, location, workdir, warnings):
    """(name, source, path, recorded sha256 or None) of `ref` (latest | NAME) in one location only, "local" or an S3
    destination's name: the drill proves each copy, the S3 one downloaded through its pointer."""
    if location == "local":
        where = bdir.path if bdir else "no CHECKNINER_BACKUP_DIR"
        name = latest.local_latest(bdir) if ref == "latest" else ref
        if not name or bdir is None or not os.path.isfile(bdir.join(name)):
            raise BackupError(f"no archive {'' if ref == 'latest' else f'named {ref} '}in {where}")
        return _local(bdir, name)
    store = stores.open(next(d for d in config.destinations if d.name == location))
    name, sha = None, None
    if ref == "latest":
        name, sha, passed_over = latest.remote_latest(store)
        warnings += passed_over
    else:
        name = ref
    if not name:
        raise BackupError(f"no archive in {store.describe()}: the off-site copy is missing")
    path, recorded = _download(store, name, sha, workdir)
    return name, location, path, recorded


def fetch(config, ref, workdir, extract=True, location=None):
    """Resolve `ref` (latest | NAME | PATH), download and check it, check its signature; extract and check every
    member. Returns Fetched.

    extract False: only the manifest is read; the members are checked as they stream (replay.replay_sql).
    location: look in that location only ("local" or an S3 destination's name); not for a PATH.
    """
    # first: a malformed trusted-keys file is refused before anything is downloaded
    trusted = signing.trusted_keys(config)
    bdir = BackupDir(config.backup_dir, create=False) if config.backup_dir else None
    warnings = []
    ref = (ref or "latest").strip()
    if location is None:
        name, source, path, recorded = _locate(config, bdir, ref, workdir, warnings)
    else:
        name, source, path, recorded = _locate_in(config, bdir, ref, location, workdir, warnings)
    sha = file_sha256(path)
    if recorded and sha != recorded:
        if source == "local":
            raise IntegrityError(f"{name} does not match the sha256 recorded when it was saved (damaged or tampered)")
        where = next(d.describe() for d in config.destinations if d.name == source)
        raise IntegrityError(f"{name} from {where} does not match its recorded sha256 (damaged or tampered upload)")
    if name.endswith(crypto.SUFFIX):
        path = crypto.decrypt(
            path, os.path.join(workdir, os.path.basename(path)[: -len(crypto.SUFFIX)]), child_env.gpg(config)
        )
    # the signature right after the manifest is read, before its content is believed or anything is extracted
    head = archive_mod.read_head(path)
    verdict = signing.check(head.manifest_bytes, head.signature, trusted, name)
    manifest = Manifest.check(head.manifest, name)
    members = None
    if extract:
        members = os.path.join(workdir, "members")
        os.makedirs(members, mode=0o700, exist_ok=True)
        archive_mod.extract_verified(path, members, manifest_sha256=head.manifest_sha256)
    return Fetched(name, source, path, members, manifest, sha, head.manifest_sha256, verdict.signed_by,
                   warnings + list(verdict.warnings), sealed=bool(recorded))  # fmt: skip
