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

    def join(self, name):  # no state.json: no archive has a recorded save sequence
        return f"/nonexistent-checkniner-backup-test/{name}"


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

    def read_prefix(self, name, length):
        return b""  # no head of ours: nothing authenticates, names decide (signed heads: test_heads.py)


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


# -- TIME (--at) ------------------------------------------------------------------------------------------------

import pytest  # noqa: E402

from checkniner_backup import config as config_mod  # noqa: E402
from checkniner_backup.errors import BackupError, ConfigError  # noqa: E402

T14 = dt.datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
LATER = dt.datetime(2026, 12, 1, tzinfo=UTC)  # now, for the archives of NAMES


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-30T14:00:00Z", T14),
        ("2026-11-30T14:00:00z", T14),
        ("2026-11-30T14:00:00+00:00", T14),
        ("2026-11-30T15:00:00+01:00", T14),  # an offset is turned into UTC
        ("2026-11-30 14:00", T14),  # no offset: UTC, like every archive name
        ("2026-11-30T14:00:00.000", T14),
        ("2026-11-30", T14.replace(hour=0)),  # a date: its midnight
        ("2026-11-30T140000Z", T14),  # an archive's own stamp, copied from its name
        ("  2026-11-30T14:00:00Z ", T14),
    ],
)
def test_iso_times(text, expected):
    assert latest.parse_at(text, now=NOW) == expected


@pytest.mark.parametrize(
    "text, ago",
    [("-2h", dt.timedelta(hours=2)), ("-30m", dt.timedelta(minutes=30)), ("-1d", dt.timedelta(days=1)),
     ("-1w", dt.timedelta(weeks=1)), ("-1d12h", dt.timedelta(hours=36)), ("-0", dt.timedelta(0)),
     ("-2H", dt.timedelta(hours=2))],
)  # fmt: skip
def test_times_ago(text, ago):
    assert latest.parse_at(text, now=NOW) == NOW - ago


@pytest.mark.parametrize(
    "text",
    ["", "yesterday", "2h", "-2", "-2x", "-h", "2026-13-45", "2026-11-30T25:00", "-99999999999w", "14:00"],
)
def test_garbage_is_one_clear_line_naming_the_option(text):
    with pytest.raises(ConfigError) as caught:
        latest.parse_at(text, "at", now=NOW)
    message = str(caught.value)
    assert message.startswith("at must be an ISO 8601 time (2026-11-30T14:00:00Z") and "-2h" in message
    assert "\n" not in message


NAMES = ["2026-11-30T100000Z.tar.gz", "2026-11-30T120000Z.tar.gz", "2026-11-30T140000Z.tar.gz"]


@pytest.mark.parametrize(
    "before, expected",
    [
        (T14.replace(hour=12), NAMES[1]),  # saved at TIME counts
        (T14.replace(hour=13, minute=59, second=59), NAMES[1]),
        (T14.replace(microsecond=5), NAMES[2]),  # names are to the second: 14:00:00.000005 is not before 14:00:00
        (dt.datetime(2030, 6, 1, tzinfo=UTC), NAMES[2]),  # the future: the newest, never a name from the future
    ],
)
def test_remote_at_lists_and_takes_the_newest_at_or_before(before, expected):
    names = NAMES + ["2026-11-30T130000Z-pre-restore.tar.gz", FUTURE]
    store = Store(names, {"name": NAMES[-1], "sha256": "s"})
    # the pointer names only the newest: with a time the listing decides, and no sha256 is taken from the pointer
    assert latest.remote_latest(store, LATER, before)[:2] == (expected, None)


def test_a_future_name_at_or_before_the_time_is_passed_over_with_a_warning():
    name, _, warnings = latest.remote_latest(Store(NAMES + [FUTURE]), LATER, dt.datetime(2031, 1, 1, tzinfo=UTC))
    assert name == NAMES[-1] and len(warnings) == 1 and f"passed over {FUTURE}" in warnings[0]


def make_dir(tmp_path, names):
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    return config_mod.load({"CHECKNINER_BACKUP_DIR": str(tmp_path)}, require_database=False)


def test_resolve_locally_by_time(tmp_path):
    cfg = make_dir(tmp_path, NAMES + ["2026-11-30T130000Z-pre-restore.tar.gz"])
    now = LATER
    (found,) = latest.resolve(cfg, "latest", before=T14.replace(hour=13), now=now)
    assert (found.name, found.source, found.path) == (NAMES[1], "local", str(tmp_path / NAMES[1]))
    (found,) = latest.resolve(cfg, "latest", "local", before=T14, now=now)
    assert found.name == NAMES[2]
    (found,) = latest.resolve(cfg, "latest", now=now)
    assert found.name == NAMES[2] and found.destination is None


@pytest.mark.parametrize("location", [None, "local"])
def test_a_time_before_the_oldest_names_the_oldest_in_one_line(tmp_path, location):
    cfg = make_dir(tmp_path, NAMES)
    with pytest.raises(BackupError) as caught:
        latest.resolve(cfg, "latest", location, before=T14.replace(hour=9), now=LATER)
    assert not isinstance(caught.value, ConfigError)  # exit 1, like no archive at all
    assert str(caught.value) == (
        f"no archive saved at or before 2026-11-30T09:00:00Z: the oldest is {NAMES[0]} (from 2026-11-30T10:00:00Z, "
        f"in {tmp_path}); `checkniner-backup list` shows them"
    )


def test_archives_at_keeps_one_row_per_location():
    rows = [{"name": n, "location": "local"} for n in NAMES] + [{"name": n, "location": "s3"} for n in NAMES[:2]]
    assert latest.archives_at(rows, T14.replace(hour=13), LATER) == [rows[1], rows[4]]
    assert latest.archives_at(rows, T14, LATER) == [rows[2], rows[4]]
    with pytest.raises(BackupError, match=f"^no archive saved at or before .*: the oldest is {NAMES[0]}"):
        latest.archives_at(rows, T14.replace(hour=9), LATER)


def test_the_save_sequence_outranks_the_name():
    assert latest.rank("2026-01-01T000000Z.tar.gz", 2) > latest.rank("2026-01-01T030000Z.tar.gz", 1)
    assert latest.rank("2026-01-01T000000Z.tar.gz", 1) > latest.rank("2026-01-01T030000Z.tar.gz", None)
    pointer = {"name": "2026-01-01T030000Z.tar.gz", "sequence": 1}
    assert latest.outranks("2026-01-01T000000Z.tar.gz", 2, pointer, NOW)
    assert not latest.outranks("2026-01-01T000000Z.tar.gz", None, pointer, NOW)
    assert latest.outranks("2026-01-01T000000Z.tar.gz", None, {"name": "2999-01-01T000000Z.tar.gz"}, NOW)


def test_local_latest_is_the_highest_recorded_sequence(tmp_path):
    from checkniner_backup.local import BackupDir
    from checkniner_backup.state import State

    bdir = BackupDir(str(tmp_path))
    state = State.load(bdir)
    fast, right = "2026-01-01T030000Z.tar.gz", "2026-01-01T001000Z.tar.gz"  # saved in this order
    for seq, name in enumerate((fast, right), start=1):
        (tmp_path / name).write_bytes(b"x")
        state.record_saved(name, "0" * 64, 1, "f", state.next_sequence())
        assert state.sequences()[name] == seq
    state.save()
    assert latest.local_latest(bdir, NOW) == right
    assert State.load(bdir).next_sequence() == 3
    assert State.load(bdir).next_sequence(floor=9) == 10  # a lost state goes on above the destinations' pointers
