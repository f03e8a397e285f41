"""The business fingerprint: one hash over the business apps' fixtures, the same canonical bytes every time."""

import hashlib

# the fixtures' bytes are the helper's (see the versions there), and so is the digest of a file: one implementation
# for both sides (the helper cannot import the engine: it runs in the application's interpreter)
from .django_helper.protocol import FIXTURE_FORMAT, file_sha256  # noqa: F401

FORMAT = "cnb-fp1"


def business_fingerprint(apps, fixtures):
    """apps: the business app labels; fixtures: {label: sha256 of its fixture} (absent = no rows).

    An app with no rows counts as the empty string, so adding its first row changes the fingerprint.
    """
    sha = hashlib.sha256(FORMAT.encode())
    for label in sorted(apps):
        sha.update(b"\0" + label.encode() + b"\0" + (fixtures.get(label) or "").encode())
    return sha.hexdigest()


def sql_fingerprint(table_digests):
    """One hash over the business tables' row digests ({app: {table: {rows, sum}}}, see pg.table_digests)."""
    sha = hashlib.sha256(b"cnb-sql1")
    for app in sorted(table_digests):
        for table in sorted(table_digests[app]):
            digest = table_digests[app][table]
            sha.update(f"\0{app}\0{table}\0{digest['rows']}\0{digest['sum']}".encode())
    return sha.hexdigest()
