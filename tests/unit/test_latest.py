"""latest.py: the one rule for `latest`, names from the future passed over (locally, in a listing, in a pointer)."""

import datetime as dt

from checkniner_backup import latest
from checkniner_backup.stores import S3Destination

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 23, 21, 30, 5, tzinfo=UTC)
REAL = ["2026-11-23T200000Z.tar.gz", "2026-11-23T210000Z.tar.gz"]
FUTURE = "2030-01-01T000000Z.tar.gz"


class Dir:
    path = "/backups"

    def __init__(self, names):
        self.names = sorted(names)

    def archive_names(self):
        return self.names


class Store:
    """The two reads latest.py makes of a destination, and how it names itself."""

    def __init__(self, names, pointer=None):
        self.dest = S3Destination(bucket="b")
        self.names, self.pointer = sorted(names), pointer

    def describe(self):
        return self.dest.describe()

    def read_pointer(self):
        return self.pointer

    def iter_archives(self):
        return ({"name": n} for n in self.names)


def test_local_latest_passes_over_the_future_and_safety_copies():
    bdir = Dir(REAL + [FUTURE, "2026-11-23T212000Z-pre-restore.tar.gz"])
    assert latest.local_latest(bdir, NOW) == REAL[-1]
    assert latest.local_latest(Dir([FUTURE]), NOW) is None


def test_a_pointer_naming_the_future_is_ignored_with_a_warning_and_the_listing_decides():
    name, sha, warnings = latest.remote_latest(Store(REAL + [FUTURE], {"name": FUTURE, "sha256": "x"}), NOW)
    assert (name, sha) == (REAL[-1], None)
    assert len(warnings) == 2
    assert f"latest.json names {FUTURE}, later than now: ignored" in warnings[0]
    assert f"passed over {FUTURE}" in warnings[1]
    assert latest.remote_latest(Store(REAL, {"name": REAL[0], "sha256": "s"}), NOW) == (REAL[0], "s", [])


def test_pointer_name_is_empty_for_none_and_for_the_future():
    assert latest.pointer_name({"name": REAL[0]}, NOW) == REAL[0]
    assert latest.pointer_name({"name": FUTURE}, NOW) == ""
    assert latest.pointer_name(None, NOW) == ""
