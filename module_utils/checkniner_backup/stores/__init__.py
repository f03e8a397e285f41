"""Where archives go beyond the local directory: one Store protocol (protocol.py), one factory (open), an S3 store
(s3.py, the only importer of boto3) and a directory store (directory.py); destinations parsed from the environment
(destinations.py). Callers never name an implementation: stores.open(destination)."""

from .destinations import DirDestination, S3Destination, describe_all, destinations
from .protocol import POINTER, Store, matches

__all__ = ["POINTER", "DirDestination", "S3Destination", "Store", "describe_all", "destinations", "matches", "open"]


def open(destination):  # noqa: A001 - stores.open(dest), as restic's location registry opens a backend
    """The store of a destination: the one place that picks the implementation by the destination's kind."""
    if isinstance(destination, DirDestination):
        from .directory import DirStore

        return DirStore(destination)
    if isinstance(destination, S3Destination):
        from .s3 import S3Store

        return S3Store(destination)
    raise TypeError(f"no store for {type(destination).__name__}")
