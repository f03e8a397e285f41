"""Retention: the tiered policy against an independent computation, its configuration, and prune on a local directory.

The expected sets come from tests/support/retention_oracle.py, computed the straightforward way (group every archive
by its bucket, take the newest of each bucket, keep the N most recent buckets), not by calling into retention.py.
"""

import datetime as dt
import json
import os
import random

import pytest
from support.retention_oracle import expected_keep, history

from checkniner_backup import config, retention, retention_policy
from checkniner_backup.errors import ConfigError
from checkniner_backup.lock import run_lock

UTC = dt.timezone.utc
STAMP = "%Y-%m-%dT%H%M%SZ"
START = dt.datetime(2025, 3, 1, tzinfo=UTC)
DEFAULT = retention_policy.Retention()


def test_400_days_at_5_minutes_keeps_exactly_the_expected_set():
    names = history(400)
    assert len(names) == 115200
    decided = retention.plan(names, DEFAULT)
    expected = expected_keep(names, DEFAULT)
    assert set(decided.keep) == expected
    assert decided.delete == sorted(set(names) - expected)
    # the shape of the default policy: 24h at full density, then 24 more hours, ~30 days, 12 weeks, every month
    assert 24 * 12 < len(expected) < 24 * 12 + 24 + 30 + 12 + 14 + 1
    assert decided.keep[names[-1]] == ["newest", "within", "hourly", "daily", "weekly", "monthly"]
    assert decided.keep["2025-03-31T235500Z.tar.gz"] == ["monthly"]  # the oldest kept: 14 months have archives
    assert names[0] not in decided.keep


@pytest.mark.parametrize(
    "policy",
    [
        retention_policy.Retention(within_seconds=0, hourly=0, daily=0, weekly=0, monthly=0),
        retention_policy.Retention(within_seconds=90 * 60, hourly=5, daily=0, weekly=3, monthly=1),
        retention_policy.Retention(within_seconds=7 * 86400, hourly=0, daily=3, weekly=0, monthly=0),
        retention_policy.Retention(within_seconds=3600, hourly=200, daily=45, weekly=20, monthly=6),
    ],
    ids=["newest-only", "sparse-tiers", "week-within", "long-tiers"],
)
def test_irregular_history_with_gaps_matches_the_independent_computation(policy):
    rnd = random.Random(policy.hourly * 31 + policy.daily)
    names = [n for n in history(120) if rnd.random() < 0.05]  # changes are irregular: hours and days without any
    names += history(2, minutes=7, start=START + dt.timedelta(days=125))  # then a busy stretch after a gap
    decided = retention.plan(names, policy)
    assert set(decided.keep) == expected_keep(names, policy)
    assert set(decided.keep) | set(decided.delete) == set(names)
    assert not set(decided.keep) & set(decided.delete)


def test_newest_and_pinned_survive_a_policy_that_keeps_nothing():
    names = history(30)
    nothing = retention_policy.Retention(within_seconds=0, hourly=0, daily=0, weekly=0, monthly=0)
    pinned = {names[10]: "pending upload", names[500]: "latest.json"}
    decided = retention.plan(names, nothing, pinned)
    assert decided.keep == {names[-1]: ["newest"], names[10]: ["pending upload"], names[500]: ["latest.json"]}
    assert len(decided.delete) == len(names) - 3


def test_pinned_names_that_are_not_there_change_nothing():
    names = history(3)
    assert retention.plan(names, DEFAULT, {"2020-01-01T000000Z.tar.gz": "pending upload"}).keep == (
        retention.plan(names, DEFAULT).keep
    )


def test_encrypted_and_plain_share_the_timeline_safety_copies_are_their_own_series():
    plain = history(3, minutes=60)
    encrypted = history(1, minutes=60, start=START + dt.timedelta(days=3), suffix=".tar.gz.gpg")
    safety = [
        "2025-03-01T013000Z-pre-restore.tar.gz",
        "2025-03-02T053000Z-pre-restore.tar.gz",
        "2025-03-02T063000Z-pre-restore.tar.gz.gpg",
    ]
    names = plain + encrypted + safety
    policy = retention_policy.Retention(within_seconds=0, hourly=0, daily=1, weekly=0, monthly=0)
    decided = retention.plan(names, policy)
    timeline = plain + encrypted
    assert {n for n in decided.keep if n in timeline} == expected_keep(timeline, policy) == {timeline[-1]}
    # the safety series: its own newest (also the newest of its day) is kept; a restore displaced no regular archive
    assert {n for n in decided.keep if n in safety} == {safety[-1]}
    assert decided.keep[safety[-1]] == ["newest", "daily"]


