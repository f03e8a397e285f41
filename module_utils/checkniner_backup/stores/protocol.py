"""What every store offers (restic's backend.Backend): the archives under one place, each with a checksum, and the
latest.json pointer. tests/integration/test_store_conformance.py holds every implementation to it.

A store's answers are hints, never proofs: what a restore uses is authenticated by the archive's signed manifest.
"""

import base64
import json
from typing import Dict, Iterable, Iterator, List, Optional, Protocol

from ..archive import is_archive_name

POINTER = "latest.json"
PAGE_SIZE = 1000  # names per listing request; the conformance suite lowers it to prove the listing pages


class Store(Protocol):
    dest: object  # the destination it was opened for (stores.destinations); dest.describe() names it in messages
    page_size: int

    def describe(self) -> str:
        """Where it is, for messages, in its own words (s3://bucket/prefix at endpoint, directory /mnt/nas)."""

    def head(self, name: str) -> Optional[dict]:
        """{"size", "metadata" (lower-case keys; "sha256" is ours), "checksum_sha256" (base64, the store's own, or
        None), "multipart", "lock" ({"mode", "until"} or None)}, or None when the object is not there."""

    def upload(self, path: str, name: str, sha256: str, metadata: Dict[str, str]) -> bool:
        """Make sure the archive is there with a matching checksum (put only when it is not). True: put now."""

    def download(self, name: str, path: str) -> None:
        """The object's bytes into path (the caller checks them)."""

    def read_prefix(self, name: str, length: int) -> Optional[bytes]:
        """The object's first `length` bytes (all of it when shorter; b"" when empty), or None when it is not there:
        an archive's head (heads.py) is read without downloading the archive."""

    def iter_archives(self) -> Iterator[dict]:
        """{"name", "size", "modified"} of every archive, oldest first, page by page (flat memory)."""

    def delete(self, names: Iterable[str]) -> None:
        """Delete these archives; a name not there is no error. Raises StoreError naming the ones refused."""

    def read_pointer(self) -> Optional[dict]:
        """latest.json, or None when it is absent or not a pointer (garbage is never trusted)."""

    def write_pointer(self, doc: dict) -> None:
        """Replace latest.json (atomically: a reader sees the old pointer or the new one)."""

    def matches(self, head: Optional[dict], sha256: str, size: int) -> bool:
        """Whether a head() answer is this archive (protocol.matches: one rule for every store)."""

    def lock_possible(self) -> bool:
        """Whether an archive here may carry a retention the host cannot shorten (S3 Object Lock)."""

    def locks(self, names: List[str], now=None) -> Dict[str, dict]:
        """{name: {"mode", "until"}} of the names whose retention has not ended."""


def matches(head, sha256, size):
    """Whether a head() answer is this archive: its size, our sha256 in the metadata, and the store's own checksum of
    the whole file where it has one (a multipart upload's is of its parts' checksums: not comparable)."""
    if head is None or head["size"] != size or head["metadata"].get("sha256") != sha256:
        return False
    remote = head.get("checksum_sha256")
    if remote and "-" not in remote and not head.get("multipart"):
        return remote == checksum_of(sha256)
    return True  # size and our own sha256 metadata matched


def checksum_of(sha256):
    """A hex sha256 in the form S3 answers ChecksumSHA256 (base64 of the digest)."""
    return base64.b64encode(bytes.fromhex(sha256)).decode()


def pointer_body(doc):
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def parse_pointer(body):
    """The pointer document in these bytes, or None when they are not one (garbage, or naming no archive)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and is_archive_name(str(doc.get("name", ""))) else None
