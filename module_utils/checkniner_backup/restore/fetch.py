"""Fetch: the archive latest.resolve names (a path, a local name, or S3), brought into the private work directory,
checked against its record, decrypted, its manifest read and its signature checked. Nothing here touches any
database: an archive that is unsigned or signed by a key CHECKNINER_TRUSTED_KEYS does not list is refused here,
before restore and verify create, drop or write anything."""

import os
from dataclasses import dataclass, field
from typing import List, Optional

from .. import archive as archive_mod
from .. import child_env, crypto, latest, signing, stores
from ..errors import IntegrityError, StoreError
from ..fingerprint import file_sha256
from ..manifest import Manifest


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


def fetch(config, ref, workdir, extract=True, location=None, before=None, allow_unsigned=False, say=None):
    """Resolve `ref` (latest | NAME | PATH; latest.resolve), download and check it, check its signature; extract and
    check every member. Returns Fetched.

    extract False: only the manifest is read; the members are checked as they stream (replay.replay_sql).
    location: look in that location only ("local" or a destination's name); not for a PATH.
    before: the newest archive saved at or before that time instead of the newest (with ref latest).
    allow_unsigned, say: the request's opt-out of signing.check, and its front door's Spelling.
    """
    # first: a malformed trusted-keys file is refused before anything is looked up or downloaded
    signing.trusted_keys(config)
    (found,) = latest.resolve(config, ref, location, before)
    return fetch_found(config, found, workdir, extract, allow_unsigned, say)


def fetch_found(config, found, workdir, extract=True, allow_unsigned=False, say=None):
    """Bring in one archive latest.resolve answered (a latest.Found): download it when it is in a destination,
    check it against its record, check its signature, extract and check every member (see fetch).

    The sha256 recorded by a store (its pointer, its object metadata) or by state.json is a hint: a mismatch is
    refused early, a match proves nothing. What vouches for the archive is its signed manifest, and every member is
    held to it (sha256 over the whole member) before any byte of it is used: extract_verified here, or the replay's
    own pass (spool.py) when the SQL streams."""
    trusted = signing.trusted_keys(config)  # before anything is downloaded
    name, source, path, recorded = found.name, found.source, found.path, found.sha256
    if found.destination is not None:
        path, recorded = _download(stores.open(found.destination), name, recorded, workdir)
    warnings = list(found.warnings)
    sha = file_sha256(path)
    if recorded and sha != recorded:
        if source == "local":
            raise IntegrityError(f"{name} does not match the sha256 recorded when it was saved (damaged or tampered)")
        where = found.destination.describe()
        raise IntegrityError(f"{name} from {where} does not match its recorded sha256 (damaged or tampered upload)")
    if name.endswith(crypto.SUFFIX):
        path = crypto.decrypt(
            path, os.path.join(workdir, os.path.basename(path)[: -len(crypto.SUFFIX)]), child_env.gpg(config)
        )
    # the signature right after the manifest is read, before its content is believed or anything is extracted
    head = archive_mod.read_head(path)
    opt_out = say.allow_unsigned if say is not None else "--allow-unsigned"
    verdict = signing.check(head.manifest_bytes, head.signature, trusted, name, allow_unsigned, opt_out)
    manifest = Manifest.check(head.manifest, name)
    # the signed manifest says which archive it is and where it was written to: an old genuine archive copied under a
    # later name (a rollback), or another host's under this prefix, is refused here
    warnings += manifest.check_identity(name, source, found.destination)
    members = None
    if extract:
        members = os.path.join(workdir, "members")
        os.makedirs(members, mode=0o700, exist_ok=True)
        archive_mod.extract_verified(path, members, manifest_sha256=head.manifest_sha256)
    return Fetched(name, source, path, members, manifest, sha, head.manifest_sha256, verdict.signed_by,
                   warnings + list(verdict.warnings))  # fmt: skip