def test_impossible_dates_are_kept_and_other_names_ignored():
    names = history(2) + ["2025-13-40T000000Z.tar.gz", "latest.tar.gz", "latest.json", "notes.txt"]
    decided = retention.plan(
        names, retention_policy.Retention(within_seconds=0, hourly=0, daily=0, weekly=0, monthly=0)
    )
    assert decided.keep["2025-13-40T000000Z.tar.gz"] == ["unreadable date"]
    assert not {"latest.tar.gz", "latest.json", "notes.txt"} & (set(decided.keep) | set(decided.delete))


def test_plan_of_nothing():
    assert retention.plan([], DEFAULT) == retention.Plan()


# -- configuration ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("24h", 86400),
        ("7d", 7 * 86400),
        ("90m", 5400),
        ("2w", 14 * 86400),
        ("1d12h", 129600),
        ("0", 0),
        (" 36H ", 129600),
    ],
)
def test_durations(text, seconds):
    assert retention_policy.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5", "24 h", "1y", "-1h", "h", "1.5h", "24hours"])
def test_bad_duration_one_line(text):
    with pytest.raises(ConfigError) as exc:
        retention_policy.parse_policy({"CHECKNINER_KEEP_WITHIN": text})
    assert str(exc.value).startswith("CHECKNINER_KEEP_WITHIN must be a duration like 24h, 7d, 90m")
    assert "\n" not in str(exc.value)


def test_retention_defaults_and_overrides():
    assert retention_policy.parse_policy({}) == retention_policy.Retention(86400, 48, 30, 12, 24)
    assert retention_policy.parse_policy({}).as_dict() == {
        "within": "24h",
        "hourly": 48,
        "daily": 30,
        "weekly": 12,
        "monthly": 24,
    }
    env = {"CHECKNINER_KEEP_WITHIN": "3d", "CHECKNINER_KEEP_HOURLY": "0", "CHECKNINER_KEEP_MONTHLY": "120"}
    assert retention_policy.parse_policy(env) == retention_policy.Retention(3 * 86400, 0, 30, 12, 120)


@pytest.mark.parametrize("var", ["CHECKNINER_KEEP_HOURLY", "CHECKNINER_KEEP_DAILY", "CHECKNINER_KEEP_WEEKLY"])
@pytest.mark.parametrize("value", ["-1", "ten", "1.5"])
def test_bad_count_one_line(var, value):
    with pytest.raises(ConfigError, match=rf"^{var} must be a whole number of \w+ archives to keep"):
        retention_policy.parse_policy({var: value})


def test_a_bad_retention_variable_does_not_stop_backups():
    """load() ignores CHECKNINER_KEEP_*: only prune refuses them."""
    cfg = config.load({"CHECKNINER_KEEP_DAILY": "many", "CHECKNINER_BACKUP_DIR": "/x"}, require_database=False)
    with pytest.raises(ConfigError, match="CHECKNINER_KEEP_DAILY"):
        retention.prune(cfg)


# -- prune on a local directory ---------------------------------------------------------------------------------


def make_dir(path, names, pending=(), latest=None, archives_state=True):
    path.mkdir(parents=True, exist_ok=True)
    for name in names:
        (path / name).write_bytes(b"x")
    for name in pending:
        box = path / "outbox" / "gone-destination"
        box.mkdir(parents=True, exist_ok=True)
        (box / name).write_text("{}")
    if latest:
        os.symlink(latest, path / "latest.tar.gz")
    state = {"last": {"name": latest}} if latest else {}
    if archives_state:
        state["archives"] = {n: {"sha256": "0" * 64, "size": 1} for n in names}
    (path / "state.json").write_text(json.dumps(state))
    return path


def local_config(path, **env):
    return config.load({"CHECKNINER_BACKUP_DIR": str(path), **env}, require_database=False)


def on_disk(path):
    return sorted(n for n in os.listdir(path) if n.endswith(".tar.gz") and n != "latest.tar.gz")


def test_prune_local_dry_run_deletes_nothing_then_prune_keeps_exactly_the_expected_set(tmp_path):
    names = history(9)
    pending = [names[5]]  # old, waiting in the outbox of a destination no longer configured: still pinned
    latest = names[-20]  # the link names an older archive than the newest (a hand-made one came later)
    path = make_dir(tmp_path / "b", names, pending=pending, latest=latest)
    cfg = local_config(path, CHECKNINER_KEEP_WITHIN="2h", CHECKNINER_KEEP_HOURLY="5", CHECKNINER_KEEP_DAILY="3")
    expected = expected_keep(names, retention_policy.parse_policy(cfg.keep), pinned=pending + [latest])
    state_before = (path / "state.json").read_text()

    dry = retention.prune(cfg, dry_run=True).as_dict()
    assert on_disk(path) == names
    assert (path / "state.json").read_text() == state_before
    (loc,) = dry["locations"]
    assert (loc["location"], loc["archives"], loc["kept"], loc["deleted"]) == ("local", len(names), len(expected), 0)
    assert loc["delete"] == sorted(set(names) - expected)
    assert loc["keep"][names[5]] == ["pending upload"]
    assert "latest.tar.gz" in loc["keep"][latest]
    line = retention.summary(loc)
    assert f"would delete {len(names) - len(expected)}: {names[0]} " in line and line.endswith(loc["delete"][-1])

    real = retention.prune(cfg).as_dict()
    assert real["ok"] and real["deleted"] == len(names) - len(expected) == real["locations"][0]["deleted"]
    assert real["locations"][0]["delete"] == loc["delete"]  # the dry run said exactly what went
    assert set(on_disk(path)) == expected
    assert set(json.loads((path / "state.json").read_text())["archives"]) == expected
    assert os.path.exists(path / "latest.tar.gz")
    assert retention.prune(cfg).deleted == 0  # a second run finds nothing more to delete


def test_prune_waits_for_the_run_lock_then_reports_busy_and_deletes_nothing(tmp_path):
    names = history(3)
    path = make_dir(tmp_path / "b", names)
    with run_lock(str(path)):
        result = retention.prune(local_config(path, CHECKNINER_KEEP_DAILY="1"), lock_wait=0).as_dict()
    assert result["busy"] and result["deleted"] == 0 and not result["locations"]
    assert on_disk(path) == names


def test_prune_without_a_directory_or_destination_is_bad_configuration(tmp_path):
    with pytest.raises(ConfigError, match="nothing to prune: set CHECKNINER_BACKUP_DIR"):
        retention.prune(config.load({}, require_database=False))
    empty = retention.prune(local_config(tmp_path / "missing")).as_dict()
    assert empty["ok"] and empty["locations"][0]["archives"] == 0
    assert not (tmp_path / "missing").exists()  # prune creates nothing


def test_names_from_the_future_are_kept_and_shield_nothing():
    """A name planted years ahead (or written by a clock gone wrong) is kept and reported, but the policy runs from
    the newest real archive: were it 'newest', keep_within would count back from it and keep nothing real, and it
    would take the newest slot of its series; a name within the tolerance (an hour) is an ordinary archive."""
    names = history(3, minutes=60)
    now = archive_time(names[-1]) + dt.timedelta(minutes=5)
    planted = ["2999-01-01T000000Z.tar.gz", (now + dt.timedelta(hours=2)).strftime(STAMP) + ".tar.gz"]
    near = (now + dt.timedelta(minutes=50)).strftime(STAMP) + ".tar.gz"
    policy = retention_policy.Retention(within_seconds=6 * 3600, hourly=0, daily=0, weekly=0, monthly=0)
    decided = retention.plan(names + planted + [near], policy, now=now)
    assert {n: decided.keep[n] for n in planted} == {n: ["future"] for n in planted}
    assert decided.keep[near] == ["newest", "within"]
    assert {n for n in decided.keep if n in names} == {n for n in names if archive_time(n) >= archive_time(near)
                                                       - dt.timedelta(hours=6)}  # fmt: skip
    assert retention.plan(names + planted, policy, {planted[0]: "latest.json"}, now=now).keep[planted[0]] == [
        "latest.json",
        "future",
    ]


def archive_time(name):
    return dt.datetime.strptime(name[:18], STAMP).replace(tzinfo=UTC)


def test_an_impossible_hour_on_the_newest_archive_turns_the_window_off_not_the_run():
    policy = retention_policy.parse_policy({"CHECKNINER_KEEP_WITHIN": "1h", "CHECKNINER_KEEP_HOURLY": "0",
                               "CHECKNINER_KEEP_DAILY": "0", "CHECKNINER_KEEP_WEEKLY": "0",
                               "CHECKNINER_KEEP_MONTHLY": "0"})  # fmt: skip
    names = ["2026-11-01T100000Z.tar.gz", "2026-11-01T256099Z.tar.gz"]
    decided = retention.plan(names, policy)
    assert "newest" in decided.keep["2026-11-01T256099Z.tar.gz"]
    assert decided.delete == ["2026-11-01T100000Z.tar.gz"]
